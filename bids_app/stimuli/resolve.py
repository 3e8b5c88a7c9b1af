"""Resolve the audio and word timings each recording heard (the ``events`` and ``onset`` modes)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile

from bids_app.bids.recording import Recording
from bids_app.errors import BadDataError, MissingInputError, require_readable
from bids_app.stimuli.config import StimulusConfig
from bids_app.stimuli.stimulus import Stimulus, WordTimings

logger = logging.getLogger("ssl_ieeg")
#: How long (s) a transcript's last word may run past the end of its audio.
WORD_END_TOLERANCE = 0.5

#: Transcript formats looked for beside an audio file, in this order.
TRANSCRIPT_SUFFIXES = (".TextGrid", ".tsv", ".csv", ".wrd")


def resolve_stimuli(recording: Recording, bids_dir: Path,
                    config: StimulusConfig) -> list[Stimulus]:
    """List the stimuli of a recording, with their onsets in recording time.

    Parameters
    ----------
    recording : Recording
        The recording, with its (inherited) events.
    bids_dir : Path
        The BIDS root; stimulus files live in ``bids_dir / "stimuli"``.
    config : StimulusConfig
        How stimuli are found.

    Returns
    -------
    stimuli : list of Stimulus
        In order of onset.

    Raises
    ------
    MissingInputError
        When a stimulus is missing, empty or a placeholder, or no stimulus can be found at all.
    """
    stimuli_dir = bids_dir / "stimuli"
    rows = _stimulus_events(recording.events, config.column)
    if config.mode in ("events", "ids") or (config.mode == "auto" and rows is not None):
        if rows is None:
            raise MissingInputError(f"stimulus.mode is '{config.mode}' but "
                                    f"{_no_stimulus_rows(recording, config.column)}.")
        if config.mode == "ids":
            rows = _rows_with_stimuli(rows, recording, stimuli_dir, config)
            names = [config.pattern.format(value=str(v).strip()) for v in rows[config.column]]
        else:
            names = [str(value) for value in rows[config.column]]
        stimuli = [_stimulus(stimuli_dir / name, None, float(onset), config.tier)
                   for onset, name in zip(rows["onset"], names, strict=True)]
    elif config.file:
        transcript = stimuli_dir / config.transcript if config.transcript else None
        onset = (_anchor_onset(recording, config) + config.offset
                 if config.mode == "anchored" else config.onset)
        stimuli = [_stimulus(stimuli_dir / config.file, transcript, onset, config.tier)]
    else:
        raise MissingInputError(
            f"No stimulus found for {recording.data_path}: "
            f"{_no_stimulus_rows(recording, config.column)}. Set stimulus.file (and "
            "stimulus.onset) in the config for a recording with one stimulus at a known time.")
    return sorted(stimuli, key=lambda s: s.onset)


def _anchor_onset(recording: Recording, config: StimulusConfig) -> float:
    """Recording time of the first event whose ``anchor_column`` is ``anchor``."""
    events, column = recording.events, config.anchor_column
    if events is None or column not in events:
        where = recording.events_path or f"the events of {recording.data_path.name}"
        raise MissingInputError(f"stimulus.mode is 'anchored' but {where} has no "
                                f"'{column}' column (stimulus.anchor_column).")
    rows = events[events[column].astype(str).str.strip() == config.anchor]
    if rows.empty:
        raise MissingInputError(
            f"{recording.events_path}: no event with {column} {config.anchor!r} to anchor the "
            f"stimulus (values: {sorted(set(events[column].astype(str)))[:8]}).")
    return float(rows["onset"].iloc[0])


def _rows_with_stimuli(rows: pd.DataFrame, recording: Recording, stimuli_dir: Path,
                       config: StimulusConfig) -> pd.DataFrame:
    """The event rows whose id names a file of ``stimuli_dir`` (``ids`` mode).

    Other ids (e.g. responses in the same ``trial_type`` column) are skipped with a warning
    that names them; none at all is an error.
    """
    ids = rows[config.column].astype(str).str.strip()
    found = ids.map(lambda value: (stimuli_dir / config.pattern.format(value=value)).is_file())
    if not found.any():
        raise MissingInputError(
            f"No id of the '{config.column}' column of {recording.events_path} names a file "
            f"{stimuli_dir / config.pattern} (ids: {sorted(set(ids))[:5]}). Check "
            "stimulus.column and stimulus.pattern.")
    if not found.all():
        skipped = sorted(set(ids[~found]))
        logger.warning("%s: %d event(s) whose id names no file %s are not stimuli: %s",
                       recording.data_path.name, int((~found).sum()), config.pattern,
                       skipped[:5])
    return rows[found.to_numpy()]


def _no_stimulus_rows(recording: Recording, column: str) -> str:
    """Why a recording's events name no stimulus file, naming the events file."""
    events, path = recording.events, recording.events_path
    if events is None:
        return f"no events.tsv applies to {recording.data_path.name}"
    if column not in events:
        return (f"{path} has no '{column}' column naming stimulus files (columns: "
                f"{list(events.columns)}; the column is set by stimulus.column)")
    return f"{path} has no row with a '{column}' value ({len(events)} row(s))"


