"""Speech, language and static features with small random models loaded from disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from transformers import (
    AutoModelForCausalLM,
    BertConfig,
    Data2VecAudioConfig,
    GPT2TokenizerFast,
    GPTNeoXConfig,
    HubertConfig,
    LlamaConfig,
    OPTConfig,
    Wav2Vec2Config,
    Wav2Vec2Model,
    WavLMConfig,
    WhisperConfig,
)

from bids_app.errors import MissingInputError, UsageError
from bids_app.features import FeatureSpec, extract, load_or_compute_features, speech
from bids_app.features.language import (
    _run_strided,
    causal_lm_features,
    load_tokenizer,
    sentence_segments,
    tokenize_words,
)
from bids_app.features.models import ModelSource, resolve_model
from bids_app.features.spec import DEFAULT_OPTIONS
from bids_app.features.tiny_models import save_tiny_models
from bids_app.stimuli import Stimulus
from bids_app.stimuli.alignments import read_words

WORDS = ("the", "cat", "sat", "on", "the", "mat.", "It", "was", "happy!", "Then", "it", "slept")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    return save_tiny_models(tmp_path_factory.mktemp("models"), WORDS)


@pytest.fixture(scope="module")
def base_config(shared_data) -> Path:
    """The real facebook/wav2vec2-base config.json (../shared/data), without weights."""
    return shared_data / "wav2vec2_configs" / "wav2vec2-base.json"


@pytest.fixture(scope="module")
def stimulus(tmp_path_factory) -> Stimulus:
    """Four seconds of noisy tones with twelve words, saved as WAV + TSV."""
    folder = tmp_path_factory.mktemp("stim")
    rate = 16000
    t = np.arange(4 * rate) / rate
    rng = np.random.default_rng(0)
    audio = np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.1 * rng.normal(
        size=t.size)
    sf.write(folder / "story.wav", audio.astype(np.float32), rate, subtype="FLOAT")
    onsets = 0.2 + 0.3 * np.arange(len(WORDS))
    pd.DataFrame({"word": WORDS, "start": onsets, "end": onsets + 0.25}).to_csv(
        folder / "story.tsv", sep="\t", index=False)
    return Stimulus("story", folder / "story.wav", folder / "story.tsv", 0.0, 4.0)


def _base_model(base_config: Path, n_layers: int) -> Wav2Vec2Model:
    config = Wav2Vec2Config.from_pretrained(base_config, num_hidden_layers=n_layers)
    torch.manual_seed(0)
    return Wav2Vec2Model(config).eval()


def _run(model, audio, **options):
    opts = {**DEFAULT_OPTIONS["speech"], **options}
    return speech.speech_features(model, audio, speech.SpeechInput(16000, True), "all",
                                  lambda name, shape: np.zeros(shape, np.float32),
                                  device="cpu", options=opts)


def test_wav2vec2_base_frame_count_and_times(base_config):
    config = Wav2Vec2Config.from_pretrained(base_config)
    geometry = speech.frame_geometry(config)
    assert (geometry.hop, geometry.receptive_field) == (320, 400)
    model = _base_model(base_config, n_layers=1)
    for n in (400, 719, 720, 16000, 23457):
        assert geometry.n_frames(n) == (n - 400) // 320 + 1
    audio = np.random.default_rng(1).normal(size=23457).astype(np.float32)
    times, values, _ = _run(model, audio)
    normalised = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    with torch.inference_mode():
        direct = model(torch.from_numpy(normalised)[None], output_hidden_states=True)
        covered = model(torch.from_numpy(normalised[:(len(times) - 1) * 320 + 400])[None],
                        output_hidden_states=True).hidden_states
    assert direct.last_hidden_state.shape[1] == len(times) == (23457 - 400) // 320 + 1
    np.testing.assert_allclose(times, (320 * np.arange(len(times)) + 200) / 16000)
    assert values["layer00"].shape == (len(times), 768)
    np.testing.assert_allclose(values["layer01"], covered[1][0].numpy(), atol=1e-5)


@pytest.mark.slow  # a full-size wav2vec2-base on 30 s of audio
def test_windowed_matches_single_pass_on_30s(base_config):
    """True wav2vec2-base width and frame grid (2 of its 12 layers, for test speed)."""
    model = _base_model(base_config, n_layers=2)
    rng = np.random.default_rng(0)
    t = np.arange(30 * 16000) / 16000
    audio = (np.sin(2 * np.pi * 200 * t) * (1 + np.sin(2 * np.pi * 3 * t))
             + 0.3 * rng.normal(size=t.size)).astype(np.float32)
    times_one, single, meta_one = _run(model, audio, window_s=40.0, context_s=0.0,
                                       lookahead_s=0.0)
    times_win, windowed, meta_win = _run(model, audio, window_s=20.0, context_s=5.0)
    assert meta_one["NumWindows"] == 1 and meta_win["NumWindows"] == 3
    np.testing.assert_array_equal(times_one, times_win)
    for name, full in single.items():
        scale = np.abs(full).max()
        assert np.abs(windowed[name] - full).max() < 0.05 * scale, name
        rows = [np.corrcoef(full[i], windowed[name][i])[0, 1] for i in range(0, len(full), 11)]
        assert min(rows) > 0.99, name


def test_batched_windows_match_one_by_one(tiny):
    model = Wav2Vec2Model.from_pretrained(tiny["speech"]).eval()
    audio = np.random.default_rng(2).normal(size=16000 * 9).astype(np.float32)
    options = {"window_s": 3.0, "context_s": 1.0, "lookahead_s": 0.5}
    _, single, meta = _run(model, audio, batch_size=1, **options)
    _, batched, _ = _run(model, audio, batch_size=3, **options)
    assert meta["NumWindows"] >= 5
    for name, values in single.items():
        np.testing.assert_allclose(batched[name], values, atol=1e-5)


def test_gpt2_token_ids_match_ds005574(shared_data, tmp_path):
    """The real GPT-2 BPE files, loaded as a model folder's tokenizer would be."""
    transcript = shared_data / "ds005574" / "stimuli" / "gpt2-xl" / "transcript.tsv"
    table = pd.read_csv(transcript, sep="\t")
    shutil.copy(shared_data / "gpt2_bpe" / "encoder.json", tmp_path / "vocab.json")
    shutil.copy(shared_data / "gpt2_bpe" / "vocab.bpe", tmp_path / "merges.txt")
    (tmp_path / "tokenizer_config.json").write_text('{"tokenizer_class": "GPT2Tokenizer"}')
    tokenizer = load_tokenizer(ModelSource("gpt2", tmp_path, None, ""))
    words = read_words(transcript)
    ids, owner = tokenize_words(tokenizer, words.words)
    assert len(ids) == len(table) == 5491
    np.testing.assert_array_equal(ids, table["token_id"].to_numpy())
    np.testing.assert_array_equal(owner, table["word_idx"].to_numpy())


