"""The derivatives dataset: file names, dataset-level files, data dictionaries (docs/outputs.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bids_app import __version__
from bids_app.outputs.atomic import write_json, write_text, write_tsv

if TYPE_CHECKING:
    import pandas as pd

#: Every ``desc-`` label the app writes, explained (written to ``descriptions.tsv``).
DESCRIPTIONS = {
    "highgamma": "High-gamma analytic amplitude (the band of preprocessing.band, stated in "
                 "logs/CITATION.md), resampled and z-scored per channel.",
    "features": "Stimulus features of one feature space, all layers, with frame or word times.",
    "varpart": "Variance partitioning of cross-validated R2 among feature sets.",
    "cca": "Canonical components of the speech-language shared space.",
}
#: The description of a feature space's ``desc-<space>`` derivatives.
SPACE_DESCRIPTION = ("Cross-validated encoding scores of the feature space {space} (scores.tsv), "
                     "its TRF lag profiles (lagprofile.npy) and weights (weights.npy), or its "
                     "stimulus features (features.h5); desc-<a>X<b> (predcorr.tsv) "
                     "correlates the predictions of feature spaces a and b.")

#: ``desc-`` labels of derivatives that are not feature spaces (no feature space may use them).
RESERVED_DESCS = frozenset({"highgamma", "varpart", "cca", "beyond", "features", "psd",
                            "onsets", "alignment"})
#: Entities of a derivative name, in BIDS order: the recording's, then ``space`` and ``desc``.
RECORDING_ENTITIES = ("sub", "ses", "task", "acq", "run")
_NAME_ENTITIES = (*RECORDING_ENTITIES, "space", "desc")

#: File suffix of each comparison table (the others are prediction correlations, ``<a>X<b>``).
COMPARISON_SUFFIXES = {"cca": "components", "varpart": "scores", "beyond": "beyond"}

#: Files BIDS has no rule for (written to ``.bidsignore``).
#: Folders are named without a trailing slash, which bids-validator-deno does not match.
BIDSIGNORE = ["logs", "stimuli", "stages", "group", "*.html", "sub-*/figures", "*_scores.tsv",
              "*_scores.json", "*_predcorr.tsv", "*_predcorr.json", "*_components.tsv",
              "*_components.json", "*_beyond.tsv", "*_beyond.json", "*_features.h5",
              "*_features.json", "*_lagprofile.npy", "*_lagprofile.json", "*_weights.npy",
              "*_weights.json"]


def bids_name(entities: dict[str, str], suffix: str, extension: str, **extra: str) -> str:
    """A BIDS file name from entities in BIDS order, e.g. ``sub-01_task-x_desc-mel_scores.tsv``.

    Parameters
    ----------
    entities : dict
        ``sub``, ``ses``, ``task``, ``acq``, ``run`` (any subset, in that order; empty for a
        group file such as ``desc-union_electrodes.tsv``).
    suffix : str
        The BIDS suffix (``ieeg``, ``scores``, ``channels``, ...).
    extension : str
        With its dot.
    **extra
        ``space`` and ``desc`` entities, appended after the recording entities.
    """
    # labels are alphanumeric (BIDS), e.g. a free-text coordinate system "MNI 305" -> "MNI305"
    parts = [f"{k}-{''.join(c for c in extra[k] if c.isalnum())}" for k in ("space", "desc")
             if extra.get(k)]
    return "_".join(p for p in [entity_stem(entities), *parts, suffix] if p) + extension


@dataclass(frozen=True)
class DerivativeName:
    """A derivative file name taken apart: the inverse of :func:`bids_name`.

    Attributes
    ----------
    entities : dict of str to str
        The recording entities (``sub``, ``ses``, ``task``, ``acq``, ``run``), in order.
    suffix : str
    extension : str
        With its dot (``.tsv``, ``.nii.gz``).
    space, desc : str | None
    """

    entities: dict[str, str] = field(default_factory=dict)
    suffix: str = ""
    extension: str = ""
    space: str | None = None
    desc: str | None = None

    @property
    def recording(self) -> str:
        """The recording's entities part, e.g. ``sub-01_task-listen``."""
        return entity_stem(self.entities)


