"""Find the recordings to analyse with PyBIDS and read their sidecars through inheritance."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from bids import BIDSLayout, BIDSLayoutIndexer
from bids_validator import BIDSValidator

from bids_app.bids.config import BidsConfig
from bids_app.bids.recording import Recording
from bids_app.bids.tsv import read_tsv
from bids_app.bids.validator import describe, official_errors
from bids_app.errors import (
    BadDataError,
    BidsValidationError,
    NothingSelectedError,
    SslIeegError,
    UsageError,
    read_json_object,
    require_readable,
)

logger = logging.getLogger("ssl_ieeg")

#: Raw iEEG formats that MNE reads and BIDS allows.
DATA_EXTENSIONS = (".edf", ".vhdr", ".set", ".bdf")


def normalize_label(label: str, prefix: str) -> str:
    """Remove an optional ``<prefix>-`` from a BIDS label (``"sub-01"`` → ``"01"``)."""
    return label.removeprefix(f"{prefix}-")


@dataclass(frozen=True)
class Filters:
    """The user's selection of recordings (labels without their ``sub-``/``ses-`` prefix)."""

    participant_labels: tuple[str, ...] = ()
    session_labels: tuple[str, ...] = ()
    task_labels: tuple[str, ...] = ()
    run_labels: tuple[str, ...] = ()
    bids_filters: dict = field(default_factory=dict)

    def as_query(self) -> dict:
        """PyBIDS query entities for these filters."""
        query = dict(self.bids_filters)
        for key, labels in (("subject", self.participant_labels),
                            ("session", self.session_labels),
                            ("task", self.task_labels),
                            ("run", self.run_labels)):
            if labels:
                query[key] = list(labels)
        return query

    def describe(self) -> str:
        """A one-line description of the active filters, for error messages."""
        query = self.as_query()
        return ", ".join(f"{k}={v}" for k, v in query.items()) or "no filters"


def validate_dataset(bids_dir: Path, report: Path | None = None,
                     subjects: Sequence[str] = ()) -> None:
    """Validate ``bids_dir`` with the official BIDS validator, or the light check.

    With ``report``, the official validator (``bids-validator-deno``) runs and its JSON report
    is saved there; its errors refuse the dataset. When it cannot run (or without
    ``report``), a light check with the ``bids_validator`` path rules runs instead: a
    ``dataset_description.json`` with ``Name`` and ``BIDSVersion``, and every iEEG file
    named by the BIDS rules.

    Parameters
    ----------
    bids_dir : Path
    report : Path | None
        Where the official validator's JSON report goes (None: the light check only).
    subjects : sequence of str
        The selected participants (empty: all). Errors in the folders of the other
        participants are logged, not raised, so one broken participant does not stop the
        analysis of the others (each SLURM array task validates the dataset).

    Raises
    ------
    BidsValidationError
        With the offending files and what to fix.
    """
    if report is not None:
        errors = official_errors(bids_dir, report)
        others = [e for e in errors or [] if _other_subject(e.get("location", ""), subjects)]
        if others:
            logger.warning("BIDS validation: %d error(s) in participants not selected, "
                           "ignored:\n%s", len(others), describe(others))
            errors = [e for e in errors if e not in others]
        if errors:
            raise BidsValidationError(
                f"{bids_dir} fails BIDS validation ({len(errors)} error(s); the validator's "
                f"report is {report}):\n{describe(errors)}\nFix them, or pass "
                "--skip-bids-validation.")
        if errors is not None:
            return
    _light_check(bids_dir)


def _other_subject(location: str, subjects: Sequence[str]) -> bool:
    """Whether a validator location (``/sub-02/ieeg/...``) is in an unselected participant."""
    first = location.lstrip("/").split("/", 1)[0]
    return bool(subjects) and first.startswith("sub-") and first[4:] not in subjects