def test_surprisal_and_states_match_direct_logits(tiny):
    model = AutoModelForCausalLM.from_pretrained(tiny["language"]).eval()
    tokenizer = GPT2TokenizerFast.from_pretrained(tiny["language"])
    options = {**DEFAULT_OPTIONS["language"]}
    values, meta = causal_lm_features(model, tokenizer, WORDS, "all", device="cpu",
                                      options=options)
    ids, owner = tokenize_words(tokenizer, WORDS)
    sequence = torch.tensor([[tokenizer.bos_token_id, *ids]])
    with torch.inference_mode():
        out = model(sequence, output_hidden_states=True)
    logp = torch.log_softmax(out.logits[0], dim=-1).numpy()
    token_surprisal = -logp[np.arange(len(ids)), ids]  # position p predicts token p
    expected = np.zeros(len(WORDS))
    np.add.at(expected, owner, token_surprisal)
    np.testing.assert_allclose(values["surprisal"][:, 0], expected, rtol=1e-4)
    first = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    probs = np.exp(logp[first])
    np.testing.assert_allclose(values["entropy"][:, 0], -(probs * logp[first]).sum(1),
                               rtol=1e-4)
    last = np.r_[first[1:], len(ids)] - 1
    np.testing.assert_allclose(values["layer02"], out.hidden_states[2][0, 1:][last].numpy(),
                               atol=1e-5)
    assert meta["NumTokens"] == len(ids)

    short = causal_lm_features(model, tokenizer, WORDS, [1], device="cpu",
                               options={**options, "context_tokens": 6, "stride": 3})[0]
    in_first_window = owner[:5].max()  # words whose tokens all fit the first window
    np.testing.assert_allclose(short["surprisal"][:in_first_window], expected[
        :in_first_window, None], rtol=1e-4)
    assert np.all(np.isfinite(short["surprisal"]))
    assert not np.allclose(short["surprisal"][-1], expected[-1])


