"""``ssl-ieeg-demo OUT``: generate a small synthetic BIDS iEEG dataset and analyse it end to end.

The dataset (two participants, speech-like audio, BrainVision recordings at 512 Hz) has a known
ground truth (:mod:`bids_app.synthetic.planted`): some electrodes' high-gamma follows a lagged
response to the audio envelope, some a layer of the demo's speech model, some a layer of its
language model, some the word onsets both models carry; the others are noise. The demo runs the
participant level, then the group level, and prints whether each planted class was recovered
by the model it was planted from, and the comparisons' answers on them.

``ssl-ieeg-demo --validate OUT`` runs the validation suite instead
(:mod:`bids_app.synthetic.validation`): detection, false positives, peak lags and
variance-partition shares on planted truth with the default configuration, written as TSV
tables to ``OUT``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from bids_app.cli import main as ssl_ieeg

if TYPE_CHECKING:
    from bids_app.synthetic import SyntheticDataset


def demo_config(models: dict[str, Path], weights: str = "random", n_refits: int = 10) -> dict:
    """A configuration sized for a laptop: acoustic baselines plus the paper's model spaces.

    The speech and language models are tiny Wav2Vec2 and GPT-2 checkpoints, so the demo runs
    offline. The comparisons' refit tests use 10 rotations (not 100) and one penalty for all
    sets (banded ridge searches 3**2 band weightings for two models beside L, and costs about
    four times as much); the circular-shift test keeps its default 1,000 shifts, which an FDR
    over 47 electrodes with 4 driven per class needs (200 shifts floor p at 0.005).

    Parameters
    ----------
    models : dict
        ``{"speech": dir, "language": dir}`` from
        :func:`bids_app.features.tiny_models.save_tiny_models`.
    weights : str
        ``"pretrained"`` loads the saved checkpoints (the demo, whose electrodes follow them);
        ``"random"`` rebuilds them from their configs with seeded weights (the tests).
    n_refits : int
        Rotations of the comparisons' refit tests.
    """
    return {
        "features": [
            {"name": "envelope", "kind": "envelope"},
            {"name": "mel", "kind": "mel", "options": {"n_mels": 16}},
            {"name": "wav2vec2", "kind": "speech", "model": str(models["speech"]),
             "weights": weights},
            {"name": "gpt2", "kind": "language", "model": str(models["language"]),
             "weights": weights},
            {"name": "static", "kind": "static", "model": str(models["language"]),
             "weights": weights},
        ],
        "encoding": {"lag_step": 0.02, "n_folds": 5},
        "comparison": {"n_refits": n_refits, "cca_speech_layer": 1, "cca_language_layer": 1,
                       "n_components": 8, "rest_components": 8, "banded": False},
    }


def write_demo_config(dataset: SyntheticDataset, out_dir: Path, n_refits: int = 10) -> Path:
    """Save tiny models trained on the dataset's words and the demo configuration beside them.

    ``n_refits``: rotations of the comparisons' refit tests (:func:`demo_config`).

    Returns
    -------
    path : Path
        The YAML configuration, ``out_dir/demo_config.yaml``.
    """
    # Imported here (torch, transformers, pandas) so that ``ssl-ieeg-demo --help`` is instant.
    from bids_app.features.tiny_models import save_tiny_models
    from bids_app.stimuli.alignments import read_words

    words = [word for name in dataset.stimuli
             for word in read_words((dataset.root / "stimuli" / name).with_suffix(".tsv")).words]
    models = save_tiny_models(out_dir / "models", words)
    path = out_dir / "demo_config.yaml"
    path.write_text(yaml.safe_dump(demo_config(models, n_refits=n_refits), sort_keys=False))
    return path


#: The demo's tiny models: layers that differ (see ``save_tiny_models``), hidden states 0-4.
DEMO_MODELS = {"n_layers": 4, "init_range": 0.4}


def make_planted_dataset(out_dir: Path) -> tuple[SyntheticDataset, Path]:
    """The demo dataset in ``out_dir/bids``, with electrodes driven by the demo's own models.

    Returns
    -------
    dataset : SyntheticDataset
        Its ground truth names each driven electrode's source (``envelope``, ``speech``,
        ``language``, ``shared``).
    config : Path
        ``out_dir/demo_config.yaml``, loading the saved models (``weights: pretrained``).
    """
    from bids_app.features.tiny_models import save_tiny_models
    from bids_app.stimuli.alignments import read_words
    from bids_app.synthetic import make_synthetic_dataset
    from bids_app.synthetic.planted import model_drives

    models: dict[str, Path] = {}

    def drives(root: Path, stim_files: list[str]) -> dict:
        words = [word for name in stim_files
                 for word in read_words((root / "stimuli" / name).with_suffix(".tsv")).words]
        models.update(save_tiny_models(out_dir / "models", words, **DEMO_MODELS))
        return model_drives(root, stim_files, models)

    dataset = make_synthetic_dataset(out_dir / "bids", n_channels=48, drives=drives)
    path = out_dir / "demo_config.yaml"
    path.write_text(yaml.safe_dump(demo_config(models, weights="pretrained"), sort_keys=False))
    return dataset, path


def run_demo(out_dir: Path, nprocs: int = 1) -> int:
    """Generate the demo dataset in ``out_dir/bids`` and analyse it into ``out_dir/derivatives``.

    Returns
    -------
    exit_code : int
        The first non-zero exit code of the participant or group level, else 0.
    """
    dataset, config_path = make_planted_dataset(out_dir)
    derivatives = out_dir / "derivatives" / "ssl-ieeg"
    common = ["--config", str(config_path), "--nprocs", str(nprocs)]
    for level in ("participant", "group"):
        code = ssl_ieeg([str(dataset.root), str(derivatives), level, *common])
        if code:
            return code
    from bids_app.synthetic.recovery import planted_checks

    checks = planted_checks(dataset.ground_truth, derivatives, dataset.task)
    print("\nPlanted truth vs. recovered:")
    for check in checks:
        print(f"  [{'ok' if check.passed else 'FAILED'}] {check.text}")
    print(f"\nReports: {derivatives}/sub-*.html and {derivatives}/group.html")
    return 0 if all(check.passed for check in checks) else 1


def run_validation(out_dir: Path, seeds: Sequence[int] = (0,)) -> int:
    """Run the validation suite for ``seeds`` and write its tables to ``out_dir``.

    Returns
    -------
    exit_code : int
        0 when every check passes, 1 otherwise (the failed checks are printed).
    """
    import pandas as pd

    from bids_app.outputs.atomic import write_tsv
    from bids_app.synthetic.validation import check, validate

    out_dir.mkdir(parents=True, exist_ok=True)
    tables: dict[str, list[pd.DataFrame]] = {"detection": [], "lags": [], "beyond": [],
                                             "shares": []}
    failures = []
    for seed in seeds:
        print(f"validation: planted recording, seed {seed} ...", flush=True)
        validation = validate(seed)
        failures += [f"seed {seed}: {failure}" for failure in check(validation)]
        for name in tables:
            tables[name].append(getattr(validation, name).assign(seed=seed))
    with pd.option_context("display.width", 120, "display.max_rows", 200):
        for name, parts in tables.items():
            table = pd.concat(parts, ignore_index=True)
            write_tsv(out_dir / f"validation_{name}.tsv", table)
            print(f"\n{name}:\n{table.to_string(index=False)}")
    print("\n" + ("\n".join(["FAILED:", *failures]) if failures else "all checks passed")
          + f"\ntables: {out_dir}/validation_*.tsv")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ssl-ieeg-demo``."""
    from bids_app.environment import prepare_environment

    prepare_environment()  # before torch and matplotlib load, as ssl-ieeg does (any UID)
    parser = argparse.ArgumentParser(prog="ssl-ieeg-demo", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="where to write the dataset and results")
    parser.add_argument("--nprocs", type=int, default=1)
    parser.add_argument("--validate", action="store_true",
                        help="run the validation suite on planted truth instead of the demo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="planted recordings of the validation suite (default: 0)")
    args = parser.parse_args(argv)
    if args.validate:
        return run_validation(args.out_dir.resolve(), args.seeds)
    return run_demo(args.out_dir.resolve(), args.nprocs)


if __name__ == "__main__":
    sys.exit(main())
