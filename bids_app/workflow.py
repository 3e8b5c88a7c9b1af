"""Run the stages for the participant and group levels, with resumable outputs and provenance.

The CLI parses arguments and calls :func:`run_participants` or :func:`run_group`. Stages only
exchange dataclasses; this module is the one place that knows the order they run in and where
their outputs go.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from bids_app import __version__
from bids_app.analysis import (
    ComparisonInputs,
    ComparisonResult,
    FeatureSpaceInfo,
    compare_models,
    table_dictionary,
    word_samples,
)
from bids_app.analysis.compare import Cache
from bids_app.bids.recording import Recording
from bids_app.config import AppConfig
from bids_app.cost import CostEstimate, check_memory, estimate_cost
from bids_app.encoding import (
    EncodingResult,
    cross_validate,
    cross_validate_word_lags,
    fdr_bh,
    significance,
)
from bids_app.encoding.align import Designs, stimulus_segments, word_design
from bids_app.encoding.cv import lag_profile, peak_lags
from bids_app.encoding.stats import max_t_p_values
from bids_app.errors import EXIT_FAILURE, BadDataError, MissingInputError, SslIeegError
from bids_app.features import load_or_compute_features, needs_words
from bids_app.features.cache import release_pages
from bids_app.features.featureset import FeatureSet
from bids_app.features.models import (
    ModelSource,
    require_supported,
    resolve_device,
    resolve_model,
)
from bids_app.features.spec import MODEL_KINDS
from bids_app.neural import (
    ElectrodeConfig,
    NeuralData,
    preprocess,
    recording_duration,
    response_onsets,
    speech_responsive,
    write_highgamma,
)
from bids_app.outputs.atomic import write_json, write_text, write_tsv
from bids_app.outputs.derivatives import (
    COMPARISON_SUFFIXES,
    beside,
    bids_name,
    crash_path,
    entity_stem,
    participant_dir,
    run_record_path,
    scores_dictionary,
)
from bids_app.outputs.provenance import (
    RecordingFacts,
    RunRecord,
    StimulusFacts,
    collect_warnings,
    now,
    read_run_record,
    software_versions,
    write_run_record,
)
from bids_app.outputs.stages import (
    StageStore,
    comparison_key,
    encoding_key,
    highgamma_key,
    stage_key,
)
from bids_app.outputs.trf import write_trf_outputs
from bids_app.progress import Progress, format_seconds, stage
from bids_app.report.participant import write_failure_report, write_participant_report
from bids_app.report.qc import write_qc_figures
from bids_app.stimuli.alignments import read_words
from bids_app.stimuli.resolve import check_overlap, check_words_inside, resolve_stimuli
from bids_app.stimuli.stimulus import Stimulus, WordTimings

logger = logging.getLogger("ssl_ieeg")
#: What an encoding stage saves; part of its key, so caches of another content are not reused.
ENCODING_STAGE_CONTENT = ("scores", "predictions", "lag_profile", "weights", "centred words")
#: Prefix of the message line of a crash file.
CRASH_MESSAGE = "error: "


@dataclass(frozen=True)
class RunOptions:
    """Resources and housekeeping options from the command line.

    Attributes
    ----------
    bids_dir, output_dir : Path
        Input dataset, derivatives root. (The scratch space, ``-w``, is the run's ``TMPDIR``,
        set by the command line; no stage reads it from here.)
    n_jobs : int
        Threads for numerical work (``--nprocs``).
    device : str
        ``auto``, ``cpu`` or ``cuda`` for models and the ridge engine.
    model_dir : Path | None
        Where local model checkpoints live (``--model-dir``).
    mem_bytes : int | None
        Memory the run may use (``--mem``); a recording whose estimated peak exceeds it is
        refused before any work. None: no check.
    reports_only : bool
        Re-render reports from existing derivatives, computing nothing.
    command : str
        The command line, for provenance.
    """

    bids_dir: Path
    output_dir: Path
    n_jobs: int = 1
    device: str = "auto"
    model_dir: Path | None = None
    mem_bytes: int | None = None
    reports_only: bool = False
    command: str = ""


@dataclass(frozen=True)
class ParticipantOutcome:
    """How one participant's run ended."""

    subject: str
    exit_code: int
    message: str = ""
    crash_file: Path | None = None


