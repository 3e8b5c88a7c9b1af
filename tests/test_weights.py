"""TRF weights and lag profiles: fold averaging in the original basis, derivatives, figures."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from bids_app.bids.tsv import read_tsv
from bids_app.cli import main
from bids_app.encoding import EncodingConfig, cross_validate
from bids_app.encoding import reduce as reduce_module
from bids_app.encoding.reduce import FoldPCA, ReducedDesign, lag_basis
from bids_app.encoding.result import peak_lags
from bids_app.outputs.trf import read_lag_profiles
from bids_app.report.lags import lag_profile_figure, word_lag_arrays, word_lag_figure

#: The planted-truth run: an envelope space (fixed design) and a mel space reduced by in-fold PCA.
CONFIG = {"features": [{"name": "envelope", "kind": "envelope"},
                       {"name": "mel", "kind": "mel", "options": {"n_mels": 32}}],
          "encoding": {"layer_pca": 8}, "statistics": {"n_permutations": 200}}


def test_sign_flipped_fold_pcas_do_not_cancel():
    """Two folds whose PCA axes differ in sign fit the same model with opposite reduced weights:
    their mean in the reduced basis is zero, in the original basis it is the model."""
    rng = np.random.default_rng(0)
    lags, n_features, n_components, n_targets = np.arange(41), 6, 3, 2
    components = np.linalg.qr(rng.standard_normal((n_features, n_components)))[0]
    pcas = [FoldPCA(np.zeros(n_features), np.full(n_features, 2.0), sign * components)
            for sign in (1, -1)]
    design = ReducedDesign([np.zeros((10, n_features))], [], [[], []], lags, lag_basis(lags, 9),
                           n_components, fitted={k: [(n_features, pca)]
                                                 for k, pca in enumerate(pcas)})
    reduced = rng.standard_normal((9 * n_components, n_targets))
    folds = [design.raw_weights(0, reduced), design.raw_weights(1, -reduced)]
    np.testing.assert_allclose((reduced - reduced) / 2, 0)  # the naive mean cancels
    np.testing.assert_allclose(folds[0], folds[1])
    mean = (folds[0] + folds[1]) / 2
    assert mean.shape == (41, n_features, n_targets)
    assert np.abs(mean).max() > 0.1


def test_fold_average_ignores_the_signs_of_the_fold_pcas(monkeypatch):
    """The whole engine: flipping the PCA axes of every other fold changes neither the scores
    nor the fold-averaged weights."""
    rng = np.random.default_rng(1)
    latent = rng.standard_normal((3000, 2))
    X = (latent @ rng.standard_normal((2, 20)) + 0.3 * rng.standard_normal((3000, 20)))
    drive = np.convolve(latent[:, 0], np.exp(-0.5 * ((np.arange(21) - 12) / 2.0) ** 2))[:3000]
    Y = np.c_[drive + rng.standard_normal(3000), rng.standard_normal(3000)]
    config = EncodingConfig(layer_pca=4, lag_basis=5, n_folds=4, layer_pca_fit="in_fold")
    kwargs = {"lags": np.arange(21), "config": config, "return_weights": True}
    plain = cross_validate(X.astype(np.float32), Y, **kwargs)
    real, calls = reduce_module.fold_pcas, []

    def flipped(*args, **kw):
        calls.append(1)
        return [FoldPCA(p.mean, p.scale, -p.components if k % 2 else p.components)
                for k, p in enumerate(real(*args, **kw))]

    monkeypatch.setattr(reduce_module, "fold_pcas", flipped)
    flip = cross_validate(X.astype(np.float32), Y, **kwargs)
    assert calls, "the in-fold PCAs were not replaced"
    np.testing.assert_allclose(flip.r, plain.r, atol=1e-5)
    np.testing.assert_allclose(flip.weights, plain.weights, rtol=1e-4,
                               atol=1e-4 * np.abs(plain.weights).max())


def test_peak_lags_is_nan_for_a_zero_profile():
    profile = np.zeros((5, 3))
    profile[2, 0], profile[4, 1] = 1.0, 0.5
    np.testing.assert_array_equal(peak_lags(profile, np.arange(5) / 10), [0.2, 0.4, np.nan])


@pytest.fixture(scope="module")
def planted(synthetic, tmp_path_factory):
    """One participant of the synthetic dataset through the command line (TRF mode)."""
    root = tmp_path_factory.mktemp("weights")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    args = [str(synthetic.root), str(root / "out"), "participant", "--participant-label", "01",
            "--config", str(config), "--skip-bids-validation"]
    assert main(args) == 0
    return root / "out", args


def _path(out, synthetic, space: str, suffix: str) -> str:
    return out / "sub-01" / "ieeg" / f"sub-01_task-{synthetic.task}_desc-{space}_{suffix}"


@pytest.mark.slow
@pytest.mark.parametrize("space", ["envelope", "mel"])
def test_peak_lag_recovers_the_planted_peak(planted, synthetic, space):
    """Driven electrodes peak within one lag-basis spacing of the planted kernel's peak."""
    out, _ = planted
    table = read_tsv(_path(out, synthetic, space, "scores.tsv")).set_index("channel")
    truth = synthetic.ground_truth["01"]
    encoding = EncodingConfig(**CONFIG["encoding"])
    spacing = (encoding.tmax - encoding.tmin) / (encoding.lag_basis - 1)
    for channel in truth.driven:
        assert table.loc[channel, "significant"]
        assert abs(table.loc[channel, "peak_lag"] - truth.peak_lag[channel]) <= spacing + 1e-9
    meta = json.loads(_path(out, synthetic, space, "scores.json").read_text())
    assert meta["peak_lag"]["Units"] == "s"


