"""Binary phonetic features from a phone alignment, and a word-onset impulse regressor.

Phones in ARPAbet (CMUdict, MFA; stress digits ignored) or TIMIT (closures, flaps, syllabic
consonants) map to 14 place/manner/voicing features (as in Mesgarani et al., 2014). Affricates
(CH, JH) are both plosive and fricative; W is labial and dorsal. Unknown labels (e.g. IPA) give
all-zero rows and are counted in the metadata.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bids_app.stimuli.alignments import PhoneTimings
from bids_app.stimuli.stimulus import WordTimings

FEATURE_NAMES = ("dorsal", "coronal", "labial", "high", "front", "low", "back", "plosive",
                 "fricative", "syllabic", "nasal", "voiced", "obstruent", "sonorant")

_VOWEL = ("syllabic", "voiced", "sonorant")
_STOP = ("plosive", "obstruent")
_FRIC = ("fricative", "obstruent")
_NASAL = ("nasal", "voiced", "sonorant")

#: ARPAbet phone -> the features it has.
ARPABET: dict[str, tuple[str, ...]] = {
    "B": ("labial", *_STOP, "voiced"), "P": ("labial", *_STOP),
    "D": ("coronal", *_STOP, "voiced"), "T": ("coronal", *_STOP),
    "G": ("dorsal", *_STOP, "voiced"), "K": ("dorsal", *_STOP),
    "CH": ("coronal", *_STOP, "fricative"), "JH": ("coronal", *_STOP, "fricative", "voiced"),
    "F": ("labial", *_FRIC), "V": ("labial", *_FRIC, "voiced"),
    "TH": ("coronal", *_FRIC), "DH": ("coronal", *_FRIC, "voiced"),
    "S": ("coronal", *_FRIC), "Z": ("coronal", *_FRIC, "voiced"),
    "SH": ("coronal", *_FRIC), "ZH": ("coronal", *_FRIC, "voiced"),
    "HH": _FRIC,
    "M": ("labial", *_NASAL), "N": ("coronal", *_NASAL), "NG": ("dorsal", *_NASAL),
    "L": ("coronal", "voiced", "sonorant"), "R": ("coronal", "voiced", "sonorant"),
    "W": ("labial", "dorsal", "high", "back", "voiced", "sonorant"),
    "Y": ("dorsal", "high", "front", "voiced", "sonorant"),
    "IY": ("high", "front", *_VOWEL), "IH": ("high", "front", *_VOWEL),
    "EY": ("front", *_VOWEL), "EH": ("front", *_VOWEL), "AE": ("low", "front", *_VOWEL),
    "AA": ("low", "back", *_VOWEL), "AO": ("low", "back", *_VOWEL), "AH": _VOWEL,
    "UH": ("high", "back", *_VOWEL), "UW": ("high", "back", *_VOWEL), "ER": _VOWEL,
    "AW": ("low", *_VOWEL), "AY": ("low", *_VOWEL), "OW": ("back", *_VOWEL),
    "OY": ("back", *_VOWEL),
}

#: TIMIT (and Festival) labels that are not ARPAbet -> their ARPAbet equivalent.
TIMIT_TO_ARPABET = {
    "AX": "AH", "AX-H": "AH", "IX": "IH", "AXR": "ER", "UX": "UW", "DX": "D", "NX": "N",
    "EM": "M", "EN": "N", "ENG": "NG", "EL": "L", "HV": "HH", "Q": "T", "BCL": "B",
    "DCL": "D", "GCL": "G", "PCL": "P", "TCL": "T", "KCL": "K",
}


def phone_features(label: str) -> tuple[str, ...] | None:
    """The features of one phone label (case and stress digits ignored); None if unknown."""
    phone = label.strip().upper().rstrip("012")
    phone = TIMIT_TO_ARPABET.get(phone, phone)
    return ARPABET.get(phone)


def phonetic_matrix(phones: PhoneTimings, n_frames: int,
                    sfreq: float) -> tuple[np.ndarray, list[str]]:
    """Frame-by-feature binary matrix: 1 where the frame time falls inside a phone with it.

    Parameters
    ----------
    phones : PhoneTimings
        The phone alignment.
    n_frames : int
        Frames; frame ``k`` is at ``k / sfreq`` seconds.
    sfreq : float
        Frame rate in Hz.

    Returns
    -------
    matrix : ndarray, shape (n_frames, 14)
        float32 of 0/1, columns in :data:`FEATURE_NAMES` order.
    unknown : list of str
        Phone labels that have no mapping.
    """
    matrix = np.zeros((n_frames, len(FEATURE_NAMES)), dtype=np.float32)
    unknown: list[str] = []
    column = {name: j for j, name in enumerate(FEATURE_NAMES)}
    for label, onset, offset in zip(phones.phones, phones.onsets, phones.offsets, strict=True):
        features = phone_features(label)
        if features is None:
            unknown.append(label)
            continue
        start, stop = math.ceil(onset * sfreq - 1e-9), math.ceil(offset * sfreq - 1e-9)
        matrix[max(start, 0):min(stop, n_frames), [column[f] for f in features]] = 1.0
    return matrix, sorted(set(unknown))


def word_onset_impulses(words: WordTimings, n_frames: int, sfreq: float) -> np.ndarray:
    """1.0 at the frame nearest each word onset, 0 elsewhere; shape (n_frames, 1)."""
    out = np.zeros((n_frames, 1), dtype=np.float32)
    frames = np.round(np.asarray(words.onsets) * sfreq).astype(int)
    out[frames[(frames >= 0) & (frames < n_frames)], 0] = 1.0
    return out


def find_phone_file(audio_path: Path, configured: str | None) -> Path | None:
    """The phone alignment of a stimulus: the configured file, else one beside the audio.

    Parameters
    ----------
    audio_path : Path
        The stimulus audio.
    configured : str | None
        The ``phones`` option (absolute, or relative to the audio's folder).

    Returns
    -------
    path : Path | None
        ``<stem>_phones.TextGrid``, ``<stem>_phone.lab``, ``<stem>.phn``, ``<stem>.lab`` or
        ``<stem>.TextGrid`` (first that exists), or None.
    """
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else audio_path.parent / path
    stem = audio_path.with_suffix("")
    for suffix in _PHONE_SUFFIXES:
        candidate = stem.parent / (stem.name + suffix)
        if candidate.is_file():
            return candidate
    return None


_PHONE_SUFFIXES: Sequence[str] = ("_phones.TextGrid", "_phone.TextGrid", "_phones.lab",
                                  "_phone.lab", ".phn", ".lab", "_phones.tsv", ".TextGrid")