def run_participants(recordings: Sequence[Recording], config: AppConfig,
                     options: RunOptions, failed: dict[str, Exception] | None = None
                     ) -> list[ParticipantOutcome]:
    """Analyse every selected participant; a failure is recorded and the others still run.

    ``failed``: participants that already failed when their recordings were read
    (:func:`~bids_app.bids.discovery.find_recordings`); each is recorded as a failure, with
    its crash file, and none of its recordings is analysed.

    Returns
    -------
    outcomes : list of ParticipantOutcome
        One per participant; ``exit_code`` 0 for success. A crash file with the traceback is
        written to ``OUTPUT_DIR/logs/`` for each failure.
    """
    failed = failed or {}
    by_subject: dict[str, list[Recording]] = {subject: [] for subject in failed}
    for recording in recordings:
        by_subject.setdefault(recording.subject, []).append(recording)
    outcomes = []
    for subject, subject_recordings in sorted(by_subject.items()):
        logger.info("sub-%s: %d recording(s)", subject, len(subject_recordings))
        started, start, facts = now(), time.monotonic(), None
        try:
            with collect_warnings(logger) as warnings:
                if subject in failed:
                    raise failed[subject]
                if not options.reports_only:
                    facts = analyse_participant(subject_recordings, config, options)
                if facts is not None:  # None: nothing was computed, the record stands
                    write_run_record(run_record_path(options.output_dir, subject), RunRecord(
                        subject, options.command, started, time.monotonic() - start,
                        software=software_versions(), warnings=list(warnings),
                        recordings=facts))
            write_participant_report(options.output_dir, subject, config, options.command)
            outcomes.append(ParticipantOutcome(subject, 0))
        except Exception as err:  # one participant must not stop the others
            code = err.exit_code if isinstance(err, SslIeegError) else EXIT_FAILURE
            if not options.reports_only:
                remove_participant_outputs(options.output_dir, subject)
            crash = write_crash_file(options.output_dir, subject, err)
            write_failure_report(crash.with_suffix(".html"), subject, err, code,
                                 options.command, started, list(warnings),
                                 removed=not options.reports_only)
            logger.error("sub-%s failed: %s (details in %s)", subject, err, crash)
            outcomes.append(ParticipantOutcome(subject, code, str(err), crash))
    return outcomes


def remove_participant_outputs(output_dir: Path, subject: str) -> None:
    """Remove what a failed participant wrote (``sub-<label>/`` and its report).

    The stage cache (``stages/``) and the per-stimulus feature cache are kept: they hold only
    complete results, and a rerun resumes from them.
    """
    folder, report = output_dir / f"sub-{subject}", output_dir / f"sub-{subject}.html"
    if folder.exists() or report.exists():
        shutil.rmtree(folder, ignore_errors=True)
        report.unlink(missing_ok=True)
        logger.info("sub-%s: removed its partial outputs", subject)


def write_crash_file(output_dir: Path, subject: str, error: BaseException) -> Path:
    """Write the error of a failed participant to ``logs/crash-sub-<label>-<time>.txt``.

    The file holds the version, the message (up to the first blank line;
    :func:`read_crash_message` reads it back for the group report) and the traceback.
    """
    text = "".join(traceback.format_exception(error))
    path = crash_path(output_dir, subject, time.strftime("%Y%m%d-%H%M%S"))
    return write_text(path, f"ssl-ieeg {__version__}\n{CRASH_MESSAGE}{error}\n\n{text}")