def _stimulus_events(events: pd.DataFrame | None, column: str) -> pd.DataFrame | None:
    if events is None or column not in events:
        return None
    rows = events[events[column].notna()]
    return rows if len(rows) else None


def _stimulus(audio: Path, transcript: Path | None, onset: float,
              tier: str | None = None) -> Stimulus:
    duration = check_audio(audio)
    if transcript is None:
        transcript = find_transcript(audio)
    elif not transcript.is_file():
        raise MissingInputError(f"The transcript {transcript} named by stimulus.transcript "
                                "does not exist.")
    return Stimulus(stim_id=stimulus_label(audio), audio_path=audio,
                    transcript_path=transcript, onset=onset, duration=duration, tier=tier)


def stimulus_label(audio: Path) -> str:
    """A BIDS-safe label for a stimulus: its file stem without non-alphanumerics."""
    return re.sub(r"[^0-9a-zA-Z]", "", audio.stem) or "stimulus"


def find_transcript(audio: Path) -> Path | None:
    """The word-timing file beside ``audio`` with the same stem, if there is one."""
    for suffix in TRANSCRIPT_SUFFIXES:
        candidate = audio.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def check_audio(path: Path) -> float:
    """Check that ``path`` is a readable, non-empty audio file and return its duration (s).

    Raises
    ------
    MissingInputError
        When the file is missing, empty or a placeholder (e.g. a text stub left by
        bids-examples or an un-fetched git-annex/DataLad file).
    """
    if not path.is_file():
        raise MissingInputError(f"Stimulus file {path} does not exist. Put the audio in "
                                "BIDS_DIR/stimuli/ (e.g. `datalad get stimuli/`).")
    require_readable(path)
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise MissingInputError(
            f"Stimulus file {path} is not readable audio ({path.stat().st_size} bytes): it looks "
            "like a placeholder or an un-fetched annexed file. Replace it with the real "
            "recording.") from err
    if info.frames == 0:
        raise MissingInputError(f"Stimulus file {path} contains no audio samples.")
    return info.frames / info.samplerate


def check_overlap(stimuli: Sequence[Stimulus], duration: float, min_overlap: float,
                  data_path: Path) -> None:
    """Refuse stimuli that lie mostly outside the recording; warn about clipped ones.

    Parameters
    ----------
    stimuli : sequence of Stimulus
        Onsets in seconds of recording time.
    duration : float
        Length of the recording (s).
    min_overlap : float
        ``stimulus.min_overlap``: the smallest fraction of a stimulus inside the recording.
    data_path : Path
        The recording, named in the messages.
    """
    for stimulus in stimuli:
        start, stop = stimulus.onset, stimulus.onset + stimulus.duration
        inside = max(0.0, min(stop, duration) - max(start, 0.0))
        if inside < min_overlap * stimulus.duration:
            raise BadDataError(
                f"{stimulus.audio_path.name} ({stimulus.duration:.1f} s from {start:.1f} s) "
                f"lies {inside / stimulus.duration:.0%} inside {data_path} (0 to "
                f"{duration:.1f} s; stimulus.min_overlap is {min_overlap:g}). Check the "
                "stimulus onset (events.tsv or stimulus.onset) and that the recording is "
                "complete.")
        if inside < stimulus.duration:
            logger.warning("%s: %s is clipped to the recording: %.1f s before its start and "
                           "%.1f s after its end are not modelled", data_path.name,
                           stimulus.audio_path.name, max(0.0, -start),
                           max(0.0, stop - duration))


def check_words_inside(words: WordTimings, stimulus: Stimulus) -> None:
    """Refuse a transcript whose words run past the end of its audio (a wrong transcript,
    or timings in other units), instead of dropping those words.

    A word may end up to :data:`WORD_END_TOLERANCE` seconds after the audio (rounding).
    """
    late = np.flatnonzero((words.onsets >= stimulus.duration)
                          | (words.offsets > stimulus.duration + WORD_END_TOLERANCE))
    if late.size:
        first = late[0]
        raise BadDataError(
            f"{stimulus.transcript_path}: {late.size} word(s) run past the end of "
            f"{stimulus.audio_path.name} ({stimulus.duration:.2f} s), the first "
            f"{words.words[first]!r} at {words.onsets[first]:.2f}-{words.offsets[first]:.2f} s. "
            "Check that the transcript belongs to this audio and that its times are in "
            "seconds from the start of the audio.")
