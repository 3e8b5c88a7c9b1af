"""``load_or_compute_features``: the one entry point of the features stage.

It resolves the inputs of a feature space (audio, words, phones, model), derives the cache key
from their content and the settings, returns the cached file when the key matches, and
otherwise computes the features straight into a new cache file.
"""

from __future__ import annotations

import logging
import math
import platform
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from bids_app.errors import MissingInputError, UsageError
from bids_app.features import acoustic, precomputed, speech
from bids_app.features.audio import read_audio
from bids_app.features.cache import (
    Allocate,
    cache_key,
    entry_lock,
    feature_paths,
    file_sha256,
    lock_path,
    read_feature_file,
    stored_key,
    write_feature_file,
)
from bids_app.features.featureset import FeatureSet
from bids_app.features.language import (
    causal_lm_features,
    glove_embeddings,
    load_tokenizer,
    static_embeddings,
)
from bids_app.features.models import ModelSource, load_model, resolve_device, resolve_model
from bids_app.features.phonetic import (
    FEATURE_NAMES,
    find_phone_file,
    phonetic_matrix,
    word_onset_impulses,
)
from bids_app.features.spec import AUDIO_KINDS, MODEL_KINDS, FeatureSpec
from bids_app.stimuli.alignments import read_phones, read_words
from bids_app.stimuli.stimulus import Stimulus, WordTimings

logger = logging.getLogger("ssl_ieeg")

_PACKAGES = ("numpy", "scipy", "h5py", "soundfile", "torch", "transformers", "tokenizers",
             "ssl-ieeg")


@dataclass
class _Inputs:
    """Everything a feature space is computed from, and their content hashes."""

    audio_path: Path
    audio_sha256: str
    duration: float
    words: WordTimings | None = None
    phones_path: Path | None = None
    model: ModelSource | None = None
    file_paths: tuple[Path, Path | None, Path] | None = None
    hashes: dict[str, Any] = field(default_factory=dict)


def load_or_compute_features(spec: FeatureSpec, stimulus: Stimulus, cache_dir: Path, *,
                             words: WordTimings | None = None, model_dir: Path | None = None,
                             model: ModelSource | None = None, device: str = "cpu",
                             n_jobs: int = 1,
                             verbose: bool = False) -> FeatureSet:
    """Return the features of one stimulus, from the cache or freshly computed.

    Parameters
    ----------
    spec : FeatureSpec
        The feature space.
    stimulus : Stimulus
        The stimulus (its audio, and its transcript when ``words`` is None).
    cache_dir : Path
        ``OUTPUT_DIR/stimuli``; the file goes to ``stim-<id>/stim-<id>_desc-<name>_features.h5``
        with a JSON sidecar.
    words : WordTimings | None
        Word timings; read from ``stimulus.transcript_path`` when None and the kind needs them.
    model_dir : Path | None
        Searched first for models (``--model-dir``).
    model : ModelSource | None
        The space's model, already resolved (by :func:`~bids_app.features.models.resolve_model`;
        the workflow resolves each model once per run). Resolved here when None.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available).
    n_jobs : int
        CPU threads for the model (``torch.set_num_threads``).
    verbose : bool
        Log progress at INFO level.

    Returns
    -------
    features : FeatureSet
        Layers are memory-mapped from the cache file where possible.
    """
    inputs = _resolve_inputs(spec, stimulus, words, model_dir, model)
    key = cache_key({"settings": spec.settings(), "audio": inputs.audio_sha256, **inputs.hashes})
    h5_path, _ = feature_paths(cache_dir, stimulus.stim_id, spec.name)
    what = f"{spec.name} for stim-{stimulus.stim_id}"
    if stored_key(h5_path) == key:
        if verbose:
            logger.info("features: reusing %s (%s)", what, h5_path)
        return read_feature_file(h5_path)

    def waiting(seconds: float) -> None:
        if verbose:
            logger.info("features: waiting for %s: another task is computing it (%s%s)", what,
                        lock_path(h5_path), f", {seconds / 60:.0f} min so far" if seconds else "")

    with entry_lock(h5_path, waiting):
        if stored_key(h5_path) == key:  # the task we waited for wrote it
            if verbose:
                logger.info("features: reusing %s, computed by another task", what)
            return read_feature_file(h5_path)
        if verbose:
            logger.info("features: computing %s (%s)", what, spec.kind)

        def compute(allocate: Allocate) -> FeatureSet:
            features = _compute(spec, inputs, allocate, device=device, n_jobs=n_jobs,
                                verbose=verbose)
            features.meta = {**_provenance(spec, stimulus, inputs), **features.meta}
            return features

        if not write_feature_file(h5_path, key, compute) and verbose:
            logger.info("features: %s was written by another task first; using theirs", what)
    return read_feature_file(h5_path)