def read_crash_message(path: Path) -> str:
    """The error message written by :func:`write_crash_file`; for a crash file of an earlier
    version (a bare traceback), its last line, which names the exception and its message."""
    text = path.read_text(encoding="utf-8", errors="replace")
    _, found, message = text.split("\n\n", 1)[0].partition(CRASH_MESSAGE)
    if found:
        return message.strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def analyse_participant(recordings: Sequence[Recording], config: AppConfig,
                        options: RunOptions) -> list[RecordingFacts] | None:
    """Run every stage for one participant's recordings; return what each one was.

    Models, stimuli and transcripts are resolved before anything is written, so a missing
    input leaves no partial derivative behind. A recording already up to date keeps the facts
    of the run that made it; None when every recording was up to date (nothing to record).
    """
    models = {spec.name: resolve_model(spec.model, options.model_dir, weights=spec.weights)
              for spec in config.features  # once per run; a missing model fails now (exit 66)
              if spec.kind in MODEL_KINDS and spec.model and spec.file is None}
    for spec in config.features:  # e.g. a masked LM as a language space fails now (exit 64)
        if spec.name in models:
            require_supported(models[spec.name], spec.kind, spec.name)
    model_paths = {name: source.path for name, source in models.items()}
    required = (config.encoding.mode == "word"
                or any(needs_words(spec) for spec in config.features))
    plans = []
    for recording in recordings:
        stimuli = resolve_stimuli(recording, options.bids_dir, config.stimulus)
        # the file header only: a broken file fails before anything is written
        check_overlap(stimuli, recording_duration(recording), config.stimulus.min_overlap,
                      recording.data_path)
        estimate = estimate_cost(recording, stimuli, config, model_paths, options.n_jobs,
                                 options.mem_bytes)
        plans.append((recording, stimuli, _read_transcripts(stimuli, required), estimate))
        logger.info("%s: estimated cost (%d core(s)):\n%s", recording.data_path.name,
                    options.n_jobs, estimate.describe())
        if options.mem_bytes is not None:
            check_memory(estimate, options.mem_bytes, str(recording.data_path))
    previous = read_run_record(run_record_path(options.output_dir, recordings[0].subject))
    known = {facts.recording: facts for facts in (previous.recordings if previous else [])}
    facts, computed = [], False
    for recording, stimuli, words, estimate in plans:
        neural = analyse_recording(recording, stimuli, words, config, options, models,
                                   estimate)
        stem = entity_stem(recording.entities)
        if neural is not None:
            facts.append(_recording_facts(recording, stimuli, words, neural, options.bids_dir))
            computed = True
        elif stem in known:
            facts.append(known[stem])
    return facts if computed else None


def _recording_facts(recording: Recording, stimuli: Sequence[Stimulus],
                     words: dict[str, WordTimings | None], neural: NeuralData,
                     bids_dir: Path) -> RecordingFacts:
    """What the report says of a recording that the derivatives do not."""
    good = int((neural.channels["status"] == "good").sum())
    line_freq = neural.qc.get("line_freq")
    return RecordingFacts(
        recording=entity_stem(recording.entities),
        source=str(recording.data_path.relative_to(bids_dir)),
        sfreq=float(recording.sidecar.get("SamplingFrequency", float("nan"))),
        duration=neural.data.shape[1] / neural.sfreq, n_good=good,
        n_bad=len(neural.channels) - good, reference=neural.reference,
        line_freq=None if line_freq is None else float(line_freq),
        stimuli=[StimulusFacts(s.audio_path.name, float(s.onset), float(s.duration),
                               None if words[s.stim_id] is None else len(words[s.stim_id]))
                 for s in stimuli])


def _read_transcripts(stimuli: Sequence[Stimulus],
                      required: bool) -> dict[str, WordTimings | None]:
    """Read the word timings of each stimulus; ``required`` makes a missing one an error."""
    words: dict[str, WordTimings | None] = {}
    for stimulus in stimuli:
        if stimulus.transcript_path is not None:
            words[stimulus.stim_id] = read_words(stimulus.transcript_path, stimulus.tier)
            check_words_inside(words[stimulus.stim_id], stimulus)
        elif required:
            raise MissingInputError(
                f"No transcript beside {stimulus.audio_path}: word-level feature spaces and "
                f"word-mode encoding need one with the same stem "
                f"({stimulus.audio_path.stem}.TextGrid, .tsv, .csv or .wrd).")
        else:
            words[stimulus.stim_id] = None
    return words


