"""The ``preprocessing`` and ``electrodes`` sections of the YAML configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from bids_app.errors import UsageError

REFERENCES = ("car", "bipolar", "none")
HIGHGAMMA_METHODS = ("multiband", "butterworth")
ZSCORE_MODES = ("recording", "baseline")
#: Default band per high-gamma method: Chang lab (multiband) and Podcast/Hasson lab (butterworth).
DEFAULT_BANDS = {"multiband": [70.0, 150.0], "butterworth": [70.0, 200.0]}
ELECTRODE_MASKS = ("all", "responsive")


@dataclass
class PreprocessingConfig:
    """How raw iEEG becomes z-scored high-gamma (YAML section ``preprocessing``).

    Attributes
    ----------
    line_freq : float | str
        Power-line frequency in Hz, notched with its harmonics below Nyquist. ``"auto"`` reads
        ``PowerLineFrequency`` from the ``_ieeg.json``, then the ``notch`` column of
        ``channels.tsv``, and otherwise uses 60 Hz with a warning.
    reference : str
        ``"car"``: common average over good channels (per ``group`` of ``channels.tsv`` when that
        column exists); ``"bipolar"``: differences of neighbouring contacts on one shaft or strip;
        ``"none"``: keep the recorded reference.
    highgamma : str
        ``"multiband"`` (Chang lab): ``n_bands`` Gaussian bands with log-spaced centres across
        ``band``, Hilbert amplitude averaged over bands. ``"butterworth"`` (Podcast dataset):
        one zero-phase Butterworth band-pass of order ``butterworth_order``, Hilbert amplitude.
    band : list of float | None
        ``[low, high]`` in Hz. None uses the method's default: 70–150 Hz for ``multiband``,
        70–200 Hz for ``butterworth`` (capped below Nyquist).
    n_bands : int
        Number of Gaussian bands of ``multiband`` (8 in the Chang lab).
    butterworth_order : int
        Order of the Butterworth band-pass (4 in the Podcast dataset).
    sfreq_out : float
        Sampling rate of the high-gamma output in Hz.
    zscore : str
        ``"recording"``: mean and standard deviation over the whole recording; ``"baseline"``:
        over ``baseline`` (or the time before the first event when ``baseline`` is None).
    baseline : list of float | None
        ``[start, stop]`` in seconds of recording time, used when ``zscore="baseline"``.
    auto_flag : bool
        Exclude the channels that QC flags: flat or extremely noisy (robust z-score of the
        log-variance), line noise (of the line-noise ratio), epileptiform-like spikes (of
        the rate of steep transients, at least one a minute). Off (default): flagged
        channels are modelled, and their flags are written to the ``status_description``
        of the derivative ``_channels.tsv``, to the log and to the report's QC section.
        Defective channels (non-finite, clipped, dead) are excluded either way.
    auto_flag_threshold : float
        Robust z-score (median/MAD) above which a channel is flagged.
    derivative : str | None
        Path or glob pattern of an already-preprocessed high-gamma FIF (for example
        ``"derivatives/ecogprep/sub-{subject}/ieeg/*_desc-highgamma_ieeg.fif"``), relative to
        the BIDS root. ``{subject}``, ``{session}``, ``{task}``, ``{run}`` are filled in. When
        set, the app skips its own filtering and only resamples and z-scores.
    block_size : int
        Channels processed at once; bounds memory (about ``block_size * n_times * 40`` bytes).
    """

    line_freq: float | str = "auto"
    reference: str = "car"
    highgamma: str = "multiband"
    band: list[float] | None = None
    n_bands: int = 8
    butterworth_order: int = 4
    sfreq_out: float = 100.0
    zscore: str = "recording"
    baseline: list[float] | None = None
    auto_flag: bool = False
    auto_flag_threshold: float = 5.0
    derivative: str | None = None
    block_size: int = field(default=16, metadata={"memory_only": True})  # not keyed

    def __post_init__(self) -> None:
        _check_choice("reference", self.reference, REFERENCES)
        _check_choice("highgamma", self.highgamma, HIGHGAMMA_METHODS)
        _check_choice("zscore", self.zscore, ZSCORE_MODES)
        if isinstance(self.line_freq, str):
            if self.line_freq != "auto":
                raise UsageError("preprocessing.line_freq must be 'auto' or a frequency in Hz, "
                                 f"got {self.line_freq!r}")
        elif not self.line_freq > 0:
            raise UsageError(f"preprocessing.line_freq must be > 0, got {self.line_freq}")
        if self.band is not None and (len(self.band) != 2 or not 0 < self.band[0] < self.band[1]):
            raise UsageError(f"preprocessing.band must be [low, high] with 0 < low < high, "
                             f"got {self.band}")
        _check_min("n_bands", self.n_bands, 1)
        _check_min("butterworth_order", self.butterworth_order, 1)
        _check_min("block_size", self.block_size, 1)
        if not self.sfreq_out > 0:
            raise UsageError(f"preprocessing.sfreq_out must be > 0, got {self.sfreq_out}")
        if self.sfreq_out < 2 * 10:
            raise UsageError("preprocessing.sfreq_out must be >= 20 Hz to keep the envelope "
                             f"dynamics, got {self.sfreq_out}")
        if self.baseline is not None and (len(self.baseline) != 2
                                          or not self.baseline[0] < self.baseline[1]):
            raise UsageError("preprocessing.baseline must be [start, stop] with start < stop, "
                             f"got {self.baseline}")
        if not self.auto_flag_threshold > 0:
            raise UsageError("preprocessing.auto_flag_threshold must be > 0, "
                             f"got {self.auto_flag_threshold}")

    @property
    def resolved_band(self) -> list[float]:
        """The band in Hz after applying the method's default."""
        band = DEFAULT_BANDS[self.highgamma] if self.band is None else self.band
        return [float(band[0]), float(band[1])]