def _resolve_inputs(spec: FeatureSpec, stimulus: Stimulus, words: WordTimings | None,
                    model_dir: Path | None, model: ModelSource | None) -> _Inputs:
    audio_path = Path(stimulus.audio_path)
    if not audio_path.is_file():
        raise MissingInputError(f"{audio_path}: audio file not found")
    inputs = _Inputs(audio_path=audio_path, audio_sha256=file_sha256(audio_path),
                     duration=stimulus.duration)
    opts = spec.resolved_options()
    if spec.file is not None:
        return _file_inputs(spec, stimulus, inputs, words)
    if needs_words(spec):
        inputs.words = words if words is not None else _read_transcript(stimulus, spec)
        inputs.hashes["words"] = _words_hash(inputs.words)
    if spec.kind == "phonetic":
        inputs.phones_path = find_phone_file(audio_path, opts["phones"])
        if inputs.phones_path is None or not inputs.phones_path.is_file():
            raise MissingInputError(
                f"{audio_path}: feature space {spec.name!r} needs a phone alignment; put "
                f"{audio_path.stem}_phones.TextGrid, .phn or .lab beside the audio, or set "
                f"options.phones (looked for {inputs.phones_path or 'the default names'})")
        inputs.hashes["phones"] = file_sha256(inputs.phones_path)
    if spec.kind == "static" and opts["glove"]:
        inputs.hashes["glove"] = file_sha256(Path(opts["glove"]))
    elif spec.kind in MODEL_KINDS:
        inputs.model = model or resolve_model(spec.model, model_dir, weights=spec.weights)
        inputs.hashes["model"] = {"id": inputs.model.model_id,
                                  "revision": inputs.model.revision,
                                  "checksum": inputs.model.checksum}  # not the path
    return inputs


def _file_inputs(spec: FeatureSpec, stimulus: Stimulus, inputs: _Inputs,
                 words: WordTimings | None) -> _Inputs:
    """The inputs of a space read from a file: the file, its row table or its sidecar."""
    path, rows, sidecar = inputs.file_paths = spec.file.paths(stimulus.stim_id)
    if not path.is_file():
        raise MissingInputError(f"{path}: feature file of {spec.name!r} not found "
                                "(features[].file.path)")
    inputs.hashes["file"] = file_sha256(path)
    if rows is None:
        inputs.hashes["sidecar"] = file_sha256(sidecar)
        return inputs
    inputs.words = words if words is not None else _read_transcript(stimulus, spec)
    inputs.hashes["words"] = _words_hash(inputs.words)
    if rows.is_file():
        inputs.hashes["rows"] = file_sha256(rows)
    return inputs


def needs_words(spec: FeatureSpec) -> bool:
    """Whether a feature space needs the stimulus's word timings (a transcript)."""
    if spec.file is not None:
        return not spec.file.frame_level()
    opts = spec.resolved_options()
    return spec.kind in ("language", "static", "word_onset") or bool(opts.get("word_pooling"))


def _read_transcript(stimulus: Stimulus, spec: FeatureSpec) -> WordTimings:
    if stimulus.transcript_path is None:
        raise MissingInputError(
            f"{stimulus.audio_path}: feature space {spec.name!r} ({spec.kind}) needs word "
            f"timings; put a transcript beside the audio ({stimulus.audio_path.stem}.TextGrid, "
            ".tsv, .csv or .wrd)")
    return read_words(stimulus.transcript_path, stimulus.tier)


def _words_hash(words: WordTimings) -> str:
    return cache_key({"words": list(words.words), "onsets": np.asarray(words.onsets).tolist(),
                      "offsets": np.asarray(words.offsets).tolist()})


def _compute(spec: FeatureSpec, inputs: _Inputs, allocate: Allocate, *, device: str,
             n_jobs: int, verbose: bool) -> FeatureSet:
    opts = spec.resolved_options()
    if spec.file is not None:
        return _from_file(spec, inputs)
    if spec.kind in AUDIO_KINDS:
        return _acoustic(spec, inputs, opts)
    if spec.kind in ("phonetic", "word_onset"):
        return _phonetic(spec, inputs, opts)
    if spec.kind == "static" and opts["glove"]:
        values, meta = glove_embeddings(Path(opts["glove"]), inputs.words.words)
        return _word_level(spec, inputs.words, values, meta)
    device = resolve_device(device)
    if device == "cpu":
        import torch

        torch.set_num_threads(max(1, n_jobs))
    model = load_model(inputs.model, weights=spec.weights, seed=spec.seed, device=device,
                       causal_lm=spec.kind == "language")
    meta = {**inputs.model.provenance(), "Weights": spec.weights, "Seed": spec.seed,
            "Device": device}
    if spec.kind == "speech":
        setting = speech.input_settings(inputs.model, model.config)
        audio = read_audio(inputs.audio_path, setting.sfreq)
        times, values, extra = speech.speech_features(
            model, audio, setting, spec.layers, allocate, device=device, options=opts,
            words=inputs.words, verbose=verbose)
        meta.update(extra)
        if opts["word_pooling"]:
            return _word_level(spec, inputs.words, values, meta)
        return FeatureSet(spec.name, spec.kind, times, values, meta=meta)
    tokenizer = load_tokenizer(inputs.model)
    if spec.kind == "language":
        values, extra = causal_lm_features(model, tokenizer, inputs.words.words, spec.layers,
                                           device=device, options=opts, verbose=verbose)
    else:
        values, extra = static_embeddings(model, tokenizer, inputs.words.words), {}
    return _word_level(spec, inputs.words, values, {**meta, **extra})


