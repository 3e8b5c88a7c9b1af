"""Layer-wise features of a speech encoder (Wav2Vec2, HuBERT, WavLM, data2vec-audio, Whisper).

The encoder's front end maps samples to frames: frame ``i`` covers samples
``[hop * i - pad, hop * i - pad + rf)`` and is stamped at the receptive-field centre. Waveform
encoders have no padding (``hop = 320``, ``rf = 400`` at 16 kHz for wav2vec2-base: there are
``floor((n - rf) / hop) + 1`` frames). Whisper's encoder takes a centred log-mel spectrogram
(hop 160, window 400) through two convolutions (kernel 3, strides 1 and 2, padding 1): ``hop =
320``, ``rf = 1040``, ``pad = 520``, so frame ``i`` is centred on sample ``320 i``; each window
is turned into log-mel features by the model's feature extractor, which pads it to 30 s.

Layers are the model's ``hidden_states``: ``layer00`` is the transformer's input (the CNN
feature-encoder output after the feature projection, the convolutional positional embedding and
the encoder layer norm, as Hugging Face returns it), ``layer01`` ... ``layerNN`` the transformer
layers.

Long audio runs in windows of ``window_s`` seconds: ``context_s`` of left context and
``lookahead_s`` of right context around a central block whose frames are kept. Windows start on
the frame grid, so kept frames are exactly those of a single pass over the whole audio; their
values differ only through what a frame sees beyond its window: attention, the convolutional
positional embedding and, with ``feat_extract_norm: group`` (wav2vec2-base), the first CNN
layer's normalisation over time (the tests bound the difference on 30 s of audio). Memory is
bounded by the window, and layers are written into caller-provided arrays (on disk in the
cache), so it stays flat in the audio length.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from bids_app.errors import BadDataError, UsageError
from bids_app.features.models import LOG_MEL_ENCODERS, ModelSource
from bids_app.layers import layer_name
from bids_app.stimuli.stimulus import WordTimings

if TYPE_CHECKING:
    import torch

logger = logging.getLogger("ssl_ieeg")

#: Whisper's spectrogram hop (samples at 16 kHz); its window is 400 samples, centred.
WHISPER_MEL_HOP = 160

Allocate = Callable[[str, tuple[int, int]], Any]


@dataclass(frozen=True)
class FrameGeometry:
    """The frame grid of a convolutional speech front end.

    Attributes
    ----------
    sfreq : int
        Input sampling rate (Hz).
    hop : int
        Samples between frames (product of the conv strides).
    receptive_field : int
        Samples seen by one frame.
    """

    sfreq: int
    hop: int
    receptive_field: int
    pad: int = 0

    @property
    def centre(self) -> float:
        """Samples from a frame's start on the grid (``hop * i``) to its receptive-field centre."""
        return self.receptive_field / 2 - self.pad

    def n_frames(self, n_samples: int) -> int:
        """Number of frames for ``n_samples`` input samples (0 if shorter than one frame)."""
        if n_samples + 2 * self.pad < self.receptive_field:
            return 0
        return (n_samples + 2 * self.pad - self.receptive_field) // self.hop + 1

    def times(self, frames: np.ndarray) -> np.ndarray:
        """Receptive-field centre of frames, in seconds."""
        return (np.asarray(frames) * self.hop + self.centre) / self.sfreq

    def span(self, window: Window) -> tuple[int, int]:
        """Input samples of a window: from its first frame's grid start to the end of its last
        frame's receptive field (a padded front end pads the start itself)."""
        return (window.first * self.hop,
                (window.stop - 1) * self.hop - self.pad + self.receptive_field)


