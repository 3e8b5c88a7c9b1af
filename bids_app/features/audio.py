"""Audio reading: soundfile, mono, resampled with a polyphase filter."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from bids_app.errors import BadDataError, MissingInputError


def read_audio(path: str | Path, sfreq: float) -> np.ndarray:
    """Read an audio file as mono float32 at ``sfreq``.

    Parameters
    ----------
    path : str | Path
        Any format libsndfile reads (WAV, FLAC, OGG, ...).
    sfreq : float
        Target sampling rate in Hz; the audio is resampled with ``scipy.signal.resample_poly``.

    Returns
    -------
    audio : ndarray, shape (n_samples,)
        Mono signal (channel mean), float32.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: audio file not found")
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise BadDataError(f"{path}: not a readable audio file ({err}); replace it with the "
                           "real recording (WAV or FLAC)") from err
    if data.shape[0] == 0:
        raise BadDataError(f"{path}: the audio file has no samples")
    mono = data.mean(axis=1)
    if rate != sfreq:
        ratio = Fraction(float(sfreq) / rate).limit_denominator(1000)
        mono = resample_poly(mono, ratio.numerator, ratio.denominator).astype(np.float32)
    return mono
