"""The participant level: order the steps (:mod:`bids_app.steps`) and handle failure.

The CLI parses arguments and calls :func:`run_participants` (the group level is
:mod:`bids_app.group`). Before any work, the models, stimuli, transcripts and cost of every
recording are resolved; then each recording runs high gamma, features, electrodes, encoding
and comparisons, each step a module with the config sections it depends on, its ``run`` and
its writer. A participant that fails leaves nothing of itself but its crash file and the
stage cache.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bids_app import __version__
from bids_app.bids.recording import Recording
from bids_app.config import AppConfig
from bids_app.cost import CostEstimate, check_memory, estimate_cost
from bids_app.encoding.align import Designs, stimulus_segments
from bids_app.errors import EXIT_FAILURE, MissingInputError, SslIeegError
from bids_app.features import needs_words
from bids_app.features.models import (
    ModelSource,
    require_supported,
    resolve_model,
)
from bids_app.features.spec import MODEL_KINDS
from bids_app.neural import (
    NeuralData,
    recording_duration,
)
from bids_app.outputs.derivatives import (
    entity_stem,
    participant_dir,
    run_record_path,
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
    encoding_key,
)
from bids_app.progress import Progress, format_seconds, stage
from bids_app.report.participant import write_failure_report, write_participant_report
from bids_app.steps import comparisons, electrodes, encoding, features, highgamma
from bids_app.steps.run import (
    ParticipantOutcome,
    RunOptions,
    parallel_layers,
    remove_participant_outputs,
    write_crash_file,
)
from bids_app.stimuli.alignments import read_words
from bids_app.stimuli.resolve import check_overlap, check_words_inside, resolve_stimuli
from bids_app.stimuli.stimulus import Stimulus, WordTimings

logger = logging.getLogger("ssl_ieeg")


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
    """Run the steps of one recording in order (``bids_app.steps``).

    Returns the recording's high-gamma, or None when its outputs were already up to date.

    ``models`` are the resolved models of the feature spaces that have one, by space name;
    ``estimate`` the recording's cost estimate: it sizes the high-gamma step's channel blocks
    to ``--mem`` (default ``preprocessing.block_size``), and is re-estimated, logged and
    checked against ``--mem`` once the number of speech-responsive electrodes (which the
    comparisons test) is known.

    Every step's result is saved as it finishes, keyed by what it depends on
    (:mod:`bids_app.outputs.stages`): a rerun reuses the high-gamma when the preprocessing
    settings match, every finished feature space × layer, and the comparisons when only the
    reports changed. The scores tables are written last, so their presence (with the same
    configuration hash and app version) means the recording is complete and a rerun skips it.
    """
    out_dir = participant_dir(options.output_dir, recording.subject, recording.session)
    digest = config.digest()
    score_paths = encoding.score_paths(out_dir, recording.entities, config.features)
    if all(_up_to_date(path, digest) for path in score_paths.values()):
        logger.info("%s: outputs up to date for config %s, skipping", recording.data_path.name,
                    digest)
        return None
    store = StageStore(options.output_dir / "stages" / entity_stem(recording.entities))
    with stage("high-gamma"):
        neural, neural_key = highgamma.run(recording, config.preprocessing, options, store,
                                           estimate.highgamma_block if estimate else None)
    highgamma.write(neural, recording, out_dir)
    with stage("features"):
        feature_sets = features.run(config.features, stimuli, words, models, options)
    stimulus_words = [words[s.stim_id] for s in stimuli]
    neural, responsive = electrodes.run(neural, recording, stimuli, stimulus_words,
                                        feature_sets, config.electrodes,
                                        out_dir.parent / "figures")
    if estimate is not None and responsive is not None:
        estimate = _recheck_cost(estimate, int(responsive["responsive"].sum()), recording,
                                 options)
    segments = stimulus_segments(stimuli, neural.data.shape[1], neural.sfreq)
    designs = Designs(feature_sets, stimuli, neural.data.shape[1], neural.sfreq)
    encoder = encoding.LayerEncoder(
        stimuli, stimulus_words, neural, segments, designs, config.encoding, config.statistics,
        options, store,
        encoding_key(neural_key, config.electrodes, config.encoding, config.statistics,
                     encoding.ENCODING_STAGE_CONTENT),
        Progress("encoding", sum(len(sets[0].layer_names) for sets in feature_sets.values()),
                 workers=parallel_layers(options)))
    with stage("encoding"):
        tables, results = encoding.run(encoder, feature_sets, config.features, recording,
                                       responsive)
    encoding_keys = encoder.keys
    del encoder  # its C-ordered targets and the shift null's spectra: 0.3 GB at 30 min
    provenance = {"ConfigHash": digest, "Version": __version__,
                  "Source": str(recording.data_path.relative_to(options.bids_dir)),
                  "Stimuli": [s.audio_path.name for s in stimuli], "Command": options.command}
    if config.encoding.mode == "trf":
        cache = comparisons.stage_cache(store, encoding_keys, config.electrodes,
                                        config.statistics)
        with stage("comparisons"):
            comparison = comparisons.run(feature_sets, designs, results, stimuli,
                                         stimulus_words, neural, segments, config.comparison,
                                         config.encoding, config.statistics, options,
                                         responsive, cache, _shared_cost(estimate, recording))
        comparisons.write(comparison, out_dir, recording.entities, provenance)
        encoding.write_trf(out_dir, recording.entities, tables, results, neural,
                           config.encoding, provenance)
    encoding.write_scores(score_paths, tables, feature_sets, provenance)
    return neural


def _recheck_cost(estimate: CostEstimate, n_responsive: int, recording: Recording,
                  options: RunOptions) -> CostEstimate:
    """Log the estimate given the responsive electrodes; refuse it (exit 64) beyond --mem."""
    estimate = estimate.given_tested(n_responsive)
    logger.info("%s: estimated cost with %d speech-responsive electrode(s):\n%s",
                recording.data_path.name, n_responsive, estimate.describe())
    if options.mem_bytes is not None:
        check_memory(estimate, options.mem_bytes, str(recording.data_path))
    return estimate


def _shared_cost(estimate: CostEstimate | None, recording: Recording
                 ) -> Callable[[int], None] | None:
    """Log the comparisons' estimate again once the shared space's size is known (the
    partition is priced at its most components until then)."""
    if estimate is None or estimate.n_tested is None:
        return None

    def log(n_kept: int) -> None:
        comparisons = next(stage for stage in estimate.given_tested(
            estimate.n_tested, n_kept).stages if stage.name == "comparisons")
        logger.info("%s: the shared space kept %d component(s); comparisons re-estimated: "
                    "~%s (%s)", recording.data_path.name, n_kept,
                    format_seconds(comparisons.seconds), comparisons.largest)

    return log


def _up_to_date(scores_path: Path, digest: str) -> bool:
    """True when ``scores_path`` exists and was made with the same configuration by this
    version of the app (as every stage key includes it)."""
    sidecar = scores_path.with_suffix(".json")
    if not (scores_path.is_file() and sidecar.is_file()):
        return False
    provenance = json.loads(sidecar.read_text()).get("Provenance", {})
    return provenance.get("ConfigHash") == digest and provenance.get("Version") == __version__
