"""``FeatureSpec``: one entry of the YAML list ``features`` (a feature space to compute)."""

from __future__ import annotations

import glob
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from bids_app.errors import UsageError, read_json_object

#: Kinds computed from the audio alone, at a regular frame rate.
AUDIO_KINDS = ("envelope", "mel", "peak_rate")
#: Kinds that run a Hugging Face model.
MODEL_KINDS = ("speech", "language", "static")
#: Every kind, with what it computes (see the modules of ``bids_app.features``).
KINDS = (*AUDIO_KINDS, "phonetic", "word_onset", *MODEL_KINDS)

#: Documented options per kind and their defaults. Unknown option keys are rejected.
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    # Broadband amplitude envelope: |Hilbert| of the 16 kHz audio, low-passed, resampled.
    "envelope": {"sfreq": 100.0, "lowpass": 30.0, "audio_sfreq": 16000},
    # Log-mel spectrogram: 25 ms Hann windows every 1/sfreq s, n_mels bands up to fmax.
    "mel": {"sfreq": 100.0, "n_mels": 80, "window_s": 0.025, "n_fft": 512,
            "fmin": 0.0, "fmax": 8000.0, "audio_sfreq": 16000},
    # Peak rate (Oganian & Chang 2019): local maxima of the envelope's positive derivative.
    "peak_rate": {"sfreq": 100.0, "lowpass": 10.0, "audio_sfreq": 16000},
    # Binary phonetic features of the phone under each frame; phones: alignment file or None
    # (then ``<stem>_phones.TextGrid``, ``<stem>_phone.lab``, ``<stem>.phn``, ``<stem>.lab``).
    "phonetic": {"sfreq": 100.0, "phones": None},
    # An impulse (1.0) at the frame of each word onset.
    "word_onset": {"sfreq": 100.0},
    # Speech model in windows of window_s seconds with context_s seconds of left context and
    # lookahead_s of right context (context frames are dropped; the right context covers the
    # +-1.28 s convolutional positional embedding of wav2vec2-base); batch_size windows per
    # forward pass (None: 1 on CPU, 8 on CUDA); word_pooling: average the frames inside each
    # word (word-level output).
    "speech": {"window_s": 20.0, "context_s": 5.0, "lookahead_s": 1.5, "batch_size": None,
               "word_pooling": False},
    # Causal language model: context_tokens previous tokens at most (None: the model maximum),
    # stride new tokens per forward pass (None: half the context), aggregation of a word's
    # tokens (last|mean), context_scope stimulus|sentence (reset the context at . ? !).
    "language": {"context_tokens": None, "stride": None, "aggregation": "last",
                 "context_scope": "stimulus"},
    # Input token embeddings pooled (mean) per word, or vectors from a GloVe text file.
    "static": {"glove": None},
}


#: Pooling of a word's token rows in a feature file (:class:`PrecomputedFile`).
POOLINGS = ("mean", "first", "last")


@dataclass
class PrecomputedFile:
    """Where a feature space's vectors are read from (YAML ``file`` of a feature space).

    Parameters
    ----------
    path : str
        The feature file; ``{stim}`` stands for the stimulus id.
    rows : str | None
        Word-level row table (``word``, ``start`` and optionally ``word_idx`` and scalar
        columns); None: ``transcript.tsv`` beside the file.
    pooling : str
        ``mean`` (default), ``first`` or ``last`` of a word's token rows.
    scalars : list of str
        Row-table columns added as scalar features (pooled like the vectors);
        ``surprisal`` is the sum of ``-ln(true_prob)`` over a word's tokens (nats).
    """

    path: str
    rows: str | None = None
    pooling: str = "mean"
    scalars: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise UsageError(f"features[].file.path must be a file path, got {self.path!r}")
        if self.pooling not in POOLINGS:
            raise UsageError(f"features[].file.pooling must be one of {list(POOLINGS)}, got "
                             f"{self.pooling!r}")
        if not (isinstance(self.scalars, list) and all(isinstance(s, str)
                                                        for s in self.scalars)):
            raise UsageError(f"features[].file.scalars must be a list of column names, got "
                             f"{self.scalars!r}")

    def paths(self, stim_id: str) -> tuple[Path, Path | None, Path]:
        """The feature file, its row table (if word level) and its frame sidecar."""
        path = Path(self.path.replace("{stim}", stim_id))
        sidecar = path.with_suffix(".json")
        if self.rows is not None:
            rows = Path(self.rows.replace("{stim}", stim_id))
        else:
            rows = path.with_name("transcript.tsv")
        return path, None if is_frame_level(sidecar) else rows, sidecar

    def frame_level(self) -> bool:
        """Whether the files (of any stimulus) have frame-level rows (a rate sidecar)."""
        return any(is_frame_level(Path(path).with_suffix(".json"))
                   for path in glob.glob(self.path.replace("{stim}", "*")))


def is_frame_level(sidecar: Path) -> bool:
    """Whether a feature file's JSON sidecar gives a frame rate."""
    return sidecar.is_file() and "SamplingFrequency" in read_json_object(sidecar)


