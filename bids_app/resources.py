"""The run's thread bound (``--nprocs``): every thread pool, for the whole run.

Numerical libraries each keep their own pool, sized to the machine by default, which on a
shared HPC node oversubscribes the cores SLURM gave the task. :func:`limit_threads` bounds
them all for the duration of a run:

- the BLAS and OpenMP pools already loaded (numpy's and scipy's OpenBLAS, torch's OpenMP),
  through :func:`threadpoolctl.threadpool_limits`;
- those loaded later and those of child processes, through the ``*_NUM_THREADS`` environment
  variables they read when they start;
- torch's intra-op and inter-op pools (:func:`torch.set_num_threads`,
  :func:`torch.set_num_interop_threads`);
- joblib (MNE's ``n_jobs``), which runs its jobs in threads of this process rather than in
  worker processes (each of which would bring its own pools).

The app's own parallel code (layers fitted at once, scipy ``workers``) takes ``--nprocs`` as
its ``n_jobs``.

:func:`keep_freed_memory` makes the process reuse the memory it frees instead of handing it
back to the system, which costs a page fault per page on the next large array.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger("ssl_ieeg")

#: Environment variables that size a library's thread pool when it starts.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "NUMBA_NUM_THREADS")


#: glibc ``mallopt`` parameters (``malloc.h``) and the values :func:`keep_freed_memory` sets.
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8
_LARGEST_INT = 2**31 - 1


def keep_freed_memory() -> bool:
    """Keep freed heap memory in the process for reuse (glibc only; elsewhere a no-op).

    By default glibc serves every array above 32 MB with its own ``mmap`` and unmaps it when
    freed, so the next array of that size is served by fresh pages: a page fault per 4 kB
    page, which the kernel must also zero. In a virtual machine with free-page reporting the
    host takes the freed pages back, and touching them again costs a host fault: 3 s per GB
    on the 2-core development VM, where this made one encoding layer 24 % faster. Here
    every allocation comes from the heap (``M_MMAP_MAX = 0``), whose freed blocks are reused;
    the heap is trimmed only when 2 GB lie free at its top (``M_TRIM_THRESHOLD``). Threads
    share that one heap (``M_ARENA_MAX = 1``): a thread's own arena grows by at most 64 MB
    and serves anything larger with ``mmap`` whatever ``M_MMAP_MAX``, so without it the
    layers fitted in worker threads kept paying the faults (the 1,800 s participant's
    encoding stage took 159 s without and 131 s with, and peaked 0.4 GB lower). Call it
    before the run's thread pools start. The resident memory stays near its peak until the
    process exits, and freed blocks too small for a later array can raise that peak
    (fragmentation), so check ``benchmarks/participant.py`` after changing what the stages
    allocate.

    Returns
    -------
    applied : bool
        Whether glibc accepted both settings.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # not glibc: nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all([mallopt(_M_TRIM_THRESHOLD, _LARGEST_INT), mallopt(_M_MMAP_MAX, 0),
                mallopt(_M_ARENA_MAX, 1)])


@contextmanager
def limit_threads(n_jobs: int) -> Iterator[None]:
    """Bound every thread pool of the process (and of its children) to ``n_jobs`` threads.

    Parameters
    ----------
    n_jobs : int
        Threads per pool (``--nprocs``), at least 1.

    Notes
    -----
    The environment and torch's intra-op pool are restored afterwards. Torch's inter-op
    pool can be sized only once per process, before its first use; a later call that asks for
    another size leaves it as it is, with a debug message.
    """
    import torch
    from joblib import parallel_config
    from threadpoolctl import threadpool_limits

    saved_env = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    saved_torch = torch.get_num_threads()
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, str(n_jobs)))
    torch.set_num_threads(n_jobs)
    if torch.get_num_interop_threads() != n_jobs:
        try:
            torch.set_num_interop_threads(n_jobs)
        except RuntimeError:  # already sized, or already used, in this process
            logger.debug("torch inter-op threads stay at %d", torch.get_num_interop_threads())
    try:
        with threadpool_limits(limits=n_jobs), parallel_config(backend="threading",
                                                               n_jobs=n_jobs):
            yield
    finally:
        torch.set_num_threads(saved_torch)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