def test_sentence_scope_and_mean_aggregation(tiny):
    model = AutoModelForCausalLM.from_pretrained(tiny["language"]).eval()
    tokenizer = GPT2TokenizerFast.from_pretrained(tiny["language"])
    assert sentence_segments(WORDS) == [slice(0, 6), slice(6, 9), slice(9, 12)]
    options = {**DEFAULT_OPTIONS["language"], "context_scope": "sentence",
               "aggregation": "mean"}
    scoped = causal_lm_features(model, tokenizer, WORDS, [1], device="cpu", options=options)[0]
    alone = causal_lm_features(model, tokenizer, WORDS[6:9], [1], device="cpu",
                               options=options)[0]
    np.testing.assert_allclose(scoped["layer01"][6:9], alone["layer01"], atol=1e-5)
    np.testing.assert_allclose(scoped["surprisal"][6:9], alone["surprisal"], rtol=1e-5)


def test_speech_cache_hit_does_no_forward_pass(tiny, stimulus, tmp_path, monkeypatch):
    spec = FeatureSpec("w2v", "speech", model=str(tiny["speech"]), layers=[0, 2])
    first = load_or_compute_features(spec, stimulus, tmp_path)
    assert first.layer_names == ["layer00", "layer02"]
    assert first.meta["FrameHop"] == 320
    assert len(first.times) == (4 * 16000 - 400) // 320 + 1

    def no_model(*args, **kwargs):
        raise AssertionError("cache hit must not load or run the model")

    monkeypatch.setattr(extract, "load_model", no_model)
    again = load_or_compute_features(spec, stimulus, tmp_path)
    np.testing.assert_array_equal(again.layers["layer02"], first.layers["layer02"])
    with pytest.raises(AssertionError, match="cache hit"):
        load_or_compute_features(FeatureSpec("w2v", "speech", model=str(tiny["speech"]),
                                             layers=[0, 2], seed=1, weights="random"),
                                 stimulus, tmp_path)


def test_word_pooling_averages_frames_in_words(tiny, stimulus, tmp_path):
    frames = load_or_compute_features(FeatureSpec("frames", "speech", model=str(tiny["speech"]),
                                                  layers=[1]), stimulus, tmp_path)
    pooled = load_or_compute_features(
        FeatureSpec("pooled", "speech", model=str(tiny["speech"]), layers=[1],
                    options={"word_pooling": True}), stimulus, tmp_path)
    assert pooled.is_word_level and pooled.layers["layer01"].shape[0] == len(WORDS)
    words = read_words(stimulus.transcript_path)
    inside = (frames.times >= words.onsets[3]) & (frames.times < words.offsets[3])
    np.testing.assert_allclose(pooled.layers["layer01"][3],
                               frames.layers["layer01"][inside].mean(axis=0), atol=1e-5)


def test_language_and_static_feature_sets(tiny, stimulus, tmp_path):
    lang = load_or_compute_features(FeatureSpec("gpt", "language", model=str(tiny["language"])),
                                    stimulus, tmp_path)
    assert lang.layer_names == ["layer00", "layer01", "layer02", "surprisal", "entropy",
                                "tokens"]
    assert lang.is_word_level and len(lang.times) == len(WORDS)
    assert np.all(np.asarray(lang.layers["surprisal"]) > 0)
    tokenizer = GPT2TokenizerFast.from_pretrained(tiny["language"])
    counts = [len(tokenizer.encode(" " + word)) for word in WORDS]
    np.testing.assert_array_equal(np.asarray(lang.layers["tokens"])[:, 0], counts)
    assert lang.meta["NumTokens"] == sum(counts)
    static = load_or_compute_features(FeatureSpec("emb", "static", model=str(tiny["language"])),
                                      stimulus, tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tiny["language"])
    ids = tokenizer.encode(" " + WORDS[1])
    table = model.get_input_embeddings().weight.detach().numpy()
    np.testing.assert_allclose(static.layers["embedding"][1], table[ids].mean(0), atol=1e-6)
    # the same word gets the same context-free vector
    np.testing.assert_array_equal(static.layers["embedding"][0], static.layers["embedding"][4])