def parse_name(name: str) -> DerivativeName | None:
    """The entities, suffix and extension of a derivative file name (None if it is not one).

    ``parse_name(bids_name(entities, suffix, ext, **extra))`` gives back the same parts.
    """
    stem, dot, extension = name.partition(".")
    pairs, _, suffix = stem.rpartition("_")
    values = parse_entities(pairs)
    if values is None or not values or not suffix.isalnum():
        return None
    return DerivativeName({k: values[k] for k in RECORDING_ENTITIES if k in values}, suffix,
                          dot + extension, values.get("space"), values.get("desc"))


def beside(path: Path, suffix: str, extension: str) -> Path:
    """The derivative with ``path``'s entities (``desc`` and ``space`` included) and another
    suffix, e.g. a scores table's ``lagprofile.npy`` or ``electrodes.tsv``'s
    ``coordsystem.json``."""
    stem = path.name.split(".", 1)[0].rsplit("_", 1)[0]
    return path.with_name(f"{stem}_{suffix}{extension}")


def parse_entities(stem: str) -> dict[str, str] | None:
    """``{"sub": "01", "task": "listen"}`` from ``sub-01_task-listen`` (None if malformed).

    Only the entities :func:`bids_name` writes, once each and in its order, are accepted.
    """
    parts = [pair.split("-", 1) for pair in stem.split("_")] if stem else []
    keys = [part[0] for part in parts]
    if (any(len(part) != 2 or not part[1].isalnum() for part in parts)
            or any(key not in _NAME_ENTITIES for key in keys) or len(set(keys)) != len(keys)
            or keys != sorted(keys, key=_NAME_ENTITIES.index)):
        return None
    return dict(parts)


def find_derivatives(root: Path, suffix: str, extension: str = ".tsv",
                     datatype: str = "ieeg") -> list[tuple[DerivativeName, Path]]:
    """Every ``<datatype>/*_<suffix><extension>`` derivative below ``root``, parsed, sorted."""
    found = []
    for path in sorted(Path(root).glob(f"**/{datatype}/*_{suffix}{extension}")):
        name = parse_name(path.name)
        if name is not None and name.suffix == suffix:
            found.append((name, path))
    return found


def find_scores(root: Path) -> list[tuple[DerivativeName, Path]]:
    """The feature-space scores tables below ``root`` (``desc`` is the feature space)."""
    return [(name, path) for name, path in find_derivatives(root, "scores")
            if name.desc is not None and name.desc not in RESERVED_DESCS]


def read_electrodes(subject_dir: Path) -> tuple[pd.DataFrame | None, str | None]:
    """The electrodes table written with a participant's derivatives, and its space label."""
    from bids_app.bids.tsv import read_tsv

    for name, path in find_derivatives(subject_dir, "electrodes"):
        return read_tsv(path, required=("name", "x", "y", "z")), name.space
    return None, None


def entity_stem(entities: dict[str, str]) -> str:
    """The entities part of a BIDS name, e.g. ``sub-01_task-listen``."""
    return "_".join(f"{k}-{v}" for k, v in entities.items())


def participant_dir(output_dir: Path, subject: str, session: str | None = None) -> Path:
    """``OUTPUT_DIR/sub-<label>[/ses-<label>]/ieeg``."""
    path = output_dir / f"sub-{subject}"
    if session:
        path = path / f"ses-{session}"
    return path / "ieeg"


def run_record_path(output_dir: Path, subject: str) -> Path:
    """``OUTPUT_DIR/logs/sub-<label>_run.json``: the participant's run record."""
    return output_dir / "logs" / f"sub-{subject}_run.json"


def crash_path(output_dir: Path, subject: str, stamp: str) -> Path:
    """A failed run's traceback, ``logs/crash-sub-<label>-<stamp>.txt``.

    Its short report is the ``.html`` beside it, in ``logs/`` rather than as
    ``sub-<label>.html``: a failed participant leaves nothing of itself among the derivatives.
    """
    return output_dir / "logs" / f"crash-sub-{subject}-{stamp}.txt"