def _light_check(bids_dir: Path) -> None:
    """The fallback check of :func:`validate_dataset`."""
    description = bids_dir / "dataset_description.json"
    if not description.is_file():
        raise BidsValidationError(f"{description} is missing: BIDS_DIR must be a BIDS dataset "
                                  "root (or pass --skip-bids-validation).")
    try:
        content = json.loads(description.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise BidsValidationError(f"{description} is not valid JSON: {err}") from err
    missing = [key for key in ("Name", "BIDSVersion") if key not in content]
    if missing:
        raise BidsValidationError(f"{description} lacks the required key(s) {missing}.")
    validator = BIDSValidator()
    for path in sorted(bids_dir.glob("sub-*/**/ieeg/*")):
        if path.name.startswith("."):  # .DS_Store and the like, which BIDS ignores
            continue
        relative = "/" + path.relative_to(bids_dir).as_posix()
        if not validator.is_bids(relative):
            raise BidsValidationError(f"{path} does not follow the BIDS naming rules; rename it "
                                      "or pass --skip-bids-validation.")


def check_description(bids_dir: Path) -> None:
    """Refuse a ``dataset_description.json`` that exists but cannot be read as JSON.

    Runs even with ``--skip-bids-validation``: PyBIDS would otherwise fail on it later with
    a message that names no file.

    Raises
    ------
    BadDataError
        Naming the file and the JSON error.
    """
    description = bids_dir / "dataset_description.json"
    if not description.is_file():
        return
    try:
        content = json.loads(description.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadDataError(f"{description} is not valid JSON ({err}); fix it, even with "
                           "--skip-bids-validation.") from err
    if not isinstance(content, dict):
        raise BadDataError(f"{description} must hold a JSON object, got "
                           f"{type(content).__name__}.")


def open_layout(bids_dir: Path) -> BIDSLayout:
    """Index a BIDS dataset with PyBIDS (derivatives and ``sourcedata`` are not indexed).

    JSON sidecars are not parsed while indexing (:func:`read_recording` reads those of the
    selected recordings), so a malformed one fails only the participant it belongs to.
    """
    return BIDSLayout(bids_dir, validate=False, derivatives=False,
                      indexer=BIDSLayoutIndexer(validate=False, index_metadata=False))


def find_recordings(layout: BIDSLayout, filters: Filters, config: BidsConfig | None = None,
                    failures: dict[str, SslIeegError] | None = None) -> list[Recording]:
    """List the iEEG recordings selected by ``filters``.

    Parameters
    ----------
    layout : BIDSLayout
        The indexed dataset.
    filters : Filters
        Participant, session, task and run labels and a PyBIDS filter dictionary.
    config : BidsConfig | None
        Electrode-space preferences.
    failures : dict | None
        Where given, a recording whose sidecars this app reads cannot be read (unreadable,
        malformed) is left out and its error kept here under its subject, so that only that
        participant fails; otherwise the error is raised.

    Returns
    -------
    recordings : list of Recording
        Sorted by subject, session, task and run.

    Raises
    ------
    NothingSelectedError
        When the filters select no recording; the message lists the filters.
    """
    config = config or BidsConfig()
    query = filters.as_query()
    unknown = sorted(set(query) - set(layout.get_entities(metadata=False)))
    if unknown:
        raise UsageError(f"--bids-filter-file: {unknown} are not BIDS entities of "
                         f"{layout.root} (sidecar metadata keys are not indexed); filter on "
                         f"{sorted(layout.get_entities(metadata=False))}")
    files = layout.get(suffix="ieeg", extension=list(DATA_EXTENSIONS), return_type="object",
                       **query)
    with_ieeg = layout.get_subjects(suffix="ieeg", extension=list(DATA_EXTENSIONS))
    if not files:
        raise NothingSelectedError(
            f"No iEEG recording in {layout.root} matches the filters ({filters.describe()}). "
            f"Subjects with iEEG recordings: {with_ieeg}.")
    unknown = sorted(set(filters.participant_labels) - set(with_ieeg))
    if unknown:
        logger.warning("--participant-label %s: no iEEG recording in %s; analysing the "
                       "others (subjects with iEEG recordings: %s)", unknown, layout.root,
                       with_ieeg)
    recordings = []
    for file in sorted(files, key=lambda f: f.path):
        try:
            recordings.append(read_recording(layout, file.path, config))
        except SslIeegError as err:
            if failures is None:
                raise
            failures.setdefault(layout.parse_file_entities(file.path)["subject"], err)
    return recordings


def read_recording(layout: BIDSLayout, data_path: str | Path, config: BidsConfig) -> Recording:
    """Read one recording's sidecars (``_ieeg.json``, channels, electrodes, events).

    Sidecars are found through BIDS inheritance, so a dataset-level ``task-x_events.tsv``
    applies to every subject.
    """
    data_path = Path(data_path)
    require_readable(data_path.with_suffix(".json"))  # the recording's own sidecar
    entities = layout.parse_file_entities(str(data_path))
    channels_path = _nearest(layout, data_path, "channels")
    if channels_path is None:
        raise BadDataError(f"No channels.tsv found for {data_path}; BIDS iEEG requires one.")
    channels = read_tsv(channels_path, required=("name", "type"))
    channels["name"] = channels["name"].astype(str).str.strip()
    channels["type"] = channels["type"].astype(str).str.upper()
    if "status" not in channels:
        channels["status"] = "good"
    channels["status"] = channels["status"].fillna("good").astype(str).str.lower()
    if "status_description" not in channels:
        channels["status_description"] = pd.NA
    electrodes, space, coordsystem = _read_electrodes(layout, entities, config)
    events_path = _nearest(layout, data_path, "events")
    return Recording(
        subject=entities["subject"],
        task=entities["task"],
        data_path=data_path,
        session=entities.get("session"),
        run=str(entities["run"]) if entities.get("run") is not None else None,
        acquisition=entities.get("acquisition"),
        sidecar=_inherited_sidecar(layout, data_path, entities),
        channels=channels,
        electrodes=electrodes,
        coordinate_space=space,
        coordsystem=coordsystem,
        events=read_tsv(events_path, required=("onset",)) if events_path else None,
        events_path=events_path,
    )


def _inherited_sidecar(layout: BIDSLayout, data_path: Path, entities: dict) -> dict:
    """The recording's ``_ieeg.json`` metadata, merged by BIDS inheritance (nearest wins).

    A sidecar applies when its entities are a subset of the recording's; each is read here,
    and one that is not valid JSON is bad data naming the file.
    """
    found = layout.get_nearest(str(data_path), suffix="ieeg", extension=".json", all_=True)
    merged: dict = {}
    for path in reversed(found or []):  # farthest first
        own = layout.parse_file_entities(path)
        if any(entities.get(k) != v for k, v in own.items()
               if k not in ("suffix", "extension", "datatype")):
            continue
        merged.update(read_json_object(path))
    return merged


def _nearest(layout: BIDSLayout, data_path: Path, suffix: str) -> Path | None:
    path = layout.get_nearest(str(data_path), suffix=suffix, extension=".tsv", strict=False)
    return Path(path) if path else None


def _read_electrodes(layout: BIDSLayout, entities: dict, config: BidsConfig
                     ) -> tuple[pd.DataFrame | None, str | None, dict]:
    """Pick the electrodes file of the preferred coordinate space, with its coordsystem."""
    query = {k: entities[k] for k in ("subject", "session") if k in entities}
    files = layout.get(suffix="electrodes", extension=".tsv", return_type="object", **query)
    if not files:
        return None, None, {}
    by_space = {f.get_entities().get("space"): Path(f.path) for f in files}
    ranked = [s for s in config.electrode_spaces if s in by_space]
    ranked += [s for s in by_space if s and s.startswith("MNI")]
    space = ranked[0] if ranked else next(iter(by_space))
    table = read_tsv(by_space[space], required=("name", "x", "y", "z"))
    table["name"] = table["name"].astype(str).str.strip()
    coordsystem = _coordsystem(by_space[space])
    return table, space or coordsystem.get("iEEGCoordinateSystem"), coordsystem


def _coordsystem(electrodes_path: Path) -> dict:
    """The coordsystem.json beside an electrodes file (empty if there is none)."""
    sidecar = electrodes_path.with_name(
        electrodes_path.name.replace("_electrodes.tsv", "_coordsystem.json"))
    if not sidecar.is_file():
        return {}
    return read_json_object(sidecar)