def _from_file(spec: FeatureSpec, inputs: _Inputs) -> FeatureSet:
    path, rows, sidecar = inputs.file_paths
    layers = precomputed.read_layers(path, spec.layers)
    meta = {"SourceFile": str(path)}
    if rows is None:
        if spec.file.scalars:
            raise UsageError(f"features[{spec.name}].file.scalars: {path} has frame-level "
                             "rows (a SamplingFrequency sidecar); scalars come from word rows")
        times, sfreq = precomputed.frame_times(sidecar, len(next(iter(layers.values()))),
                                               inputs.duration)
        return FeatureSet(spec.name, spec.kind, times, layers,
                          meta={**meta, "SamplingFrequency": sfreq})
    values = precomputed.word_vectors(
        layers, rows, path, inputs.words, inputs.duration, spec.file.pooling,
        spec.file.scalars, count_tokens=spec.kind == "language")
    return _word_level(spec, inputs.words, values, {**meta, "RowTable": str(rows)})


def _acoustic(spec: FeatureSpec, inputs: _Inputs, opts: dict[str, Any]) -> FeatureSet:
    audio = read_audio(inputs.audio_path, opts["audio_sfreq"])
    if spec.kind == "envelope":
        times, values = acoustic.envelope(audio, opts["audio_sfreq"], opts["sfreq"],
                                          opts["lowpass"])
    elif spec.kind == "peak_rate":
        times, values = acoustic.peak_rate(audio, opts["audio_sfreq"], opts["sfreq"],
                                           opts["lowpass"])
    else:
        times, values = acoustic.log_mel(
            audio, opts["audio_sfreq"], opts["sfreq"], opts["n_mels"], opts["window_s"],
            opts["n_fft"], opts["fmin"], opts["fmax"])
    return FeatureSet(spec.name, spec.kind, times, {spec.kind: values},
                      meta={"SamplingFrequency": opts["sfreq"]})


def _phonetic(spec: FeatureSpec, inputs: _Inputs, opts: dict[str, Any]) -> FeatureSet:
    sfreq = opts["sfreq"]
    n_frames = math.ceil(inputs.duration * sfreq)
    times = np.arange(n_frames) / sfreq
    if spec.kind == "word_onset":
        values = {"word_onset": word_onset_impulses(inputs.words, n_frames, sfreq)}
        return FeatureSet(spec.name, spec.kind, times, values, meta={"SamplingFrequency": sfreq})
    matrix, unknown = phonetic_matrix(read_phones(inputs.phones_path), n_frames, sfreq)
    meta = {"SamplingFrequency": sfreq, "PhoneFile": str(inputs.phones_path),
            "FeatureNames": {"phonetic": list(FEATURE_NAMES)}, "UnknownPhones": unknown}
    return FeatureSet(spec.name, spec.kind, times, {"phonetic": matrix}, meta=meta)


def _word_level(spec: FeatureSpec, words: WordTimings, values: dict[str, Any],
                meta: dict[str, Any]) -> FeatureSet:
    return FeatureSet(spec.name, spec.kind, np.asarray(words.onsets, dtype=float), values,
                      offsets=np.asarray(words.offsets, dtype=float), meta=meta)


def _provenance(spec: FeatureSpec, stimulus: Stimulus, inputs: _Inputs) -> dict[str, Any]:
    return {
        "Name": spec.name,
        "Kind": spec.kind,
        "StimulusId": stimulus.stim_id,
        "AudioFile": inputs.audio_path.name,
        "AudioSHA256": inputs.audio_sha256,
        "Settings": spec.settings(),
        "InputHashes": inputs.hashes,
        "TimeConvention": "times are frame centres (receptive-field centres for models) or "
                          "word onsets, in seconds from the start of the audio",
        "PackageVersions": {**{name: _version(name) for name in _PACKAGES},
                            "python": platform.python_version()},
    }


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None
