"""What the default design reduction costs in cross-validated r, on planted ground truth.

A medium size where the unreduced model still fits (default 300 s at 100 Hz, 96-dim layers,
41 lags: 3,936 lagged columns). Two layers, like a speech-model layer and a language-model
layer:

- ``frame``: smooth frame-level features (50 Hz-smooth mixtures of 8 latents plus noise);
- ``word``: one impulse per word (2.5 words/s) carrying word vectors (8 latents plus noise).

Electrode classes (12 each), driven through a Gaussian TRF by latent 0 of the layer, at an SNR
that puts r near 0.3–0.5: ``broad`` (TRF peak 150 ms, sd 40 ms), ``sharp`` (peak 100 ms, sd
10 ms: the hardest case for a smooth lag basis), ``mixed`` (latents 0–3 at different lags), and
``noise``. Each electrode class is fitted with four designs, all with the same folds and
alphas: unreduced (``layer_pca: null, lag_basis: null``), PCA only (50), lag basis only (9),
and the default (both). Prints mean r per class and the difference from unreduced::

    python benchmarks/reduction.py --seconds 300 --width 96
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from bids_app.encoding import Backend, EncodingConfig, cross_validate

DESIGNS = {"unreduced": dict(layer_pca=None, lag_basis=None),
           "pca 50": dict(layer_pca=50, lag_basis=None),
           "basis 9": dict(layer_pca=None, lag_basis=9),
           "default (pca 50 + basis 9)": dict(layer_pca=50, lag_basis=9)}
N_PER_CLASS = 12


def _kernel(peak: float, sd: float) -> np.ndarray:
    lags = np.arange(41) / 100
    kernel = np.exp(-0.5 * ((lags - peak) / sd) ** 2)
    return kernel / np.linalg.norm(kernel)


def planted(seconds: float, kind: str, rng: np.random.Generator, width: int = 96
            ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A layer of ``width`` features, and electrodes of each class driven by its latents."""
    n = int(seconds * 100)
    if kind == "frame":
        latent = rng.standard_normal((n, 8))
        smooth = np.hanning(5) / np.hanning(5).sum()  # 50 Hz-like smoothness
        latent = np.stack([np.convolve(c, smooth, mode="same") for c in latent.T], 1)
        latent /= latent.std(0)
        X = latent @ rng.standard_normal((8, width)) + 0.5 * rng.standard_normal((n, width))
    else:
        onsets = np.sort(rng.choice(n, size=int(seconds * 2.5), replace=False))
        values = rng.standard_normal((len(onsets), 8))
        latent = np.zeros((n, 8))
        latent[onsets] = values
        X = np.zeros((n, width))
        X[onsets] = values @ rng.standard_normal((8, width)) + 0.5 * rng.standard_normal(
            (len(onsets), width))
    columns, labels = [], []
    for cls in ("broad", "sharp", "mixed", "noise"):
        for _ in range(N_PER_CLASS):
            if cls == "noise":
                drive = np.zeros(n)
            elif cls == "mixed":
                drive = sum(np.convolve(latent[:, i], _kernel(0.05 + 0.08 * i, 0.03))[:n]
                            for i in range(4))
            else:
                peak, sd = (0.15, 0.04) if cls == "broad" else (0.10, 0.01)
                drive = np.convolve(latent[:, 0], _kernel(peak, sd))[:n]
            noise = rng.standard_normal(n)
            noise = np.convolve(noise, np.hanning(7) / np.hanning(7).sum(), mode="same")
            scale = 1.0 if cls == "noise" else 1.5 * drive.std() / noise.std()
            columns.append(drive + scale * noise)
            labels.append(cls)
    return X.astype(np.float32), np.stack(columns, 1).astype(np.float32), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for kind in ("frame", "word"):
        X, Y, labels = planted(args.seconds, kind, np.random.default_rng(0), args.width)
        for name, settings in DESIGNS.items():
            start = time.perf_counter()
            result = cross_validate(X, Y, lags=np.arange(41), config=EncodingConfig(**settings),
                                    engine=Backend(n_jobs=args.threads))
            seconds = time.perf_counter() - start
            for cls in ("broad", "sharp", "mixed", "noise"):
                mask = np.array(labels) == cls
                rows.append({"layer": kind, "design": name, "class": cls,
                             "mean_r": float(np.mean(result.r[mask])), "fit_s": seconds})
            print(f"{kind:5s} {name:28s} {seconds:7.1f} s", flush=True)
    table = pd.DataFrame(rows)
    wide = table.pivot_table(index=["layer", "class"], columns="design", values="mean_r",
                             sort=False)
    for name in DESIGNS:
        if name != "unreduced":
            wide[f"Δ {name}"] = wide[name] - wide["unreduced"]
    print(f"\nmean cross-validated r per electrode class ({args.seconds:.0f} s, width "
          f"{args.width}, {N_PER_CLASS} electrodes per class)")
    print(wide.to_string(float_format=lambda v: f"{v:+.3f}"))
    times = table.groupby(["layer", "design"], sort=False)["fit_s"].first().unstack()
    print("\nfit time (s)\n" + times.to_string(float_format=lambda v: f"{v:.1f}"))


if __name__ == "__main__":
    main()