def analyse_recording(recording: Recording, stimuli: Sequence[Stimulus],
                      words: dict[str, WordTimings | None], config: AppConfig,
                      options: RunOptions, models: dict[str, ModelSource],
                      estimate: CostEstimate | None = None) -> NeuralData | None:
    """Preprocess one recording, extract features, fit and compare encoding models.

    Returns the recording's high-gamma, or None when its outputs were already up to date.

    ``models`` are the resolved models of the feature spaces that have one, by space name;
    ``estimate`` the recording's cost estimate: it sizes the high-gamma step's channel blocks
    to ``--mem`` (default ``preprocessing.block_size``), and is re-estimated, logged and
    checked against ``--mem`` once the number of speech-responsive electrodes (which the
    comparisons test) is known.

    Every stage's result is saved as it finishes, keyed by what it depends on
    (:mod:`bids_app.outputs.stages`): a rerun reuses the high-gamma when the preprocessing
    settings match, every finished feature space × layer, and the comparisons when only the
    reports changed. The scores tables are written last, so their presence (with the same
    configuration hash) means the recording is complete and a rerun skips it.
    """
    out_dir = participant_dir(options.output_dir, recording.subject, recording.session)
    digest = config.digest()
    score_paths = {spec.name: out_dir / bids_name(recording.entities, "scores", ".tsv",
                                                  desc=spec.name) for spec in config.features}
    if all(_up_to_date(path, digest) for path in score_paths.values()):
        logger.info("%s: outputs up to date for config %s, skipping", recording.data_path.name,
                    digest)
        return None
    store = StageStore(options.output_dir / "stages" / entity_stem(recording.entities))
    with stage("high-gamma"):
        neural, neural_key = _highgamma(recording, config, options, store,
                                        estimate.highgamma_block if estimate else None)
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
    verbose = logger.isEnabledFor(logging.INFO)
    with stage("features"):
        feature_sets = {spec.name: [load_or_compute_features(
            spec, stimulus, options.output_dir / "stimuli", words=words[stimulus.stim_id],
            model=models.get(spec.name), device=options.device, n_jobs=options.n_jobs,
            verbose=verbose) for stimulus in stimuli] for spec in config.features}
    stimulus_words = [words[s.stim_id] for s in stimuli]
    onsets, onset_kind = response_onsets(
        [s.onset for s in stimuli],
        [None if w is None else (w.onsets, w.offsets) for w in stimulus_words],
        config.electrodes.pause)
    responsive = _speech_responsive(neural, onsets, onset_kind, config.electrodes)
    envelope = next((sets for sets in feature_sets.values() if sets[0].kind == "envelope"), None)
    write_qc_figures(neural, stimuli, responsive, out_dir.parent / "figures",
                     entity_stem(recording.entities), envelope,
                     onsets=(onsets, onset_kind, config.electrodes.pause))
    if config.electrodes.mask == "responsive":
        neural = keep_responsive(neural, responsive, recording)
    if estimate is not None and responsive is not None:
        _recheck_cost(estimate, int(responsive["responsive"].sum()), recording, options)
    segments = stimulus_segments(stimuli, neural.data.shape[1], neural.sfreq)
    designs = Designs(feature_sets, stimuli, neural.data.shape[1], neural.sfreq)
    encoder = _Encoder(stimuli, stimulus_words, neural, segments, designs, config, options,
                       store,
                       encoding_key(neural_key, config.electrodes, config.encoding,
                                    config.statistics, ENCODING_STAGE_CONTENT),
                       Progress("encoding", sum(len(sets[0].layer_names)
                                                for sets in feature_sets.values()),
                                workers=_parallel_layers(options)))
    tables, results = {}, {}
    with stage("encoding"):
        for spec in config.features:
            tables[spec.name], results[spec.name] = encoder.feature_space(
                feature_sets[spec.name])
            _check_finite(tables[spec.name], spec.name, recording)
            tables[spec.name] = electrode_significance(tables[spec.name], results[spec.name],
                                                       neural.data.T, config)
            if responsive is not None:
                tables[spec.name] = tables[spec.name].merge(
                    responsive[["channel", "responsive"]], on="channel", how="left")
    provenance = {"ConfigHash": digest, "Version": __version__,
                  "Source": str(recording.data_path.relative_to(options.bids_dir)),
                  "Stimuli": [s.audio_path.name for s in stimuli], "Command": options.command}
    if config.encoding.mode == "trf":
        def cache(name: str, settings: dict, compute: Callable[[], Any]) -> Any:
            """Each comparison keyed by its settings and every encoding's key."""
            key = comparison_key(encoder.keys, config.electrodes, config.statistics,
                                 settings)
            value = store.load(f"comparison-{name}", key)
            if value is None:
                value = compute()
                store.save(f"comparison-{name}", key, value)
            else:
                logger.info("comparisons/%s: reused (its settings and inputs are unchanged)",
                            name)
            return value

        with stage("comparisons"):
            comparison = compare_recording(feature_sets, designs, results, stimuli,
                                           stimulus_words, neural, segments, config, options,
                                           responsive, cache)
        write_comparison(comparison, out_dir, recording.entities, provenance)
        for spec in config.features:
            write_trf_outputs(out_dir, recording.entities, spec.name, results[spec.name],
                              tables[spec.name], neural.ch_names, neural.sfreq,
                              config.encoding, provenance)
    for spec in config.features:
        path = score_paths[spec.name]
        write_json(path.with_suffix(".json"), scores_dictionary(
            spec.name, {**provenance, "FeatureSpace": feature_sets[spec.name][0].meta}))
        write_tsv(path, tables[spec.name])
        logger.info("wrote %s", path)
    return neural