def container_type(root: Path = Path("/"), environ: Mapping[str, str] = os.environ) -> str:
    """The container this process runs in, for ``GeneratedBy.Container.Type``.

    ``"apptainer"`` or ``"singularity"`` (their ``*_CONTAINER``/``*_NAME`` variables), ``"podman"``
    (``container=podman``, or ``/run/.containerenv``, which ``--read-only`` leaves out),
    ``"docker"`` (``/.dockerenv``), else ``"none"``.
    """
    for kind in ("apptainer", "singularity"):
        if environ.get(f"{kind.upper()}_CONTAINER") or environ.get(f"{kind.upper()}_NAME"):
            return kind
    if environ.get("container") == "podman" or (root / "run" / ".containerenv").exists():
        return "podman"
    if (root / ".dockerenv").exists():
        return "docker"
    return "none"


def initialize_derivatives(output_dir: Path, bids_dir: Path,
                           spaces: Sequence[str] = ()) -> None:
    """Write the dataset-level files of the derivatives dataset.

    ``dataset_description.json``, ``descriptions.tsv`` and ``.bidsignore`` are rewritten
    atomically with identical content by every job, so concurrent SLURM tasks are safe.
    """
    container = {"Type": container_type()}
    write_json(output_dir / "dataset_description.json", {
        "Name": "ssl-ieeg derivatives",
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "ssl-ieeg", "Version": __version__, "Container": container,
                         "CodeURL": "https://github.com/ssl-ieeg/ssl-ieeg"}],
        "SourceDatasets": [{"URL": bids_dir.resolve().as_uri()}],
    })
    import pandas as pd

    descriptions = {**DESCRIPTIONS,
                    **{space: SPACE_DESCRIPTION.format(space=space) for space in spaces}}
    write_tsv(output_dir / "descriptions.tsv", pd.DataFrame(
        {"desc_id": [f"desc-{desc}" for desc in descriptions],
         "description": list(descriptions.values())}))
    write_text(output_dir / ".bidsignore", "\n".join(BIDSIGNORE) + "\n")


def scores_dictionary(space: str, provenance: dict) -> dict:
    """The JSON data dictionary of a ``desc-<space>_scores.tsv`` table."""
    return {
        "channel": {"Description": "Channel (electrode) name, as in channels.tsv."},
        "layer": {"Description": f"Layer of the feature space '{space}' used as predictors."},
        "r": {"Description": "Pearson correlation of cross-validated predictions with the "
                             "high-gamma, mean over outer folds."},
        "r2": {"Description": "Cross-validated coefficient of determination, mean over folds."},
        "alpha": {"Description": "Ridge penalty chosen in the training folds (median over "
                                 "folds)."},
        "p": {"Description": "p-value of r under the encoding null (statistics.method): "
                             "with circular shifts of the held-out predictions (TRF mode's "
                             "default), (count+1)/(n+1) over the shifts; with refits on "
                             "shifted data (word mode with few words per fold), the upper "
                             "tail of the normal approximation of the refit null."},
        "p_fdr": {"Description": "Benjamini-Hochberg adjusted p across channels (and lags, in "
                                 "word mode)."},
        "significant": {"Description": "p_fdr below statistics.fdr_alpha."},
        "p_electrode": {"Description": "One p-value per electrode for the whole feature space "
                                       "(the same on every layer row): its largest r over the "
                                       "layers against the largest null r over the layers under "
                                       "the same shifts (max-T; Bonferroni over the rows of the "
                                       "channel where the null is refitted)."},
        "significant_electrode": {"Description": "p_electrode significant after FDR across "
                                                 "electrodes: the electrode set of 'predicted by "
                                                 "this model' everywhere downstream."},
        "lag": {"Description": "Word mode only: time of the high-gamma relative to word "
                               "onset.", "Units": "s"},
        "peak_lag": {"Description": "TRF mode only: the lag at the maximum of the channel's lag "
                                    "profile (desc-<space>_lagprofile.npy: the standard "
                                    "deviation of each lag's term of the prediction, from the "
                                    "weights averaged over outer folds); n/a where all weights "
                                    "are zero.", "Units": "s"},
        "responsive": {"Description": "Speech-responsive electrode: paired t-test of "
                                      "high-gamma after vs. before stimulus onsets, Bonferroni "
                                      "corrected (present with 2 or more stimuli)."},
        "Provenance": provenance,
    }
