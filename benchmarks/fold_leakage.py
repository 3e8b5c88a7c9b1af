"""Three possible leaks of the nested CV, measured (issue 23, item 10).

1. **The in-fold PCA sees the inner validation fold.** A layer's PCA is fitted on each outer
   training set, which includes the fold on which the inner CV chooses alpha. Refitting the
   PCA without that fold (so that the alpha choice never sees it) is compared with the
   default on planted TRFs: the share of identical alphas, their spread and the test r.
2. **So does the in-fold CCA.** The shared space (the comparisons' ``shared`` set) is fitted
   on each outer training set's words. On the validation's planted recording (600 s, a
   word latent both models carry), the encoding of the ``shared`` set (the canonical variates
   as impulses at the word onsets) with the default fit is compared with a fit that leaves
   out the inner holdout's words, on every electrode. (The CCA is partial to the word
   covariates L holds, durations and token counts, with the default PCA variance, component
   cap and held-out selection, as in the workflow; its speech side is the words' mean
   frames, where the workflow's default fits the speech PCA on the frames.)
3. **The layer PCA fitted on the whole recording** (issue 25): on every modelled sample of
   the layer, the outer test fold's stimulus features included (never neural data), so that
   every fold shares one design. Compared with the in-fold PCA on the planted TRFs, on the
   same features with noise electrodes (AR(1) 0.95), and on features whose mixing drifts
   over the recording (so that the test fold's principal directions differ from the
   training set's).
4. **No gap at fold edges.** A test fold's first samples follow the training set's last ones
   (the lag window reaches across; the neural data are autocorrelated). On features unrelated
   to strongly autocorrelated data (AR(1) 0.95 at 100 Hz), a leak would show as a positive
   mean test r.

::

    python benchmarks/fold_leakage.py          # about 1 min on 2 cores
"""

from __future__ import annotations

import numpy as np
from inner_cv import planted
from scipy.signal import lfilter


def pca_without_validation_fold() -> None:
    from bids_app.encoding import Backend, EncodingConfig, cross_validate
    from bids_app.encoding.cv import cross_validate_folds
    from bids_app.encoding.folds import outer_folds, segment_pieces
    from bids_app.encoding.reduce import fit_pca

    config, lags = EncodingConfig(), np.arange(41)
    for seed in range(3):
        X, Y = planted(seed)
        folds = outer_folds(segment_pieces(None, len(X)), config.n_folds)

        def design(k: int, X: np.ndarray = X, folds: list = folds) -> list[np.ndarray]:
            others = [j for j in range(len(folds)) if j != k]
            fitting = [p for j in others[:-1] for p in folds[j]]  # not the inner holdout
            return [fit_pca(X, fitting, config.layer_pca).transform(X)]

        default = cross_validate(X, Y, lags=lags, config=config, engine=Backend(n_jobs=2))
        strict = cross_validate_folds(design, Y, lags=lags, config=config, engine=Backend(n_jobs=2))
        steps = np.abs(np.log10(strict.alphas / default.alphas)) / np.log10(
            config.alphas[1] / config.alphas[0])
        print(f"seed {seed}: same alpha in {np.mean(steps < 0.5):.0%} of (fold, electrode), "
              f"at most {steps.max():.0f} grid step(s) apart; mean test r {default.r.mean():.4f}"
              f" (PCA with the validation fold) vs {strict.r.mean():.4f} (without)")


