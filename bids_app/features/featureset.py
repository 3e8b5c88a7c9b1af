"""The ``FeatureSet`` dataclass: one feature space of one stimulus, all layers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)
class FeatureSet:
    """Features of one stimulus in one feature space.

    Frame-level spaces (acoustic, speech model) have ``offsets=None`` and one row per frame,
    stamped at the frame's centre. Word-level spaces (language model, static embeddings) have one
    row per word, stamped at the word onset, with ``offsets`` the word ends.

    Attributes
    ----------
    name : str
        The feature-space name from the configuration, e.g. ``"mel"`` or ``"wav2vec2"``.
    kind : str
        The ``FeatureSpec.kind`` it was computed with: ``"envelope"``, ``"mel"``,
        ``"peak_rate"``, ``"phonetic"``, ``"word_onset"``, ``"speech"``, ``"language"`` or
        ``"static"``.
    times : ndarray, shape (n_rows,)
        Stimulus time of each row, in seconds.
    layers : dict of str to ndarray, shape (n_rows, n_dims)
        Feature matrices (float32), one per layer, in model order: ``layer00`` ... for models
        (plus ``surprisal`` and ``entropy`` for language models), else named after the kind.
        Loaded from the cache they are read-only memory maps: convert one layer with
        ``np.asarray`` before column-wise work.
    offsets : ndarray, shape (n_rows,) | None
        Word offsets for word-level spaces, else None.
    meta : dict
        Provenance (the JSON sidecar): model id, revision/checksum, settings, input hashes,
        package versions, ``CacheKey``, and ``FeatureNames`` (column names per layer) where
        columns have names (phonetic features).
    """

    name: str
    kind: str
    times: np.ndarray
    layers: dict[str, np.ndarray]
    offsets: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def layer_names(self) -> list[str]:
        """Layer names in model order."""
        return list(self.layers)

    @property
    def is_word_level(self) -> bool:
        """True when rows are words rather than regularly spaced frames."""
        return self.offsets is not None