def _check_finite(table: pd.DataFrame, space: str, recording: Recording) -> None:
    """Refuse (exit 65) a non-finite R²: a failed participant, not a NaN result.

    R² is undefined only where the data are (constant or non-finite high gamma); r is also
    undefined where a model's predictions are constant (a huge penalty), which is a result.
    """
    bad = table.loc[~np.isfinite(table["r2"].to_numpy(float)), "channel"].unique()
    if len(bad):
        named = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
        raise BadDataError(
            f"{recording.data_path}: the encoding of {space} gave non-finite scores for "
            f"{len(bad)} channel(s) ({named}): "
            "their high gamma is constant or not finite over the modelled samples. Check "
            "these channels in the recording, or mark them bad in channels.tsv.")


def _recheck_cost(estimate: CostEstimate, n_responsive: int, recording: Recording,
                  options: RunOptions) -> None:
    """Log the estimate given the responsive electrodes; refuse it (exit 64) beyond --mem."""
    estimate = estimate.given_tested(n_responsive)
    logger.info("%s: estimated cost with %d speech-responsive electrode(s):\n%s",
                recording.data_path.name, n_responsive, estimate.describe())
    if options.mem_bytes is not None:
        check_memory(estimate, options.mem_bytes, str(recording.data_path))


def _highgamma(recording: Recording, config: AppConfig, options: RunOptions,
               store: StageStore, block: int | None) -> tuple[NeuralData, str]:
    """The recording's high-gamma, reused when the preprocessing settings and input match.

    ``block`` (channels at once) changes the memory taken, not the result, so it is not part
    of the stage key.
    """
    key = highgamma_key(config.preprocessing, _source_identity(recording))
    neural = store.load("highgamma", key)
    if neural is not None:
        logger.info("high-gamma: reused (same input and preprocessing settings)")
        return neural, key
    settings = config.preprocessing
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


def _source_identity(recording: Recording) -> dict:
    """What identifies a recording's input: its files (size, mtime) and BIDS metadata."""
    stem = recording.data_path.name.rsplit("_", 1)[0]
    files = sorted(recording.data_path.parent.glob(f"{stem}_*"))
    return {"files": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files],
            "sidecar": recording.sidecar, "channels": recording.channels.to_csv(),
            "electrodes": None if recording.electrodes is None
            else recording.electrodes.to_csv()}


