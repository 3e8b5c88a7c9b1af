"""The CUDA paths (``--device cuda``): ridge engine and feature extractors on the GPU.

Skipped, named, where CUDA is not available (the CI machine has no GPU).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="CUDA not available: the --device cuda paths of the ridge engine and the feature "
           "extractors run only on a machine with an NVIDIA GPU")


def test_ridge_engine_on_cuda_matches_numpy():
    from bids_app.encoding import Backend, EncodingConfig, cross_validate

    rng = np.random.default_rng(0)
    X = rng.standard_normal((6000, 120)).astype(np.float32)
    Y = (np.convolve(X[:, 0], np.hanning(12))[:6000, None]
         + rng.standard_normal((6000, 8))).astype(np.float32)
    config = EncodingConfig()
    cpu = cross_validate(X, Y, lags=np.arange(41), config=config)
    gpu = cross_validate(X, Y, lags=np.arange(41), config=config,
                         engine=Backend("torch", "cuda"))
    np.testing.assert_allclose(gpu.r, cpu.r, atol=1e-3)
    assert gpu.r[0] > 0.3


def test_speech_features_on_cuda_match_the_cpu(tmp_path):
    import soundfile as sf
    from transformers import Wav2Vec2Config

    from bids_app.features import FeatureSpec, load_or_compute_features
    from bids_app.stimuli.stimulus import Stimulus

    model = tmp_path / "w2v"
    Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                   intermediate_size=64, conv_dim=(32,) * 7).save_pretrained(model)
    audio = tmp_path / "a.wav"
    sf.write(audio, np.random.default_rng(1).standard_normal(16000 * 4) * 0.1, 16000)
    stimulus = Stimulus("a", audio, None, 0.0, 4.0)
    spec = FeatureSpec("w2v", "speech", model=str(model), weights="random")
    cpu = load_or_compute_features(spec, stimulus, tmp_path / "cpu", device="cpu")
    gpu = load_or_compute_features(spec, stimulus, tmp_path / "gpu", device="cuda")
    for layer in cpu.layer_names:
        np.testing.assert_allclose(np.asarray(gpu.layers[layer]), np.asarray(cpu.layers[layer]),
                                   atol=2e-3, rtol=1e-3)