def frame_geometry(config: Any, sfreq: int = 16000) -> FrameGeometry:
    """Hop and receptive field from a model config's ``conv_kernel`` and ``conv_stride``.

    Parameters
    ----------
    config : PretrainedConfig
        A wav2vec2-style config.
    sfreq : int
        Sampling rate of the model input.

    Returns
    -------
    geometry : FrameGeometry
    """
    if config.model_type in LOG_MEL_ENCODERS:
        return FrameGeometry(sfreq, WHISPER_MEL_HOP * 2, 400 + 4 * WHISPER_MEL_HOP,
                             200 + 2 * WHISPER_MEL_HOP)
    kernels = getattr(config, "conv_kernel", None)
    strides = getattr(config, "conv_stride", None)
    if not kernels or not strides:
        raise UsageError(f"model type {config.model_type!r} has no conv_kernel/conv_stride: "
                         "kind 'speech' supports wav2vec2-style encoders (Wav2Vec2, HuBERT, "
                         "WavLM, data2vec-audio) and Whisper's encoder")
    receptive, jump = 1, 1
    for kernel, stride in zip(kernels, strides, strict=True):
        receptive += (kernel - 1) * jump
        jump *= stride
    return FrameGeometry(sfreq, jump, receptive)


@dataclass(frozen=True)
class Window:
    """One forward pass: input frames ``[first, stop)``, of which ``[keep_start, keep_stop)``
    are kept (global frame indices; the rest is left and right context)."""

    first: int
    keep_start: int
    keep_stop: int
    stop: int


def plan_windows(n_frames: int, geometry: FrameGeometry, window_s: float, context_s: float,
                 lookahead_s: float) -> list[Window]:
    """Split ``n_frames`` into windows whose central frames tile the whole grid once.

    Parameters
    ----------
    n_frames : int
        Frames of the whole audio.
    geometry : FrameGeometry
        The frame grid.
    window_s, context_s, lookahead_s : float
        Window length, left context and right context in seconds.

    Returns
    -------
    windows : list of Window
    """
    rate = geometry.sfreq / geometry.hop
    context, lookahead = round(context_s * rate), round(lookahead_s * rate)
    keep = round(window_s * rate) - context - lookahead
    if keep < 1:
        raise UsageError(f"speech options: window_s ({window_s}) must exceed context_s + "
                         f"lookahead_s ({context_s} + {lookahead_s})")
    return [Window(max(0, start - context), start, min(start + keep, n_frames),
                    min(start + keep + lookahead, n_frames))
            for start in range(0, n_frames, keep)]


@dataclass(frozen=True)
class SpeechInput:
    """How an encoder takes audio.

    Attributes
    ----------
    sfreq : int
        The model's input rate.
    normalize : bool
        Whether the waveform is normalised to zero mean and unit variance first.
    log_mel : FeatureExtractionMixin | None
        The feature extractor that turns each window into log-mel input (Whisper), or None for
        waveform encoders.
    """

    sfreq: int
    normalize: bool
    log_mel: Any = None


def input_settings(source: ModelSource, config: Any) -> SpeechInput:
    """The model's input rate, normalisation and, for Whisper, its log-mel extractor.

    Read from ``preprocessor_config.json``; without one, the Wav2Vec2 defaults apply (16 kHz,
    normalised), or Whisper's extractor with the config's number of mel bins.
    """
    from transformers import AutoFeatureExtractor, WhisperFeatureExtractor

    log_mel = config.model_type in LOG_MEL_ENCODERS
    if (source.path / "preprocessor_config.json").is_file():
        extractor = AutoFeatureExtractor.from_pretrained(source.path)
    elif log_mel:
        extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
    else:
        logger.info("%s has no preprocessor_config.json: 16 kHz, normalised input", source.path)
        return SpeechInput(16000, True)
    sfreq = int(getattr(extractor, "sampling_rate", 16000))
    if log_mel:  # Whisper's extractor does not normalise the waveform
        return SpeechInput(sfreq, False, extractor)
    return SpeechInput(sfreq, bool(getattr(extractor, "do_normalize", True)))