def compare_recording(feature_sets: dict[str, list[FeatureSet]], designs: Designs,
                      results: dict[str, dict[str, EncodingResult]],
                      stimuli: Sequence[Stimulus], words: Sequence[WordTimings | None],
                      neural: NeuralData, segments: np.ndarray, config: AppConfig,
                      options: RunOptions, responsive: pd.DataFrame | None,
                      cache: Cache | None = None) -> ComparisonResult:
    """The model comparisons of one recording (:func:`compare_models`).

    The shared-beyond-L test runs on the speech-responsive electrodes (every electrode when
    responsiveness could not be tested). ``cache`` keeps each comparison (see
    :data:`~bids_app.analysis.compare.Cache`).
    """
    spaces = {name: FeatureSpaceInfo(kind=sets[0].kind, layers=sets[0].layer_names,
                                     word_level=sets[0].is_word_level)
              for name, sets in feature_sets.items()}
    tested = None
    if responsive is not None:
        flags = dict(zip(responsive["channel"], responsive["responsive"].fillna(False),
                         strict=True))
        tested = np.array([bool(flags.get(name, False)) for name in neural.ch_names])
    inputs = ComparisonInputs(designs, spaces, results, neural.data.T, segments,
                              config.encoding.lags_samples(neural.sfreq), neural.ch_names,
                              word_samples(stimuli, words, neural.sfreq), neural.sfreq, tested,
                              designs.word_rows)
    return compare_models(inputs, config=config.comparison, encoding=config.encoding,
                          statistics=config.statistics, cache=cache,
                          verbose=logger.isEnabledFor(logging.DEBUG), **_engine(options))


def write_comparison(comparison: ComparisonResult, out_dir: Path, entities: dict[str, str],
                     provenance: dict) -> None:
    """Write each comparison table with its JSON data dictionary (docs/outputs.md)."""
    for warning in comparison.warnings:
        logger.warning("%s", warning)
    for desc, table in comparison.tables.items():
        suffix = COMPARISON_SUFFIXES.get(desc, "predcorr")
        path = out_dir / bids_name(entities, suffix, ".tsv", desc=desc)
        write_json(path.with_suffix(".json"), {
            **table_dictionary(table),
            "Provenance": {**provenance, "Metrics": comparison.metrics,
                           "Warnings": comparison.warnings}})
        write_tsv(path, table)
        logger.info("wrote %s", path)


def _speech_responsive(neural: NeuralData, onsets: np.ndarray, kind: str,
                       config: ElectrodeConfig) -> pd.DataFrame | None:
    """Speech-responsive electrodes from ``onsets`` (:func:`response_onsets`), or None.

    None (logged) when there are fewer than two onsets or their windows do not fit.
    """
    if len(onsets) < 2:
        logger.info("speech responsiveness skipped: it needs two or more stimulus onsets, or "
                    "a transcript with pauses of %g s or more", config.pause)
        return None
    try:
        table = speech_responsive(neural, onsets, window=tuple(config.window),
                                  baseline=tuple(config.baseline), alpha=config.alpha)
    except BadDataError as err:
        logger.warning("speech responsiveness not computed: %s", err)
        return None
    table["onset_kind"] = kind
    logger.info("speech responsiveness from %d %s onsets: %d of %d electrodes responsive",
                table["n_trials"].iloc[0], kind, int(table["responsive"].sum()), len(table))
    return table


def keep_responsive(neural: NeuralData, responsive: pd.DataFrame | None,
                     recording: Recording) -> NeuralData:
    """Restrict the data to speech-responsive electrodes (``electrodes.mask: responsive``)."""
    if responsive is None or not responsive["responsive"].any():
        raise BadDataError(
            f"electrodes.mask is 'responsive' but no electrode of {recording.data_path.name} "
            "is speech-responsive (or it has fewer than 2 stimulus onsets); use mask: all.")
    keep = responsive["responsive"].to_numpy(bool)
    logger.info("keeping %d speech-responsive of %d electrodes", keep.sum(), keep.size)
    return dataclasses.replace(neural, data=neural.data[keep],
                               ch_names=[n for n, k in zip(neural.ch_names, keep, strict=True)
                                         if k])