@pytest.mark.slow
def test_lag_profile_and_weights_derivatives(planted, synthetic):
    out, _ = planted
    sfreq = json.loads(_path(out, synthetic, "highgamma", "ieeg.json").read_text()
                       )["SamplingFrequency"]
    encoding = EncodingConfig(**CONFIG["encoding"])
    expected_lags = encoding.lags_samples(sfreq) / sfreq
    table = read_tsv(_path(out, synthetic, "mel", "scores.tsv"))
    profiles = read_lag_profiles(_path(out, synthetic, "mel", "lagprofile.npy"))
    np.testing.assert_allclose(profiles.lags, expected_lags)
    assert profiles.layers == ["mel"] and profiles.channels == table["channel"].tolist()
    assert profiles.profiles.shape == (1, len(expected_lags), len(table))
    assert profiles.profiles.dtype == np.float32
    np.testing.assert_allclose(peak_lags(profiles.layer("mel"), profiles.lags),
                               table["peak_lag"], atol=1e-6)
    meta = json.loads(_path(out, synthetic, "mel", "weights.json").read_text())
    weights = np.load(_path(out, synthetic, "mel", "weights.npy"))
    assert weights.shape == (len(expected_lags), 32, len(table))  # original mel bands
    assert meta["Layer"] == "mel" and meta["Dimensions"] == ["lag", "feature", "channel"]
    np.testing.assert_allclose(meta["Lags"], expected_lags)
    assert meta["LagBasis"]["NumberOfBumps"] == encoding.lag_basis
    np.testing.assert_allclose(meta["LagBasis"]["Centres"],
                               np.linspace(encoding.tmin, encoding.tmax, encoding.lag_basis))
    assert meta["LayerPCA"] == 8


@pytest.mark.slow
def test_resumed_run_reads_the_weights_from_the_stage_cache(planted, synthetic, monkeypatch):
    """With the scores gone, a rerun refits nothing and writes the same weights."""
    from bids_app.steps import encoding

    out, args = planted
    before = np.load(_path(out, synthetic, "mel", "weights.npy"))
    for path in (out / "sub-01" / "ieeg").glob("*_scores.*"):
        path.unlink()

    def refit(*_):
        raise AssertionError("an encoding layer was refitted")

    monkeypatch.setattr(encoding.LayerEncoder, "_fit", refit)
    assert main(args) == 0
    np.testing.assert_array_equal(np.load(_path(out, synthetic, "mel", "weights.npy")), before)
    assert "peak_lag" in read_tsv(_path(out, synthetic, "mel", "scores.tsv"))


def _pixels(figure) -> tuple[int, int]:
    return Image.open(io.BytesIO(base64.b64decode(figure.uri.split(",", 1)[1]))).size


def test_lag_profile_figure_is_readable_at_300_electrodes():
    rng = np.random.default_rng(2)
    lags = np.arange(41) / 100
    peaks = rng.uniform(0.05, 0.35, 300)
    profiles = np.exp(-0.5 * ((lags[:, None] - peaks) / 0.04) ** 2)
    channels = [f"E{i:03d}" for i in range(300)]
    figure = lag_profile_figure(profiles, lags, channels, np.ones(300, bool), "wav2vec2 layer6")
    width, height = _pixels(figure)
    assert 400 <= width <= 900 and 300 <= height <= 900
    few = lag_profile_figure(profiles[:, :5], lags, channels[:5], np.ones(5, bool), "few")
    assert _pixels(few)[1] < height
    none = lag_profile_figure(profiles, lags, channels, np.zeros(300, bool), "none")
    assert none.uri.startswith("data:image/png;base64,")


def test_word_lag_figure_counts_significant_channels_per_lag():
    lags = np.round(np.arange(-0.2, 0.41, 0.1), 6)
    channels = [f"E{i:03d}" for i in range(300)]
    table = pd.DataFrame({"channel": np.tile(channels, len(lags)), "layer": "layer01",
                          "lag": np.repeat(lags, 300), "r": 0.0, "significant": False})
    table.loc[(table["lag"] == 0.2) & table["channel"].isin(channels[:10]),
              ["r", "significant"]] = [0.3, True]
    r, significant, lag_axis, names = word_lag_arrays(table, "layer01")
    assert r.shape == significant.shape == (len(lags), 300) and names == channels
    np.testing.assert_allclose(lag_axis, lags)
    assert significant.sum(1).tolist() == [0, 0, 0, 0, 10, 0, 0]
    width, height = _pixels(word_lag_figure(r, lag_axis, significant, "gpt2 (word mode)"))
    assert 400 <= width <= 900 and 250 <= height <= 700
