"""Step 1, high gamma: the recording's high-gamma envelope (``preprocessing`` section), saved
in the stage cache, and its derivative with the modelled electrodes' coordinates."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from bids_app.bids.recording import Recording
from bids_app.neural import NeuralData, preprocess, write_highgamma
from bids_app.neural.config import PreprocessingConfig
from bids_app.outputs.atomic import write_json, write_tsv
from bids_app.outputs.derivatives import beside, bids_name
from bids_app.outputs.stages import StageStore, highgamma_key
from bids_app.progress import format_seconds
from bids_app.steps.run import RunOptions

logger = logging.getLogger("ssl_ieeg")


def run(recording: Recording, preprocessing: PreprocessingConfig, options: RunOptions,
        store: StageStore, block: int | None) -> tuple[NeuralData, str]:
    """The recording's high-gamma, reused when the preprocessing settings and input match.

    ``block`` (channels at once) changes the memory taken, not the result, so it is not part
    of the stage key.
    """
    key = highgamma_key(preprocessing, source_identity(recording))
    neural = store.load("highgamma", key)
    if neural is not None:
        logger.info("high-gamma: reused (same input and preprocessing settings)")
        return neural, key
    settings = preprocessing
    if block is not None and block != settings.block_size:
        logger.info("high-gamma: blocks of %d channels, not preprocessing.block_size = %d, to "
                    "fit in --mem", block, settings.block_size)
        settings = dataclasses.replace(settings, block_size=block)
    start = time.perf_counter()
    neural = preprocess(recording, settings, n_jobs=options.n_jobs,
                        verbose=logger.isEnabledFor(logging.DEBUG))
    store.save("highgamma", key, neural)
    logger.info("high-gamma: %d channels, %.0f s of data, in %s", len(neural.ch_names),
                neural.data.shape[1] / neural.sfreq, format_seconds(time.perf_counter() - start))
    return neural, key


def source_identity(recording: Recording) -> dict:
    """What identifies a recording's input: its files (size, mtime) and BIDS metadata."""
    stem = recording.data_path.name.rsplit("_", 1)[0]
    files = sorted(recording.data_path.parent.glob(f"{stem}_*"))
    return {"files": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files],
            "sidecar": recording.sidecar, "channels": recording.channels.to_csv(),
            "electrodes": None if recording.electrodes is None
            else recording.electrodes.to_csv()}


def write(neural: NeuralData, recording: Recording, out_dir: Path) -> None:
    """The high-gamma derivative, and the modelled electrodes with their coordinate system."""
    write_highgamma(neural, out_dir / bids_name(recording.entities, "ieeg", ".vhdr",
                                                desc="highgamma"), recording.sidecar)
    if neural.electrodes is not None and neural.coordinate_space:
        electrodes = bids_name({"sub": recording.subject}, "electrodes", ".tsv",
                               space=neural.coordinate_space)
        write_tsv(out_dir / electrodes, neural.electrodes)
        # BIDS requires the coordinate system beside electrodes.tsv; IntendedFor names raw files
        write_json(beside(out_dir / electrodes, "coordsystem", ".json"), {
            "iEEGCoordinateSystem": neural.coordinate_space, "iEEGCoordinateUnits": "n/a",
            **{k: v for k, v in recording.coordsystem.items() if k != "IntendedFor"}})
