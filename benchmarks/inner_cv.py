"""Test r and time of the two inner cross-validations (``encoding.inner_cv``) on planted TRFs.

600 s at 100 Hz, a 768-dimensional feature (20 smooth latents plus noise, reduced in-fold to
50 components like a model layer), 60 electrodes driven by the latents through a 0.4 s kernel
with r from about 0.05 to 0.45, plus autocorrelated noise. Prints, per seed, the mean test r
and wall time of ``kfold`` and ``holdout`` and the per-electrode difference::

    python benchmarks/inner_cv.py            # 3 seeds, about 30 s on 2 cores
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.signal import lfilter


def planted(seed: int, n: int = 60000, width: int = 768, n_targets: int = 60):
    """Features and electrodes driven by their latents at graded SNR."""
    rng = np.random.default_rng(seed)
    latent = lfilter([1], [1, -0.9], rng.standard_normal((n, 20)), axis=0)
    X = latent @ rng.standard_normal((20, width)) + 3 * rng.standard_normal((n, width))
    drive = lfilter(np.exp(-np.arange(41) / 8.0), [1],
                    latent @ rng.standard_normal((20, n_targets)), axis=0)
    drive /= drive.std(0)
    noise = lfilter([1], [1, -0.7], rng.standard_normal((n, n_targets)), axis=0) / 1.4
    Y = drive * np.linspace(0.05, 0.5, n_targets) + noise
    return X.astype(np.float32), Y.astype(np.float32)


def main() -> None:
    from bids_app.encoding import Backend, EncodingConfig, cross_validate
    from bids_app.resources import keep_freed_memory

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    keep_freed_memory()
    for seed in range(args.seeds):
        X, Y = planted(seed)
        out = {}
        for inner in ("kfold", "holdout"):
            start = time.perf_counter()
            result = cross_validate(X, Y, lags=np.arange(41), engine=Backend(n_jobs=2),
                                    config=EncodingConfig(inner_cv=inner))
            out[inner] = time.perf_counter() - start, result.r
        diff = out["holdout"][1] - out["kfold"][1]
        print(f"seed {seed}: kfold {out['kfold'][0]:.1f} s, mean r {out['kfold'][1].mean():.4f}"
              f" | holdout {out['holdout'][0]:.1f} s, mean r {out['holdout'][1].mean():.4f}"
              f" | holdout - kfold per electrode: mean {diff.mean():+.4f}, "
              f"range {diff.min():+.4f} to {diff.max():+.4f}")


if __name__ == "__main__":
    main()