def cca_without_validation_fold() -> None:
    from bids_app.analysis import ComparisonConfig
    from bids_app.analysis.cca import fit_shared_space
    from bids_app.encoding import Backend, EncodingConfig
    from bids_app.encoding.cv import cross_validate_folds
    from bids_app.encoding.folds import outer_folds, segment_pieces
    from bids_app.synthetic.partition import planted_comparison

    config, options, lags = EncodingConfig(), ComparisonConfig(), np.arange(41)
    for seed in range(3):
        rec = planted_comparison(600.0, seed=seed)
        frames, impulses = rec.designs[("wav2vec2", "layer07")], rec.designs[("gpt2", "layer06")]
        onsets, offsets = rec.words.onsets, rec.words.offsets
        speech = np.stack([frames[a:b].mean(0) for a, b in zip(onsets, offsets, strict=True)])
        language = impulses[onsets]
        covariates = np.c_[offsets - onsets, rec.designs[("gpt2", "tokens")][onsets, 0]]
        folds = outer_folds(segment_pieces(rec.segments, len(frames)), config.n_folds)
        word_fold = np.full(len(onsets), -1)
        for j, fold in enumerate(folds):
            for piece in fold:
                word_fold[(onsets >= piece.start) & (onsets < piece.stop)] = j
        kept = []

        def design(k: int, strict: bool, folds: list = folds, word_fold: np.ndarray = word_fold,
                   speech: np.ndarray = speech, language: np.ndarray = language,
                   onsets: np.ndarray = onsets, n: int = len(frames),
                   covariates: np.ndarray = covariates, kept: list = kept) -> list[np.ndarray]:
            others = [j for j in range(len(folds)) if j != k]
            fitting = np.isin(word_fold, others[:-1] if strict else others)
            space = fit_shared_space(speech[fitting], language[fitting],
                                     variance=options.pca_variance,
                                     n_components=options.n_components,
                                     significant_only=options.significant_only,
                                     min_components=config.layer_pca or 1,
                                     covariates=covariates[fitting])
            kept.append(space.n_kept)
            u, v = space.variates(speech, language, covariates)
            shared = np.zeros((n, u.shape[1] + v.shape[1]), dtype=np.float32)
            shared[onsets] = np.c_[u, v]
            return [shared]

        default, strict = (cross_validate_folds(lambda k, s=s: design(k, s), rec.Y, lags=lags,
                                                segments=rec.segments, config=config,
                                                word_rows={0: onsets}, engine=Backend(n_jobs=2))
                           for s in (False, True))
        steps = np.abs(np.log10(strict.alphas / default.alphas)) / np.log10(
            config.alphas[1] / config.alphas[0])
        driven = np.char.startswith(np.asarray(rec.classes), "shared")
        print(f"seed {seed}: components kept per fold {kept[:5]} (default) / {kept[5:]} "
              f"(without the holdout); same alpha in {np.mean(steps < 0.5):.0%} of (fold, "
              f"electrode) ({np.mean(steps[:, driven] < 0.5):.0%} on the shared classes), at "
              f"most {steps[:, driven].max():.0f} grid step(s) apart there; mean test r of the "
              f"shared classes {default.r[driven].mean():.4f} vs {strict.r[driven].mean():.4f}, "
              f"of the others {default.r[~driven].mean():.4f} vs {strict.r[~driven].mean():.4f}")


def pca_on_the_whole_recording() -> None:
    from bids_app.encoding import Backend, EncodingConfig, cross_validate
    from bids_app.encoding.folds import segment_pieces
    from bids_app.encoding.reduce import fit_pca

    config, lags = EncodingConfig(), np.arange(41)
    for seed in range(3):
        for drift in (False, True):
            X, Y = planted(seed)
            rng = np.random.default_rng(seed + 10)
            if drift:  # the second half's features mix the latents differently
                half = len(X) // 2
                X[half:] = X[half:] @ np.linalg.qr(rng.standard_normal((768, 768)))[0].astype(
                    np.float32) * 0.5 + X[half:] * 0.5
            noise = lfilter([1], [1, -0.95], rng.standard_normal((len(X), 60)), axis=0)
            Y = np.c_[Y, noise.astype(np.float32)]
            whole = fit_pca(X, segment_pieces(None, len(X)), config.layer_pca).transform(X)
            in_fold = cross_validate(X, Y, lags=lags, config=config, engine=Backend(n_jobs=2))
            recording = cross_validate(whole, Y, lags=lags, config=config, engine=Backend(n_jobs=2))
            diff = recording.r - in_fold.r
            print(f"seed {seed}{', drifting features' if drift else ''}: planted mean test r "
                  f"{in_fold.r[:60].mean():.4f} (in-fold PCA) vs {recording.r[:60].mean():.4f} "
                  f"(whole recording), per electrode {diff[:60].min():+.4f} to "
                  f"{diff[:60].max():+.4f}; noise electrodes {in_fold.r[60:].mean():+.4f} vs "
                  f"{recording.r[60:].mean():+.4f}", flush=True)


def edge_leak() -> None:
    from bids_app.encoding import Backend, EncodingConfig, cross_validate

    rng = np.random.default_rng(0)
    n, n_targets = 60000, 200
    X = lfilter([1], [1, -0.9], rng.standard_normal((n, 768)), axis=0).astype(np.float32)
    Y = lfilter([1], [1, -0.95], rng.standard_normal((n, n_targets)), axis=0).astype(np.float32)
    result = cross_validate(X, Y, lags=np.arange(41), config=EncodingConfig(),
                            engine=Backend(n_jobs=2))
    se = result.r.std(ddof=1) / np.sqrt(n_targets)
    print(f"unrelated features, AR(1) 0.95 data: mean test r {result.r.mean():+.4f} "
          f"(SE {se:.4f}, {n_targets} electrodes)")


if __name__ == "__main__":
    pca_without_validation_fold()
    cca_without_validation_fold()
    pca_on_the_whole_recording()
    edge_leak()