@dataclass
class _Encoder:
    """Fits (or reloads) the encoding model of every layer of a recording's feature spaces."""

    stimuli: Sequence[Stimulus]
    words: Sequence[WordTimings | None]
    neural: NeuralData
    segments: np.ndarray
    designs: Designs
    config: AppConfig
    options: RunOptions
    store: StageStore
    base_key: str
    progress: Progress
    keys: list[str] = dataclasses.field(default_factory=list)

    def feature_space(self, feature_sets: Sequence[FeatureSet]
                      ) -> tuple[pd.DataFrame, dict[str, EncodingResult]]:
        """One encoding model per layer of a feature space, saved as each one finishes.

        Returns
        -------
        table : DataFrame
            One row per channel and layer (and lag, in word mode): ``channel``, ``layer``,
            [``lag``], ``r``, ``r2``, ``alpha``, ``p``, ``p_fdr``, ``significant`` and, in TRF
            mode, ``peak_lag`` (s).
        results : dict of str to EncodingResult
            The result of each layer, with its cross-validated predictions memory-mapped.
        """
        name, layers = feature_sets[0].name, feature_sets[0].layer_names
        space_key = stage_key(self.base_key, [fs.meta for fs in feature_sets])
        keys = {layer: stage_key(space_key, layer) for layer in layers}
        self.keys += keys.values()

        def run(layer: str) -> tuple[EncodingResult, pd.DataFrame, float, bool]:
            start, stage = time.perf_counter(), f"encoding-{name}-{layer}"
            saved = self.store.load_result(stage, keys[layer])
            if saved is not None:
                return *saved, time.perf_counter() - start, True
            result, table = self._fit(feature_sets, layer)
            result = self.store.save_result(stage, keys[layer], result, table)
            for feature_set in feature_sets:  # bounded memory: the next layer reads its own
                release_pages(feature_set.layers[layer])
            return result, table, time.perf_counter() - start, False

        done: dict[str, tuple[EncodingResult, pd.DataFrame]] = {}
        for layer, (result, table, seconds, reused) in self._map(run, layers):
            done[layer] = result, table
            self.progress.step(f"{name} layer {layers.index(layer) + 1}/{len(layers)} "
                               f"({layer})", seconds, reused=reused,
                               detail=f"max r {np.nanmax(result.r):.3f}")
        return (pd.concat([done[layer][1] for layer in layers], ignore_index=True),
                {layer: done[layer][0] for layer in layers})

    def _map(self, run: Callable, layers: list[str]) -> Iterator[tuple[str, Any]]:
        """``(layer, run(layer))`` as each finishes: ``--nprocs`` layers at a time on the CPU.

        Each layer then runs single-threaded, which uses the cores better than one layer with
        multi-threaded BLAS (much of the work is copies, FFTs and small products).
        """
        if self._parallel_layers() < 2 or len(layers) < 2:
            for layer in layers:
                yield layer, run(layer)
            return
        with threadpool_limits(limits=1), ThreadPoolExecutor(self._parallel_layers()) as pool:
            futures = {pool.submit(run, layer): layer for layer in layers}
            for future in as_completed(futures):
                yield futures[future], future.result()

    def _engine(self) -> dict:
        """Engine arguments; threads are set by :meth:`_map` when layers run in parallel."""
        engine = _engine(self.options)
        return {**engine, "n_jobs": -1} if self._parallel_layers() > 1 else engine

    def _parallel_layers(self) -> int:
        return _parallel_layers(self.options)

    def _fit(self, feature_sets: Sequence[FeatureSet],
             layer: str) -> tuple[EncodingResult, pd.DataFrame]:
        config, neural = self.config, self.neural
        if config.encoding.mode == "word":
            if any(w is None for w in self.words) and not all(f.is_word_level
                                                              for f in feature_sets):
                raise MissingInputError("encoding.mode 'word' needs a transcript for every "
                                        "stimulus.")
            design, onsets = word_design(feature_sets, self.stimuli, self.words, layer)
            lags = config.encoding.word_lags_samples(neural.sfreq)

            def fit(data: np.ndarray) -> tuple[EncodingResult, np.ndarray]:
                return cross_validate_word_lags(
                    design, data, np.round(onsets * neural.sfreq).astype(int), lags,
                    segments=self.segments, config=config.encoding, **self._engine())

            result, targets = fit(neural.data.T)
            lags = lags / neural.sfreq
        else:
            design = self.designs(feature_sets[0].name, layer)
            rows = (self.designs.word_rows(feature_sets[0].name)
                    if config.encoding.centre_words else None)

            def fit(data: np.ndarray, **kwargs) -> tuple[EncodingResult, np.ndarray]:
                return cross_validate(design, data, segments=self.segments,
                                      config=config.encoding, word_rows=rows,
                                      lags=config.encoding.lags_samples(neural.sfreq),
                                      **kwargs, **self._engine()), data

            result, targets = fit(neural.data.T, return_weights=True)
            result.lag_profile = lag_profile(result.weights, design, self.segments)
            result.weights = result.weights.astype(np.float32)  # saved with the stage
            lags = None
        p_values = significance(result, targets, lambda data: fit(data)[0], neural.data.T,
                                config.statistics, config.encoding.mode, segments=self.segments)
        table = _scores_table(result, p_values, layer, neural.ch_names, lags,
                              config.statistics.fdr_alpha)
        if result.lag_profile is not None:
            table["peak_lag"] = np.round(peak_lags(result.lag_profile,
                                                   result.lags / neural.sfreq), 6)
        return result, table


