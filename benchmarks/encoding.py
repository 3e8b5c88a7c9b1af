"""Benchmark the encoding engine against himalaya and scikit-learn on one synthetic problem.

Not a timed test: it prints, from one run in one process, wall time, peak memory (resident set
growth, sampled every 20 ms), ratios and the largest |Δr| between methods, plus a floor: one
``ZᵀZ`` of the lagged design and one ``eigh`` per outer fold. All methods use the same outer
folds (5 contiguous blocks), the same 20 alphas, in-fold standardisation and one alpha per
target:

- engine (numpy, torch-CPU): blocked inner CV over the other outer folds;
- himalaya ``RidgeCV`` (numpy, torch): inner ``KFold(4)`` without shuffling on the training set,
  which is the same inner split;
- scikit-learn ``RidgeCV(alpha_per_target=True)``: efficient leave-one-out (GCV), its only
  per-target mode, so its alphas (and r) legitimately differ.

Usage::

    python benchmarks/encoding.py --quick     # < 1 min: T = 5,000, p = 96 × 5, 40 targets
    python benchmarks/encoding.py --skip himalaya himalaya-torch sklearn   # full size, engine
    python benchmarks/encoding.py --n-samples 20000 --n-features 256 --n-targets 100  # peers
    python benchmarks/encoding.py --memory-only --n-samples 180000   # engine peak memory

Full size is T = 60,000, p = 768 × 5 lags = 3,840, 200 targets. There himalaya needs about
1e13 flops per inner split (it forms a p × n resolution matrix per alpha; we pass
``n_alphas_batch=2`` to bound its memory) and scikit-learn about 10 GB per fold, so they are
compared at a medium size. Peers run on ``--peer-folds`` outer folds (default 1); their time is
scaled to 5 folds and the table marks it with ``*``.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.signal

from bids_app.encoding import Backend, EncodingConfig, cross_validate

ALPHAS = [float(a) for a in np.logspace(-2, 7, 20)]


class PeakMemory:
    """Peak growth of the resident set size (MB) while the block runs (Linux ``/proc``)."""

    def __enter__(self) -> PeakMemory:
        self._start = self._peak = _rss_mb()
        self._running = True
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while self._running:
            self._peak = max(self._peak, _rss_mb())
            time.sleep(0.02)

    def __exit__(self, *exc) -> None:
        self._running = False
        self._thread.join()
        self._peak = max(self._peak, _rss_mb())
        self.mb = self._peak - self._start


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Run:
    """One method's measurements: r_folds has one row per outer fold it ran."""

    name: str
    seconds: float
    peak_mb: float
    r_folds: np.ndarray
    folds_run: int
    n_folds: int = 5

    @property
    def seconds_all_folds(self) -> float:
        return self.seconds * self.n_folds / self.folds_run