@dataclass(frozen=True)
class ElectrodeConfig:
    """Which electrodes are modelled (YAML section ``electrodes``).

    Attributes
    ----------
    mask : str
        ``"all"`` (default): every good channel. ``"responsive"``: only speech-responsive
        electrodes. Responsiveness is computed and reported in the scores tables either way
        when there are two or more onsets.
    window, baseline : list of float
        ``[start, stop]`` in seconds from each onset, compared by the paired t-test.
    alpha : float
        Family-wise error rate of the Bonferroni-corrected test.
    pause : float
        A recording with fewer than two stimulus onsets (one continuous story, as in
        ds005574) uses phrase onsets instead: every word that follows at least this many
        seconds without speech (and the first word), from the transcript.
    """

    mask: str = "all"
    window: list[float] = field(default_factory=lambda: [0.0, 0.5])
    baseline: list[float] = field(default_factory=lambda: [-0.5, 0.0])
    alpha: float = 0.05
    pause: float = 0.5

    def __post_init__(self) -> None:
        if not self.pause > 0:
            raise UsageError(f"electrodes.pause must be > 0 seconds, got {self.pause}")
        if self.mask not in ELECTRODE_MASKS:
            raise UsageError(f"electrodes.mask must be one of {ELECTRODE_MASKS}, "
                             f"got {self.mask!r}")
        for key in ("window", "baseline"):
            value = getattr(self, key)
            if len(value) != 2 or not value[0] < value[1]:
                raise UsageError(f"electrodes.{key} must be [start, stop] with start < stop, "
                                 f"got {value}")
        if not 0 < self.alpha < 1:
            raise UsageError(f"electrodes.alpha must be in (0, 1), got {self.alpha}")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"preprocessing.{key} must be one of {list(choices)}, got {value!r}")


def _check_min(key: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or value < minimum:
        raise UsageError(f"preprocessing.{key} must be an integer >= {minimum}, got {value!r}")
