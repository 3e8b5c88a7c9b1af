"""Acoustic baselines from the audio: amplitude envelope, log-mel spectrogram, peak rate.

Each function takes mono audio at ``audio_sfreq`` and returns frame times (seconds of stimulus
time) and a ``(n_frames, n_dims)`` float32 matrix.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import next_fast_len
from scipy.signal import butter, find_peaks, hilbert, resample_poly, sosfiltfilt

from bids_app.errors import UsageError

_MEL_CHUNK_FRAMES = 4096  # frames per FFT batch: bounds memory on long audio


def envelope(audio: np.ndarray, audio_sfreq: float, sfreq: float = 100.0,
             lowpass: float = 30.0, block_s: float | None = 60.0,
             margin_s: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Broadband amplitude envelope: ``|hilbert(audio)|``, low-passed, resampled to ``sfreq``.

    Long audio is processed in blocks of ``block_s`` seconds, each with ``margin_s`` seconds
    of the neighbouring audio on both sides (dropped after filtering), so memory does not
    grow with the audio length.

    Parameters
    ----------
    audio : ndarray, shape (n_samples,)
        Mono audio.
    audio_sfreq : float
        Its sampling rate in Hz; must be a multiple of ``sfreq``.
    sfreq : float
        Output frame rate in Hz; sample ``k`` is at ``k / sfreq`` seconds.
    lowpass : float
        Cut-off (Hz) of the zero-phase 4th-order Butterworth low-pass applied to the envelope.
    block_s : float | None
        Seconds of audio per block; None transforms the whole audio at once.
    margin_s : float
        Seconds of overlap on each side of a block.

    Returns
    -------
    times : ndarray, shape (n_frames,)
    values : ndarray, shape (n_frames, 1)
    """
    n = audio.shape[0]
    step = _integer_step(audio_sfreq, sfreq)
    block = n if block_s is None else max(round(block_s * sfreq), 1) * step
    margin = round(margin_s * sfreq) * step
    sos = butter(4, lowpass, btype="low", fs=audio_sfreq, output="sos")
    n_out = -(-n // step)  # what resample_poly gives for the whole audio
    out = np.empty(n_out, dtype=np.float32)
    for start in range(0, n, block):
        lo, hi = max(start - margin, 0), min(start + block + margin, n)
        part = audio[lo:hi].astype(np.float64)
        env = np.abs(hilbert(part, N=next_fast_len(part.size))[:part.size])
        env = resample_poly(sosfiltfilt(sos, env), 1, step)
        first = (start - lo) // step  # lo and start are multiples of step
        count = min(-(-min(start + block, n) // step), n_out) - start // step
        out[start // step:start // step + count] = np.maximum(env[first:first + count], 0.0)
    return np.arange(n_out) / sfreq, out[:, None]


def peak_rate(audio: np.ndarray, audio_sfreq: float, sfreq: float = 100.0,
              lowpass: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Peak rate: the local maxima of the envelope's positive rate of change, zero elsewhere.

    Parameters
    ----------
    audio : ndarray, shape (n_samples,)
        Mono audio.
    audio_sfreq : float
        Its sampling rate in Hz.
    sfreq : float
        Output frame rate in Hz.
    lowpass : float
        Low-pass (Hz) of the envelope before differentiation (10 Hz as in Oganian & Chang, 2019).

    Returns
    -------
    times : ndarray, shape (n_frames,)
    values : ndarray, shape (n_frames, 1)
        The derivative's value (envelope units per second) at each peak, 0 between peaks.
    """
    times, env = envelope(audio, audio_sfreq, sfreq, lowpass)
    rate = np.maximum(np.diff(env[:, 0], prepend=env[0, 0]) * sfreq, 0.0)
    peaks, _ = find_peaks(rate)
    out = np.zeros_like(env)
    out[peaks, 0] = rate[peaks]
    return times, out


def log_mel(audio: np.ndarray, audio_sfreq: float, sfreq: float = 100.0, n_mels: int = 80,
            window_s: float = 0.025, n_fft: int = 512, fmin: float = 0.0,
            fmax: float = 8000.0) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel spectrogram with Hann windows; frames stamped at their window centre.

    Frame ``i`` covers samples ``[i * hop, i * hop + win)`` with ``hop = audio_sfreq / sfreq``
    and ``win = window_s * audio_sfreq``; no padding, so there are
    ``floor((n - win) / hop) + 1`` frames.

    Parameters
    ----------
    audio : ndarray, shape (n_samples,)
        Mono audio.
    audio_sfreq : float
        Its sampling rate in Hz.
    sfreq : float
        Frame rate in Hz.
    n_mels : int
        Number of mel bands (Slaney mel scale and area normalisation).
    window_s : float
        Window length in seconds.
    n_fft : int
        FFT length (>= the window length in samples).
    fmin, fmax : float
        Frequency range of the filterbank in Hz.

    Returns
    -------
    times : ndarray, shape (n_frames,)
    values : ndarray, shape (n_frames, n_mels)
        ``log(power + 1e-10)``, float32.
    """
    from transformers.audio_utils import mel_filter_bank

    hop = _integer_step(audio_sfreq, sfreq)
    win = round(window_s * audio_sfreq)
    n_fft = max(n_fft, win)
    n_frames = max((audio.shape[0] - win) // hop + 1, 0)
    bank = mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels,
                           min_frequency=fmin, max_frequency=min(fmax, audio_sfreq / 2),
                           sampling_rate=int(audio_sfreq), norm="slaney", mel_scale="slaney")
    bank = bank.astype(np.float32)
    window = np.hanning(win + 2)[1:-1].astype(np.float32)  # periodic-free symmetric Hann
    out = np.empty((n_frames, n_mels), dtype=np.float32)
    frames_view = np.lib.stride_tricks.sliding_window_view(audio.astype(np.float32), win)[::hop]
    for start in range(0, n_frames, _MEL_CHUNK_FRAMES):
        block = frames_view[start:start + _MEL_CHUNK_FRAMES] * window
        power = np.abs(np.fft.rfft(block, n=n_fft, axis=1)) ** 2
        out[start:start + block.shape[0]] = np.log(power.astype(np.float32) @ bank + 1e-10)
    times = (np.arange(n_frames) * hop + win / 2) / audio_sfreq
    return times, out


def _integer_step(audio_sfreq: float, sfreq: float) -> int:
    step = audio_sfreq / sfreq
    if abs(step - round(step)) > 1e-9:
        raise UsageError(f"options.audio_sfreq ({audio_sfreq} Hz) must be a multiple of "
                         f"options.sfreq ({sfreq} Hz)")
    return round(step)
