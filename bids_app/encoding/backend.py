"""A tiny array backend (numpy or torch) so that one solver runs on CPU and GPU.

:class:`Backend` is the engine's one typed setting of where and how it computes: the array
library, the device and the threads (``--device``, ``--nprocs``).

The solvers use only operators common to numpy arrays and torch tensors (``@``, ``+``, ``*``,
``.T``, indexing, ``.sum``); everything else goes through a :class:`Backend` method.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from bids_app.errors import UsageError


@dataclass(frozen=True)
class Backend:
    """Array operations of one library on one device, with a bound on their threads.

    Parameters
    ----------
    name : str
        ``"numpy"`` or ``"torch"``.
    device : str
        ``"cpu"`` or a torch device such as ``"cuda"``; numpy only runs on ``"cpu"``.
    n_jobs : int
        BLAS and torch threads inside :meth:`threads` (-1: leave the libraries' own setting,
        e.g. when the caller already bounds them).
    """

    name: str = "numpy"
    device: str = "cpu"
    n_jobs: int = 1

    def __post_init__(self) -> None:
        if self.name not in ("numpy", "torch"):
            raise UsageError(f"encoding backend must be 'numpy' or 'torch', got {self.name!r}")
        if self.name == "numpy" and self.device != "cpu":
            raise UsageError(f"the numpy backend runs on the CPU only, got device {self.device!r}")

    def dtype(self, name: str) -> Any:
        """The backend's dtype called ``name`` ("float32" or "float64")."""
        if self.name == "torch":
            import torch

            return getattr(torch, name)
        return np.dtype(name)

    def asarray(self, x: Any, dtype: str) -> Any:
        """Copy or view ``x`` as a backend array of ``dtype`` on the device."""
        if self.name == "torch":
            import torch

            if isinstance(x, torch.Tensor):
                return x.to(device=self.device, dtype=self.dtype(dtype))
            return torch.as_tensor(np.asarray(x), dtype=self.dtype(dtype), device=self.device)
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        """Bring a backend array back as a numpy array."""
        if self.name == "torch":
            return x.detach().cpu().numpy()
        return np.asarray(x)

    def zeros(self, shape: tuple[int, ...], dtype: str) -> Any:
        """A zero array on the device."""
        if self.name == "torch":
            import torch

            return torch.zeros(shape, dtype=self.dtype(dtype), device=self.device)
        return np.zeros(shape, dtype=dtype)

    def diag(self, x: Any) -> Any:
        """The diagonal of a square matrix."""
        if self.name == "torch":
            return x.diagonal().clone()
        return np.diag(x).copy()

    def add_to_diag(self, x: Any, value: float) -> Any:
        """Add ``value`` to the diagonal of ``x`` in place and return ``x``."""
        if self.name == "torch":
            x.diagonal().add_(value)
        else:
            x[np.diag_indices_from(x)] += value
        return x

    def index(self, indices: np.ndarray) -> Any:
        """An integer index array usable on this backend's arrays."""
        if self.name == "torch":
            import torch

            return torch.as_tensor(indices, dtype=torch.long, device=self.device)
        return indices

    def sqrt(self, x: Any) -> Any:
        """Element-wise square root."""
        return x.sqrt() if self.name == "torch" else np.sqrt(x)

    def argmin0(self, x: Any) -> np.ndarray:
        """Index of the minimum along axis 0, as a numpy array."""
        return self.to_numpy(x.argmin(0)).astype(int)

    def eigh(self, x: Any) -> tuple[Any, Any]:
        """Eigenvalues (ascending) and eigenvectors of a symmetric matrix; ``x`` is consumed.

        numpy uses LAPACK's divide-and-conquer driver (``syevd``), which is 2–3× faster than
        ``numpy.linalg.eigh`` on this machine for p ≈ 4,000.
        """
        if self.name == "torch":
            import torch

            return torch.linalg.eigh(x)
        import scipy.linalg

        return scipy.linalg.eigh(x, driver="evd", overwrite_a=True, check_finite=False)

    def solve_spd(self, a: Any, b: Any, alpha: float) -> Any:
        """Solve ``(a + alpha I) w = b`` by Cholesky; ``a`` is not modified.

        With a rank-deficient ``a`` and a small ``alpha`` in float32, rounding can make the
        matrix numerically indefinite and Cholesky fail. The solve then goes through ``eigh``
        and drops the numerically null directions (eigenvalues below ``p · eps · max``), like a
        pseudo-inverse: the minimum-norm ridge solution.
        """
        if self.name == "torch":
            import torch

            factor, info = torch.linalg.cholesky_ex(self.add_to_diag(a.clone(), alpha))
            if int(info) == 0:
                return torch.cholesky_solve(b, factor)
        else:
            import scipy.linalg

            try:
                factor = scipy.linalg.cho_factor(self.add_to_diag(a.copy(), alpha),
                                                 check_finite=False)
                return scipy.linalg.cho_solve(factor, b, check_finite=False)
            except np.linalg.LinAlgError:
                pass
        eigvals, eigvecs = self.eigh(a.clone() if self.name == "torch" else a.copy())
        eps = float(np.finfo(self.to_numpy(eigvals).dtype).eps)
        tolerance = float(eigvals.max()) * eigvals.shape[0] * eps
        keep = eigvecs[:, eigvals > tolerance]
        return keep @ ((keep.T @ b) / (eigvals[eigvals > tolerance] + alpha)[:, None])

    @contextmanager
    def threads(self):
        """Limit BLAS (and torch) threads to ``n_jobs`` inside the block (-1: leave as is)."""
        n_jobs = self.n_jobs
        if n_jobs is None or n_jobs < 1:
            yield
            return
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=n_jobs):
            if self.name != "torch":
                yield
                return
            import torch

            previous = torch.get_num_threads()
            torch.set_num_threads(n_jobs)
            try:
                yield
            finally:
                torch.set_num_threads(previous)