@dataclass
class FeatureSpec:
    """One feature space of the configuration.

    Parameters
    ----------
    name : str
        Alphanumeric label, used as the BIDS ``desc-`` entity of its files; unique in a config.
    kind : str
        One of ``envelope``, ``mel``, ``peak_rate``, ``phonetic``, ``word_onset``, ``speech``,
        ``language``, ``static``.
    model : str | None
        Hugging Face hub id or local directory (``speech``, ``language`` and ``static``).
    layers : list of int | str
        Which hidden states to keep (0 = the embedding/feature-encoder output), or ``"all"``.
    weights : str
        ``"pretrained"`` or ``"random"`` (built from the model's config with ``seed``).
    seed : int
        Seed of the random initialisation.
    options : dict
        Kind-specific options; defaults in :data:`DEFAULT_OPTIONS`. Unknown keys are an error.
    file : dict | PrecomputedFile | None
        Read the vectors from this file instead of computing them
        (:class:`~bids_app.features.precomputed.PrecomputedFile`: ``path``, ``rows``,
        ``pooling``, ``scalars``); ``kind`` then says what they are (a ``speech`` or
        ``language`` model's, an acoustic space's) for the comparisons.
    """

    name: str
    kind: str
    model: str | None = None
    layers: list[int] | str = "all"
    weights: str = "pretrained"
    seed: int = 0
    options: dict = field(default_factory=dict)
    file: dict | PrecomputedFile | None = None

    def __post_init__(self) -> None:
        where = f"features[{self.name}]"
        if isinstance(self.file, dict):
            unknown = sorted(set(self.file) - {f.name for f in fields(PrecomputedFile)})
            if unknown or "path" not in self.file:
                raise UsageError(f"{where}.file needs a path and takes path, rows, pooling, "
                                 f"scalars; got {sorted(self.file)}")
            self.file = PrecomputedFile(**self.file)
        elif self.file is not None and not isinstance(self.file, PrecomputedFile):
            raise UsageError(f"{where}.file must be a mapping with a path, got {self.file!r}")
        if not isinstance(self.name, str) or not self.name.isalnum() or not self.name.isascii():
            raise UsageError(f"features: name must be alphanumeric (a BIDS label), got "
                             f"{self.name!r}")
        if self.kind not in KINDS:
            raise UsageError(f"{where}.kind must be one of {list(KINDS)}, got {self.kind!r}")
        if self.weights not in ("pretrained", "random"):
            raise UsageError(f"{where}.weights must be 'pretrained' or 'random', "
                             f"got {self.weights!r}")
        needs_model = self.file is None and (self.kind in ("speech", "language") or (
            self.kind == "static" and not (self.options or {}).get("glove")))
        if needs_model and not self.model:
            raise UsageError(f"{where}.model is required for kind {self.kind!r} (a Hugging Face "
                             "id such as facebook/wav2vec2-base, or a local directory)")
        if self.layers != "all" and not (
            isinstance(self.layers, list) and self.layers
            and all(isinstance(i, int) and i >= 0 for i in self.layers)
        ):
            raise UsageError(f"{where}.layers must be 'all' or a list of layer indices >= 0, "
                             f"got {self.layers!r}")
        if not isinstance(self.seed, int):
            raise UsageError(f"{where}.seed must be an integer, got {self.seed!r}")
        if not isinstance(self.options, dict):
            raise UsageError(f"{where}.options must be a mapping, got {self.options!r}")
        unknown = sorted(set(self.options) - set(DEFAULT_OPTIONS[self.kind]))
        if unknown:
            raise UsageError(f"{where}.options: unknown key(s) {unknown} for kind {self.kind!r}; "
                             f"valid: {sorted(DEFAULT_OPTIONS[self.kind])}")
        self._check_options(where)

    def _check_options(self, where: str) -> None:
        opts = self.resolved_options()
        for key in ("sfreq", "window_s", "n_mels", "n_fft", "audio_sfreq"):
            if key in opts and not (isinstance(opts[key], int | float) and opts[key] > 0):
                raise UsageError(f"{where}.options.{key} must be > 0, got {opts[key]!r}")
        for key in ("context_s", "lookahead_s"):
            if key in opts and not (isinstance(opts[key], int | float) and opts[key] >= 0):
                raise UsageError(f"{where}.options.{key} must be >= 0, got {opts[key]!r}")
        if "audio_sfreq" in opts and opts["audio_sfreq"] % opts["sfreq"]:
            raise UsageError(f"{where}.options.audio_sfreq ({opts['audio_sfreq']}) must be a "
                             f"multiple of options.sfreq ({opts['sfreq']})")
        if "lowpass" in opts and not 0 < opts["lowpass"] < opts["sfreq"] / 2:
            raise UsageError(f"{where}.options.lowpass must be in (0, sfreq/2), "
                             f"got {opts['lowpass']!r}")
        if opts.get("aggregation", "last") not in ("last", "mean"):
            raise UsageError(f"{where}.options.aggregation must be 'last' or 'mean', "
                             f"got {opts['aggregation']!r}")
        if opts.get("context_scope", "stimulus") not in ("stimulus", "sentence"):
            raise UsageError(f"{where}.options.context_scope must be 'stimulus' or 'sentence', "
                             f"got {opts['context_scope']!r}")
        for key in ("context_tokens", "stride", "batch_size"):
            if opts.get(key) is not None and not (isinstance(opts[key], int) and opts[key] > 0):
                raise UsageError(f"{where}.options.{key} must be a positive integer or null, "
                                 f"got {opts[key]!r}")

    def resolved_options(self) -> dict[str, Any]:
        """The kind's default options updated with the configured ones."""
        return {**DEFAULT_OPTIONS[self.kind], **self.options}

    def settings(self) -> dict[str, Any]:
        """Everything that changes the computed features (goes into the cache key)."""
        out = asdict(self)
        out.pop("name")
        out["options"] = self.resolved_options()
        return out
