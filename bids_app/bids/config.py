"""``BidsConfig``: the ``bids`` section of the YAML configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from bids_app.errors import UsageError


@dataclass(frozen=True)
class BidsConfig:
    """YAML section ``bids``: how metadata is chosen when a dataset offers several.

    Attributes
    ----------
    electrode_spaces : list of str
        Preferred ``space-`` labels of ``electrodes.tsv``, best first. When none is present, any
        space whose name starts with ``MNI`` is taken, then the first file found.
    """

    electrode_spaces: list[str] = field(default_factory=lambda: [
        "MNI152NLin2009aSym", "MNI152NLin2009cAsym", "MNI152NLin6Asym", "MNI305", "fsaverage"])

    def __post_init__(self) -> None:
        if not all(isinstance(s, str) and s for s in self.electrode_spaces):
            raise UsageError("bids.electrode_spaces must be a list of space labels, got "
                             f"{self.electrode_spaces!r}")
