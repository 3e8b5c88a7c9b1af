"""``StimulusConfig``: the ``stimulus`` section of the YAML configuration."""

from __future__ import annotations

from dataclasses import dataclass

from bids_app.errors import UsageError

STIMULUS_MODES = ("auto", "anchored", "events", "ids", "onset")


@dataclass(frozen=True)
class StimulusConfig:
    """YAML section ``stimulus``: how each recording's stimuli are found.

    Attributes
    ----------
    mode : str
        ``events``: rows of ``events.tsv`` whose ``column`` names a file in ``BIDS_DIR/stimuli/``.
        ``ids``: rows whose ``column`` holds a stimulus id, mapped to a file of
        ``BIDS_DIR/stimuli/`` by ``pattern`` (the TIMIT style: ``column: trial_type``,
        ``pattern: "{value}.wav"``).
        ``onset``: one stimulus, ``file``, starting at ``onset`` seconds of recording time (the
        ds005574 layout, which has no events). ``anchored``: one stimulus, ``file``, whose
        annotations are in stimulus time, starting ``offset`` seconds after the first event
        whose ``anchor_column`` is ``anchor`` (ds003688: ``anchor: "start task"``). ``auto``
        (default): ``events`` when events name stimulus files, else ``onset`` when ``file`` is
        set.
    file : str | None
        For ``onset`` mode: the audio, relative to ``BIDS_DIR/stimuli/``.
    transcript : str | None
        For ``onset`` mode: the word timings, relative to ``BIDS_DIR/stimuli/``. By default a file
        beside the audio with the same stem.
    tier : str | None
        The tier of a Praat TextGrid transcript that holds the words (None: a tier named
        ``words`` or ``word``, else the first interval tier).
    onset : float
        For ``onset`` mode: when the audio starts, in seconds of recording time.
    column : str
        The events column naming stimulus files (``events``) or ids (``ids``).
    pattern : str
        For ``ids`` mode: the file of an id, with ``{value}`` standing for it.
    anchor : str | None
        For ``anchored`` mode: the value of ``anchor_column`` of the event that marks time 0
        of the stimulus (plus ``offset``).
    anchor_column : str
        The events column holding ``anchor``.
    offset : float
        For ``anchored`` mode: seconds from the anchor event to the start of the stimulus.
    min_overlap : float
        Smallest fraction of each stimulus that must lie inside the recording. Below it the
        recording is refused (exit 65: the onset, the stimulus or the recording is wrong);
        at or above it, a stimulus that runs past either end is clipped with a warning that
        says by how many seconds.
    """

    mode: str = "auto"
    file: str | None = None
    transcript: str | None = None
    tier: str | None = None
    onset: float = 0.0
    column: str = "stim_file"
    pattern: str = "{value}.wav"
    anchor: str | None = None
    anchor_column: str = "trial_type"
    offset: float = 0.0
    min_overlap: float = 0.9

    def __post_init__(self) -> None:
        if not isinstance(self.min_overlap, (int, float)) or not 0 < self.min_overlap <= 1:
            raise UsageError(f"stimulus.min_overlap must be a fraction in (0, 1], got "
                             f"{self.min_overlap!r}")
        if self.mode not in STIMULUS_MODES:
            raise UsageError(f"stimulus.mode must be one of {STIMULUS_MODES}, got {self.mode!r}")
        if "{value}" not in self.pattern:
            raise UsageError(f"stimulus.pattern must contain {{value}} (the id), got "
                             f"{self.pattern!r}")
        if self.mode == "anchored" and not (self.file and self.anchor):
            raise UsageError("stimulus.mode: anchored needs stimulus.file and stimulus.anchor "
                             "(e.g. anchor: 'start task')")
        if self.mode == "onset" and not self.file:
            raise UsageError("stimulus.file is required with stimulus.mode: onset "
                             "(e.g. file: podcast.wav)")