def run_windows(model: torch.nn.Module, audio: np.ndarray, geometry: FrameGeometry,
                windows: list[Window], layers: list[int], *, device: str,
                batch_size: int = 1, log_mel: Any = None,
                verbose: bool = False) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
    """Run the encoder window by window; yield the kept frames of each window.

    Parameters
    ----------
    model : torch.nn.Module
        The encoder in eval mode.
    audio : ndarray, shape (n_samples,)
        Audio at ``geometry.sfreq`` (normalised if the model expects it).
    geometry : FrameGeometry
        The frame grid.
    windows : list of Window
        From :func:`plan_windows`.
    layers : list of int
        Hidden-state indices to return.
    device : str
        Torch device.
    batch_size : int
        Windows per forward pass.
    log_mel : FeatureExtractionMixin | None
        Whisper's feature extractor (windows become padded 30-s log-mel inputs), or None to
        feed the waveform.
    verbose : bool
        Show a progress bar.

    Yields
    ------
    first_kept : int
        Global index of the first kept frame.
    values : dict of int to ndarray, shape (n_kept, n_dims)
        Kept frames of each requested layer (float32).
    """
    import torch

    batches = _batches(windows, batch_size, same_length=log_mel is None)
    for batch in tqdm(batches, desc="speech windows", disable=not verbose, unit="batch"):
        segments = [audio[slice(*geometry.span(w))] for w in batch]
        if log_mel is None:
            inputs = torch.from_numpy(np.stack(segments))
        else:
            inputs = log_mel(segments, sampling_rate=geometry.sfreq,
                             return_tensors="pt").input_features
        with torch.inference_mode():
            hidden = model(inputs.to(device), output_hidden_states=True).hidden_states
        for i, window in enumerate(batch):
            lo, hi = window.keep_start - window.first, window.keep_stop - window.first
            yield window.keep_start, {
                layer: hidden[layer][i, lo:hi].float().cpu().numpy() for layer in layers}


def _batches(windows: list[Window], batch_size: int,
             same_length: bool = True) -> list[list[Window]]:
    """Group consecutive windows (of equal input length with ``same_length``: no padding)."""
    batches: list[list[Window]] = []
    for window in windows:
        last = batches[-1] if batches else None
        if (last and len(last) < batch_size
                and (not same_length
                     or last[0].stop - last[0].first == window.stop - window.first)):
            last.append(window)
        else:
            batches.append([window])
    return batches


def word_frame_ranges(words: WordTimings, geometry: FrameGeometry,
                      n_frames: int) -> np.ndarray:
    """Frames whose centre falls inside each word; the nearest frame for very short words.

    Returns
    -------
    ranges : ndarray, shape (n_words, 2)
        ``[start, stop)`` frame indices per word.
    """
    half = geometry.centre
    onsets = np.asarray(words.onsets) * geometry.sfreq
    offsets = np.asarray(words.offsets) * geometry.sfreq
    start = np.ceil((onsets - half) / geometry.hop).astype(int)
    stop = np.ceil((offsets - half) / geometry.hop).astype(int)
    nearest = np.round(((onsets + offsets) / 2 - half) / geometry.hop).astype(int)
    empty = stop <= start
    start[empty], stop[empty] = nearest[empty], nearest[empty] + 1
    return np.clip(np.stack([start, stop], axis=1), 0, n_frames)


