"""The Podcast reanalysis with features read from files, timed on a ds005574-sized participant.

OpenNeuro ds005574 ships its authors' features under ``stimuli/<model>/`` with a
``transcript.tsv`` row table each. This machine has the real row tables
(``../shared/data/ds005574/stimuli``) but not the vectors, so the vectors are synthetic, in
the shipped layouts and sizes (rows as in the real tables):

- ``gpt2-xl``: 5,491 token rows (``word_idx``), dataset ``layer-24``, 1,600 dimensions, and
  the real ``true_prob`` and ``entropy`` columns as scalars;
- ``whisper-medium``: 5,134 word rows, one matrix of 1,024 dimensions;
- ``spectral``: 5,136 word rows, 80 dimensions; ``phonetic``: 5,125 word rows, 40;
- ``syntactic``: 5,305 spaCy-token rows (``word_idx``), 96 dimensions.

Each file is a random projection of what the participant's driven electrodes follow (a word
identity code, the word's loudness) plus noise, so the comparisons have electrodes to test.
The participant (``participant.py``'s dataset: real sub-03 layout, 235 channels, a quarter
driven) is then run through the CLI with the reanalysis configuration of
``docs/tutorial-ds005574.md`` (the files, plus the envelope computed from the audio for L),
and the per-stage wall time, CPU time and peak memory are printed::

    python benchmarks/shipped_features.py              # 1,800 s: about 10 min on 2 cores
    python benchmarks/shipped_features.py --duration 300
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import zlib
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import participant
import yaml
from participant import SOURCE, participant_run

#: The shipped spaces: folder, name, kind, width, dataset name (None: one matrix).
SHIPPED = [("gpt2-xl", "gpt2xl", "language", 1600, "layer-24"),
           ("whisper-medium", "whisper", "speech", 1024, None),
           ("spectral", "spectral", "mel", 80, None),
           ("phonetic", "phonetic", "phonetic", 40, None),
           ("syntactic", "syntactic", "static", 96, None)]


def write_shipped(folder: Path, width: int, dataset: str | None, seed: int,
                  duration: float) -> Path:
    """A synthetic feature file on the real row table of ``stimuli/<folder.name>`` (the rows of
    the words that end before ``duration`` - 0.3 s, as the benchmark's transcript)."""
    table = pd.read_csv(SOURCE / "stimuli" / folder.name / "transcript.tsv", sep="\t")
    table = table.drop(columns=[c for c in table.columns if c.startswith("Unnamed")])
    ends = table.groupby("word_idx")["end"].transform("max")
    table = table[ends < duration - 0.3]
    rng = np.random.default_rng(seed)
    code = np.stack([np.random.default_rng(zlib.crc32(str(w).lower().strip(".,;:!?\"'")
                                                      .encode())).standard_normal(8)
                     for w in table["word"]])
    sources = np.c_[code, np.log(table["end"] - table["start"] + 0.05)]
    vectors = (sources @ rng.standard_normal((sources.shape[1], width))
               + rng.standard_normal((len(table), width))).astype(np.float32)
    path = folder / "features.hdf5"
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as fh:
        fh[dataset or "vectors"] = vectors
    table.to_csv(folder / "transcript.tsv", sep="\t", index=False)
    return path


def write_config(path: Path, files: dict[str, Path]) -> Path:
    """The tutorial's reanalysis configuration, on these files."""
    features = [{"name": "envelope", "kind": "envelope"}]
    for folder, name, kind, _, dataset in SHIPPED:
        space = {"name": name, "kind": kind, "file": {"path": str(files[folder])}}
        if dataset:
            space["layers"] = [24]
        if folder == "gpt2-xl":
            space["file"]["scalars"] = ["surprisal", "entropy"]
        features.append(space)
    config = {"stimulus": {"mode": "onset", "file": "podcast.wav", "transcript": "podcast.tsv",
                           "onset": 0.0},
              "features": features,
              "comparison": {"cca_speech": "whisper", "cca_language": "gpt2xl",
                             "cca_speech_layer": "vectors", "cca_language_layer": 24}}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1800.0)
    parser.add_argument("--subject", default="03")
    parser.add_argument("--nprocs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/work" if Path("/work").is_dir() else None) as tmp:
        work = Path(tmp)
        # in a child, so that the run's peak memory does not start from this process's
        participant._child([sys.executable, participant.__file__, "--child-dataset",
                            str(work / "bids"), args.subject, str(args.duration)])
        files = {folder: write_shipped(work / "shipped" / folder, width, dataset, seed,
                                       args.duration)
                 for seed, (folder, _, _, width, dataset) in enumerate(SHIPPED)}
        config = write_config(work / "reanalysis.yaml", files)
        rows = participant_run(work / "bids", work / "out", config, args.subject, args.nprocs,
                               f"shipped @ {args.duration:.0f} s", args.duration)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))


if __name__ == "__main__":
    main()