def synthetic(n_samples: int, n_features: int, lags: np.ndarray, n_targets: int, seed: int = 0):
    """Smooth features, a ground-truth TRF on half the targets, noise on all."""
    rng = np.random.default_rng(seed)
    X = scipy.signal.lfilter(np.ones(3) / 3, 1, rng.standard_normal((n_samples, n_features)),
                             axis=0).astype(np.float32)
    weights = rng.standard_normal((len(lags), n_features, n_targets)).astype(np.float32)
    weights[:, :, n_targets // 2:] = 0
    Y = rng.standard_normal((n_samples, n_targets)).astype(np.float32)
    signal = np.zeros_like(Y)
    for i, lag in enumerate(lags):
        signal[lag:] += X[:n_samples - lag] @ weights[i]
    signal /= signal.std(0) + 1e-12
    Y += 0.5 * signal
    return X, Y


def lagged(X: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """The explicit lagged design (what the peers need)."""
    n, p = X.shape
    Z = np.zeros((n, p * len(lags)), dtype=X.dtype)
    for i, lag in enumerate(lags):
        Z[lag:, i * p:(i + 1) * p] = X[:n - lag]
    return Z


def fold_r(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    yc, pc = y - y.mean(0), pred - pred.mean(0)
    return (yc * pc).sum(0) / np.sqrt((yc * yc).sum(0) * (pc * pc).sum(0))


def measure(name: str, fn: Callable[[], tuple[np.ndarray, int]]) -> Run:
    print(f"  running {name} ...", flush=True)
    with PeakMemory() as memory:
        start = time.perf_counter()
        r_folds, folds_run = fn()
        seconds = time.perf_counter() - start
    run = Run(name, seconds, memory.mb, np.asarray(r_folds), folds_run)
    print(f"    {seconds:8.1f} s on {folds_run} fold(s), peak +{memory.mb:,.0f} MB", flush=True)
    return run


def engine(X, Y, lags, backend, threads, inner_cv="kfold"):
    def fn():
        # the unreduced design, so that every peer fits the same model
        config = EncodingConfig(alphas=ALPHAS, inner_cv=inner_cv, layer_pca=None,
                                lag_basis=None)
        result = cross_validate(X, Y, lags=lags, config=config,
                                engine=Backend(backend, n_jobs=threads))
        return result.r_folds, len(result.test_folds)
    return fn


def peer_folds(Z, Y, folds, n_run, fit_predict):
    """Run ``fit_predict(Z_train, Y_train, Z_test)`` on standardised data for ``n_run`` folds."""
    from sklearn.preprocessing import StandardScaler

    r_folds = []
    for test in folds[:n_run]:
        train = np.setdiff1d(np.arange(len(Y)), test)
        scaler = StandardScaler().fit(Z[train])
        pred = fit_predict(scaler.transform(Z[train]).astype(np.float32), Y[train],
                           scaler.transform(Z[test]).astype(np.float32))
        r_folds.append(fold_r(Y[test], np.asarray(pred)))
    return np.array(r_folds), n_run


def himalaya_fit(backend_name):
    def fit_predict(Z_train, Y_train, Z_test):
        from himalaya.backend import set_backend
        from himalaya.ridge import RidgeCV
        from sklearn.model_selection import KFold

        backend = set_backend(backend_name, on_error="raise")
        model = RidgeCV(alphas=np.asarray(ALPHAS), fit_intercept=True, cv=KFold(4),
                        solver_params=dict(score_func=_neg_sse(backend), n_alphas_batch=2))
        model.fit(Z_train, Y_train)
        pred = backend.to_numpy(model.predict(Z_test))
        set_backend("numpy")
        return pred
    return fit_predict


def _neg_sse(backend):
    """Summed squared error (negated), the engine's inner criterion."""
    def score(y_true, y_pred):
        return -((y_true - y_pred) ** 2).sum(-2)
    return score


def sklearn_fit(Z_train, Y_train, Z_test):
    from sklearn.linear_model import RidgeCV

    return RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(Z_train, Y_train).predict(Z_test)


def floor(Z, n_folds=5):
    def fn():
        gram = Z.T @ Z
        for _ in range(n_folds):
            scipy.linalg.eigh(gram.copy(), driver="evd", overwrite_a=True, check_finite=False)
        return np.full((n_folds, 1), np.nan), n_folds
    return fn


def report(runs: list[Run], reference: Run, floor_run: Run | None) -> None:
    print(f"\n{'method':<28}{'time (s)':>12}{'peak MB':>10}{'× engine':>10}{'max |Δr|':>10}")
    for run in runs:
        scaled = "*" if run.folds_run < run.n_folds else " "
        ratio = run.seconds_all_folds / reference.seconds
        k = run.folds_run
        delta = np.nanmax(np.abs(run.r_folds[:k] - reference.r_folds[:k]))
        print(f"{run.name:<28}{run.seconds_all_folds:>11.1f}{scaled}{run.peak_mb:>10,.0f}"
              f"{ratio:>10.2f}{delta:>10.2e}")
    if floor_run is not None:
        print(f"{'floor (ZᵀZ + 5 eigh)':<28}{floor_run.seconds:>11.1f} {floor_run.peak_mb:>10,.0f}"
              f"{floor_run.seconds / reference.seconds:>10.2f}")
        print(f"\nengine / floor = {reference.seconds / floor_run.seconds:.2f}")
    print("* measured on fewer outer folds and scaled to 5 (peak memory is per fold)")
    half = reference.r_folds.shape[1] // 2
    print(f"mean r engine: signal targets {np.nanmean(reference.r_folds[:, :half]):.3f}, "
          f"noise targets {np.nanmean(reference.r_folds[:, half:]):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small size, < 1 min")
    parser.add_argument("--n-samples", type=int, default=60_000)
    parser.add_argument("--n-features", type=int, default=768)
    parser.add_argument("--n-lags", type=int, default=5)
    parser.add_argument("--n-targets", type=int, default=200)
    parser.add_argument("--peer-folds", type=int, default=1,
                        help="outer folds run by himalaya/sklearn, time scaled to 5 (default 1)")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["sklearn", "himalaya", "himalaya-torch", "torch", "floor",
                                 "holdout"])
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/torch threads for every method (default 1: on a shared "
                             "machine, multithreaded LAPACK slows down up to 40×)")
    parser.add_argument("--memory-only", action="store_true",
                        help="run only the numpy engine (peak memory at large T)")
    args = parser.parse_args()
    if args.quick:
        args.n_samples, args.n_features, args.n_targets = 5_000, 96, 40
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        run_all(args)


def run_all(args: argparse.Namespace) -> None:
    """Run every method not skipped and print the table."""
    peer_n = args.peer_folds
    lags = np.arange(args.n_lags)
    X, Y = synthetic(args.n_samples, args.n_features, lags, args.n_targets)
    print(f"T = {args.n_samples:,}, p = {args.n_features} × {args.n_lags} lags = "
          f"{args.n_features * args.n_lags:,}, {args.n_targets} targets, float32, "
          f"{len(ALPHAS)} alphas, 5 outer folds, {args.threads} thread(s) of "
          f"{os.cpu_count()} CPUs")
    reference = measure("engine numpy", engine(X, Y, lags, "numpy", args.threads))
    runs = [reference]
    if args.memory_only:
        report(runs, reference, None)
        return
    if "holdout" not in args.skip:
        runs.append(measure("engine numpy (holdout)",
                            engine(X, Y, lags, "numpy", args.threads, "holdout")))
    if "torch" not in args.skip:
        runs.append(measure("engine torch-cpu", engine(X, Y, lags, "torch", args.threads)))
    Z = lagged(X, lags)
    folds = np.array_split(np.arange(args.n_samples), 5)
    floor_run = None if "floor" in args.skip else measure("floor", floor(Z))
    if "himalaya" not in args.skip:
        runs.append(measure("himalaya RidgeCV numpy",
                            lambda: peer_folds(Z, Y, folds, peer_n, himalaya_fit("numpy"))))
    if "himalaya-torch" not in args.skip:
        runs.append(measure("himalaya RidgeCV torch",
                            lambda: peer_folds(Z, Y, folds, peer_n, himalaya_fit("torch"))))
    if "sklearn" not in args.skip:
        runs.append(measure("sklearn RidgeCV (GCV)",
                            lambda: peer_folds(Z, Y, folds, peer_n, sklearn_fit)))
    report(runs, reference, floor_run)


if __name__ == "__main__":
    main()