def electrode_significance(table: pd.DataFrame, results: dict[str, EncodingResult],
                           data: np.ndarray, config: AppConfig) -> pd.DataFrame:
    """Add ``p_electrode`` and ``significant_electrode``: one test per electrode and space.

    With the circular-shift null (TRF mode), max-T over the space's layers
    (:func:`~bids_app.encoding.stats.max_t_p_values`); otherwise Bonferroni over the rows
    of each channel (layers and lags). FDR then runs across electrodes.
    """
    stats = config.statistics
    if config.encoding.mode == "trf" and stats.null("trf") == "circular_shift":
        p = dict(zip(table["channel"].drop_duplicates(), max_t_p_values(
            list(results.values()), data, stats.n_permutations, stats.seed), strict=True))
    else:
        rows = table.groupby("channel", sort=False)["p"]
        p = (rows.min() * rows.size()).clip(upper=1.0).to_dict()
    channels = list(p)
    significant = fdr_bh(np.array([p[c] for c in channels]), stats.fdr_alpha)[1]
    return table.assign(p_electrode=table["channel"].map(p),
                        significant_electrode=table["channel"].map(
                            dict(zip(channels, significant, strict=True))))


def _parallel_layers(options: RunOptions) -> int:
    """Layers fitted at once: ``--nprocs`` on the CPU, one on the GPU."""
    return 1 if resolve_device(options.device) == "cuda" else options.n_jobs


def _engine(options: RunOptions) -> dict:
    """Backend arguments of the ridge engine for ``--device`` and ``--nprocs``."""
    device = resolve_device(options.device)
    return {"backend": "torch" if device == "cuda" else "numpy", "device": device,
            "n_jobs": options.n_jobs}


def _scores_table(result: EncodingResult, p_values: np.ndarray, layer: str,
                  channels: list[str], lags: np.ndarray | None, fdr_alpha: float) -> pd.DataFrame:
    """Long table of one layer's scores; FDR runs across channels (and lags, in word mode)."""
    p_fdr, significant = fdr_bh(p_values.ravel(), fdr_alpha)
    n_lags = 1 if lags is None else len(lags)
    table = pd.DataFrame({
        "channel": np.tile(channels, n_lags), "layer": layer,
        "r": result.r.ravel(), "r2": result.r2.ravel(),
        "alpha": np.median(result.alphas, axis=0).ravel(), "p": p_values.ravel(),
        "p_fdr": p_fdr, "significant": significant})
    if lags is not None:
        table.insert(2, "lag", np.repeat(np.round(lags, 6), len(channels)))
    return table


def _up_to_date(scores_path: Path, digest: str) -> bool:
    """True when ``scores_path`` exists and was made with the same configuration by this
    version of the app (as every stage key includes it)."""
    sidecar = scores_path.with_suffix(".json")
    if not (scores_path.is_file() and sidecar.is_file()):
        return False
    provenance = json.loads(sidecar.read_text()).get("Provenance", {})
    return provenance.get("ConfigHash") == digest and provenance.get("Version") == __version__
