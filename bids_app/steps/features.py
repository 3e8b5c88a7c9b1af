"""Step 2, features: every feature space of every stimulus (``features`` section), from the
per-stimulus feature cache or computed (models, acoustics, word regressors, files)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bids_app.features import load_or_compute_features
from bids_app.features.featureset import FeatureSet
from bids_app.features.models import ModelSource
from bids_app.features.spec import FeatureSpec
from bids_app.steps.run import RunOptions
from bids_app.stimuli.stimulus import Stimulus, WordTimings

logger = logging.getLogger("ssl_ieeg")


def run(specs: Sequence[FeatureSpec], stimuli: Sequence[Stimulus],
        words: dict[str, WordTimings | None], models: dict[str, ModelSource],
        options: RunOptions) -> dict[str, list[FeatureSet]]:
    """Per feature space, its features of each stimulus (in the order of ``stimuli``)."""
    verbose = logger.isEnabledFor(logging.INFO)
    return {spec.name: [load_or_compute_features(
        spec, stimulus, options.output_dir / "stimuli", words=words[stimulus.stim_id],
        model=models.get(spec.name), device=options.device, n_jobs=options.n_jobs,
        verbose=verbose) for stimulus in stimuli] for spec in specs}