def speech_features(model: torch.nn.Module, audio: np.ndarray, setting: SpeechInput,
                    layers: list[int] | str, allocate: Allocate, *, device: str,
                    options: dict[str, Any], words: WordTimings | None = None,
                    verbose: bool = False) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    """Frame-level (or word-pooled) hidden states of a speech encoder.

    Parameters
    ----------
    model : torch.nn.Module
        The model (eval mode, on ``device``); an encoder-decoder's encoder is used.
    audio : ndarray, shape (n_samples,)
        Mono audio at the model's rate, not yet normalised.
    setting : SpeechInput
        From :func:`input_settings`. A waveform is normalised once over the whole stimulus
        (as the feature extractor does on a single pass), so windows see the same scaling.
    layers : list of int | "all"
        Hidden-state indices to keep.
    allocate : callable
        ``allocate(name, shape)`` returns a float32 array-like to fill (on disk in the cache).
    device : str
        Torch device.
    options : dict
        The ``speech`` options (window_s, context_s, lookahead_s, batch_size (None: 1 on CPU,
        8 on CUDA), word_pooling).
    words : WordTimings | None
        Needed for ``word_pooling``.
    verbose : bool
        Progress bar.

    Returns
    -------
    times : ndarray
        Frame centres, or word onsets with word pooling.
    values : dict of str to array-like
        ``layerNN`` matrices.
    meta : dict
        Frame geometry and window settings.
    """
    geometry = frame_geometry(model.config, setting.sfreq)
    if model.config.is_encoder_decoder:
        model = model.get_encoder()
    audio = audio.astype(np.float32)
    if setting.normalize:
        audio = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    n_frames = geometry.n_frames(audio.shape[0])
    if n_frames == 0:
        raise BadDataError(f"the audio is shorter than one model frame "
                           f"({geometry.receptive_field} samples)")
    indices = _layer_indices(layers, model.config.num_hidden_layers + 1)
    names = {i: layer_name(i) for i in indices}
    windows = plan_windows(n_frames, geometry, options["window_s"], options["context_s"],
                           options["lookahead_s"])
    if setting.log_mel is not None:
        _check_log_mel_windows(windows, geometry, setting.log_mel.n_samples, options)
    batch_size = options["batch_size"] or (8 if device == "cuda" else 1)
    chunks = run_windows(model, audio, geometry, windows, indices, device=device,
                         batch_size=batch_size, log_mel=setting.log_mel, verbose=verbose)
    meta = {"FrameHop": geometry.hop, "ReceptiveField": geometry.receptive_field,
            "ModelSamplingFrequency": geometry.sfreq,
            "SamplingFrequency": geometry.sfreq / geometry.hop, "NumWindows": len(windows)}
    dim = model.config.hidden_size
    if options["word_pooling"]:
        if words is None:
            raise UsageError("speech option word_pooling needs word timings")
        ranges = word_frame_ranges(words, geometry, n_frames)
        pooled = _pool_words(chunks, ranges, names, dim)
        return np.asarray(words.onsets, dtype=float), pooled, meta
    out = {name: allocate(name, (n_frames, dim)) for name in names.values()}
    for first, values in chunks:
        for index, name in names.items():
            out[name][first:first + values[index].shape[0]] = values[index]
    return geometry.times(np.arange(n_frames)), out, meta


def _check_log_mel_windows(windows: list[Window], geometry: FrameGeometry, n_samples: int,
                           options: dict[str, Any]) -> None:
    """Whisper's extractor cuts its input at ``n_samples`` (30 s): a longer window would lose
    its end silently."""
    longest = max(stop - start for start, stop in map(geometry.span, windows))
    if longest > n_samples:
        raise UsageError(
            f"speech options: window_s {options['window_s']} is too long for this encoder, "
            f"which sees at most {n_samples / geometry.sfreq:g} s; set window_s to at most "
            f"{(n_samples - geometry.receptive_field) / geometry.sfreq:g}")


def _layer_indices(layers: list[int] | str, n_states: int) -> list[int]:
    if layers == "all":
        return list(range(n_states))
    bad = [i for i in layers if i >= n_states]
    if bad:
        raise UsageError(f"layers {bad} do not exist: the model has hidden states "
                         f"0..{n_states - 1}")
    return list(layers)


def _pool_words(chunks: Iterator[tuple[int, dict[int, np.ndarray]]], ranges: np.ndarray,
                names: dict[int, str], dim: int) -> dict[str, np.ndarray]:
    """Mean over each word's frames, accumulated chunk by chunk."""
    sums = {index: np.zeros((ranges.shape[0], dim)) for index in names}
    counts = np.zeros(ranges.shape[0])
    for first, values in chunks:
        last = first + next(iter(values.values())).shape[0]
        touching = np.flatnonzero((ranges[:, 0] < last) & (ranges[:, 1] > first))
        for w in touching:
            lo, hi = max(ranges[w, 0], first) - first, min(ranges[w, 1], last) - first
            counts[w] += hi - lo
            for index in names:
                sums[index][w] += values[index][lo:hi].sum(axis=0)
    counts = np.maximum(counts, 1)[:, None]
    return {names[index]: (total / counts).astype(np.float32) for index, total in sums.items()}