def test_glove_static_vectors(stimulus, tmp_path):
    glove = tmp_path / "glove.txt"
    glove.write_text("the 1 0 0\ncat 0 1 0\nmat 0 0 1\n")
    spec = FeatureSpec("glove", "static", options={"glove": str(glove)})
    features = load_or_compute_features(spec, stimulus, tmp_path)
    np.testing.assert_array_equal(features.layers["glove"][5], [0, 0, 1])  # "mat." normalised
    assert features.meta["OutOfVocabulary"] == len(WORDS) - 4


def test_missing_model_is_exit_66_with_hint(stimulus, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = FeatureSpec("w2v", "speech", model="no-such-org/no-such-model")
    with pytest.raises(MissingInputError, match="--model-dir") as err:
        load_or_compute_features(spec, stimulus, tmp_path, model_dir=tmp_path / "models")
    assert err.value.exit_code == 66


@pytest.mark.slow  # builds full-size models from their configs
def test_random_weights_from_config_only_and_model_dir_lookup(base_config, stimulus, tmp_path):
    folder = tmp_path / "models" / "facebook--wav2vec2-base"
    folder.mkdir(parents=True)
    shutil.copy(base_config, folder / "config.json")
    with pytest.raises(MissingInputError, match="weights: random"):
        resolve_model("facebook/wav2vec2-base", tmp_path / "models")
    source = resolve_model("facebook/wav2vec2-base", tmp_path / "models", weights="random")
    assert source.path == folder
    model = extract.load_model(source, weights="random", seed=3, device="cpu")
    again = extract.load_model(source, weights="random", seed=3, device="cpu")
    other = extract.load_model(source, weights="random", seed=4, device="cpu")
    weight = "encoder.layers.0.attention.q_proj.weight"
    state, same, different = model.state_dict(), again.state_dict(), other.state_dict()
    assert torch.equal(state[weight], same[weight])
    assert not torch.equal(state[weight], different[weight])
    assert model.config.num_hidden_layers == 12


def test_hub_id_from_a_hugging_face_cache_layout(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "hub" / "models--org--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "blobs").mkdir()
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    shutil.copy(tiny["speech"] / "config.json", repo / "blobs" / "0a1b")
    (repo / "snapshots" / "abc123" / "config.json").symlink_to("../../blobs/0a1b")
    source = resolve_model("org/tiny", tmp_path / "hub", weights="random")
    assert source.revision == "abc123"
    assert source.path == repo / "snapshots" / "abc123"
    with pytest.raises(MissingInputError, match="no weights"):
        resolve_model("org/tiny", tmp_path / "hub")


@pytest.mark.parametrize("config_class", [HubertConfig, WavLMConfig])
def test_hubert_and_wavlm_from_config(config_class, stimulus, tmp_path):
    """Other wav2vec2-style encoders, random weights from a config-only folder."""
    folder = tmp_path / config_class.model_type
    config_class(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=64, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
                 num_conv_pos_embedding_groups=2).save_pretrained(folder)
    spec = FeatureSpec("enc", "speech", model=str(folder), weights="random")
    features = load_or_compute_features(spec, stimulus, tmp_path / "out")
    assert features.layer_names == ["layer00", "layer01", "layer02"]
    assert len(features.times) == (4 * 16000 - 400) // 320 + 1
    assert np.isfinite(np.asarray(features.layers["layer02"])).all()


def test_strided_context_scores_each_token_with_its_window(tiny):
    """context 6, stride 3: token p (BOS at 0) is scored in the window ending at 6, 9, 12..."""
    model = AutoModelForCausalLM.from_pretrained(tiny["language"]).eval()
    tokenizer = GPT2TokenizerFast.from_pretrained(tiny["language"])
    ids, _ = tokenize_words(tokenizer, WORDS)
    bos = tokenizer.bos_token_id
    _, surprisal, entropy = _run_strided(model, ids, bos, [1], 6, 3, "cpu", False)
    sequence = np.r_[bos, ids]
    for p in range(1, len(sequence)):
        stop = 6 if p < 6 else 6 + 3 * ((p - 6) // 3 + 1)
        stop = min(stop, len(sequence))
        start = max(0, stop - 6)
        with torch.inference_mode():
            logits = model(torch.tensor(sequence[start:stop][None])).logits[0]
        logp = torch.log_softmax(logits[p - 1 - start], dim=-1)
        assert surprisal[p - 1] == pytest.approx(-float(logp[sequence[p]]), rel=1e-4)
        assert entropy[p - 1] == pytest.approx(-float((logp.exp() * logp).sum()), rel=1e-4)


def test_tiny_models_are_readable_by_other_users(tiny):
    """The demo's checkpoints are read by another UID in the container test."""
    for path in tiny.values():
        for file in path.iterdir():
            assert file.stat().st_mode & 0o444 == 0o444, file


@pytest.mark.parametrize("config_class", [Data2VecAudioConfig])
def test_data2vec_audio_from_config(config_class, stimulus, tmp_path):
    """data2vec-audio (a wav2vec2-style encoder), random weights from a config-only folder."""
    folder = tmp_path / config_class.model_type
    config_class(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=64, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
                 num_conv_pos_embedding_groups=2, conv_pos_kernel_size=3,
                 num_conv_pos_embedding_layers=1).save_pretrained(folder)
    spec = FeatureSpec("enc", "speech", model=str(folder), weights="random")
    features = load_or_compute_features(spec, stimulus, tmp_path / "out")
    assert features.layer_names == ["layer00", "layer01", "layer02"]
    assert np.isfinite(np.asarray(features.layers["layer02"])).all()


LANGUAGE_ARCHITECTURES = {
    "gpt_neox": lambda vocab: GPTNeoXConfig(vocab_size=vocab, hidden_size=32,
                                            num_hidden_layers=2, num_attention_heads=2,
                                            intermediate_size=64),
    "llama": lambda vocab: LlamaConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2,
                                       num_attention_heads=2, num_key_value_heads=2,
                                       intermediate_size=64),
    "opt": lambda vocab: OPTConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2,
                                   num_attention_heads=2, ffn_dim=64, word_embed_proj_dim=32),
}


@pytest.mark.parametrize("architecture", sorted(LANGUAGE_ARCHITECTURES))
def test_causal_language_architectures_from_config(architecture, tiny, stimulus, tmp_path):
    """GPT-NeoX (Pythia), Llama and OPT: every hidden state and the word scalars, through the
    same path as GPT-2 (the tiny GPT-2 tokenizer beside a config-only folder)."""
    folder = tmp_path / architecture
    shutil.copytree(tiny["language"], folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    vocab = len(GPT2TokenizerFast.from_pretrained(tiny["language"]))
    LANGUAGE_ARCHITECTURES[architecture](vocab).save_pretrained(folder)
    spec = FeatureSpec("lm", "language", model=str(folder), weights="random")
    features = load_or_compute_features(spec, stimulus, tmp_path / "out")
    assert features.layer_names[:3] == ["layer00", "layer01", "layer02"]
    assert {"surprisal", "entropy", "tokens"} <= set(features.layer_names)
    assert np.asarray(features.layers["layer02"]).shape == (len(WORDS), 32)
    assert np.isfinite(np.asarray(features.layers["surprisal"])).all()


def _tiny_whisper(folder: Path) -> Path:
    WhisperConfig(vocab_size=100, d_model=32, encoder_layers=2, decoder_layers=1,
                  encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                  decoder_ffn_dim=64, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                  decoder_start_token_id=1).save_pretrained(folder)
    return folder


def test_whisper_encoder_frames_match_a_single_pass(tmp_path):
    """Whisper's encoder through the windowed path: frame i centred on sample 320 i, and the
    kept frames of a window equal those of one pass of its feature extractor and encoder over
    the same audio (a random-weight config-only folder, loaded like any checkpoint)."""
    from transformers import WhisperFeatureExtractor, WhisperModel

    source = resolve_model(str(_tiny_whisper(tmp_path / "whisper")), weights="random")
    model = extract.load_model(source, weights="random", seed=0, device="cpu")
    setting = speech.input_settings(source, model.config)
    assert (setting.sfreq, setting.normalize) == (16000, False)
    geometry = speech.frame_geometry(model.config)
    assert (geometry.hop, geometry.centre) == (320, 0)
    audio = np.random.default_rng(2).normal(size=16000 * 12 + 123).astype(np.float32)
    opts = {**DEFAULT_OPTIONS["speech"], "window_s": 8.0, "context_s": 2.0, "lookahead_s": 1.0}
    times, values, meta = speech.speech_features(
        model, audio, setting, "all", lambda name, shape: np.zeros(shape, np.float32),
        device="cpu", options=opts)
    assert meta["NumWindows"] == 3 and len(times) == 12 * 50 + 1
    np.testing.assert_allclose(times, np.arange(len(times)) * 0.02)
    assert list(values) == ["layer00", "layer01", "layer02"]
    assert isinstance(model, WhisperModel)
    extractor = WhisperFeatureExtractor(feature_size=80)

    def encode(samples):
        features = extractor([samples], sampling_rate=16000, return_tensors="pt")
        with torch.inference_mode():
            return model.get_encoder()(features.input_features,
                                       output_hidden_states=True).hidden_states

    # The grid: before attention (layer00: convolutions and positions), the first window's
    # kept frames equal a single pass over the whole audio.
    np.testing.assert_allclose(values["layer00"][:250], encode(audio)[0][0, :250].numpy(),
                               atol=1e-4)
    # Every layer of a later window's kept frames is one pass over that window's samples.
    window = speech.plan_windows(len(times), geometry, 8.0, 2.0, 1.0)[1]
    direct = encode(audio[slice(*geometry.span(window))])
    lo, hi = window.keep_start - window.first, window.keep_stop - window.first
    for index, name in enumerate(values):
        np.testing.assert_allclose(values[name][window.keep_start:window.keep_stop],
                                   direct[index][0, lo:hi].numpy(), atol=1e-4)
    assert np.isfinite(values["layer02"]).all()
    again = speech.speech_features(
        model, audio, setting, [2], lambda name, shape: np.zeros(shape, np.float32),
        device="cpu", options={**opts, "window_s": 40.0, "context_s": 0.0,
                               "lookahead_s": 0.0, "word_pooling": False})
    with pytest.raises(UsageError, match="too long for this encoder"):
        speech.speech_features(
            model, np.zeros(16000 * 45, np.float32), setting, [2],
            lambda name, shape: np.zeros(shape, np.float32), device="cpu",
            options={**opts, "window_s": 40.0})
    assert again[1]["layer02"].shape == (len(times), 32)


def test_whisper_through_the_feature_cache(stimulus, tmp_path):
    """kind speech with a Whisper checkpoint: every encoder layer, word-pooled too."""
    spec = FeatureSpec("wh", "speech", model=str(_tiny_whisper(tmp_path / "whisper")),
                       weights="random")
    features = load_or_compute_features(spec, stimulus, tmp_path / "out")
    assert features.layer_names == ["layer00", "layer01", "layer02"]
    assert np.asarray(features.layers["layer02"]).shape == (4 * 50 + 1, 32)
    pooled = load_or_compute_features(
        FeatureSpec("whw", "speech", model=spec.model, weights="random",
                    options={"word_pooling": True}), stimulus, tmp_path / "out")
    assert np.asarray(pooled.layers["layer01"]).shape == (len(WORDS), 32)


def test_architectures_that_cannot_serve_their_kind_are_refused(tiny, tmp_path):
    """A bidirectional encoder as a language model sees the words after each word, and an
    encoder that takes neither the waveform nor Whisper's log-mel input cannot run: exit 64
    before any work."""
    from transformers import Speech2TextConfig

    from bids_app.features.models import require_supported

    BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
               intermediate_size=64).save_pretrained(tmp_path / "bert")
    Speech2TextConfig(vocab_size=100, d_model=32, encoder_layers=2, decoder_layers=1,
                      encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                      decoder_ffn_dim=64).save_pretrained(tmp_path / "s2t")
    with pytest.raises(UsageError, match=r"bert model, a masked .* causal") as info:
        require_supported(resolve_model(str(tmp_path / "bert"), weights="random"),
                          "language", "lm")
    assert info.value.exit_code == 64
    with pytest.raises(UsageError, match=r"speech_to_text model, whose encoder takes "
                                         r"'input_features'.*file:"):
        require_supported(resolve_model(str(tmp_path / "s2t"), weights="random"),
                          "speech", "sp")
    require_supported(resolve_model(str(_tiny_whisper(tmp_path / "whisper")), weights="random"),
                      "speech", "x")
    require_supported(resolve_model(str(tiny["language"]), weights="random"), "language", "x")
    require_supported(resolve_model(str(tiny["speech"]), weights="random"), "speech", "x")
    require_supported(resolve_model(str(tmp_path / "bert"), weights="random"), "static", "x")
