"""The cost of a participant run, known before the work: peak memory and rough time per stage.

The estimate uses only what is known at start-up: the recording's length and channel count
(BIDS metadata and the file header), the feature widths (model configs), the lag grid and the
design reductions, the folds and alphas, the permutations and the comparisons. Memory counts
the arrays a stage holds at once; time counts its matrix products and eigendecompositions
at a rate measured on a 2-core machine (:data:`FLOPS_PER_CORE`), so it is a guide, not a
promise. A run whose peak memory exceeds ``--mem`` is refused before any work (exit 64), and the
high-gamma step's channel blocks are sized to fit in it (:func:`highgamma_block`).
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bids_app.bids.recording import Recording
from bids_app.config import AppConfig
from bids_app.encoding.config import REFIT_COLUMNS
from bids_app.errors import UsageError
from bids_app.progress import format_seconds
from bids_app.stimuli.stimulus import Stimulus

if TYPE_CHECKING:
    from bids_app.analysis.plan import FeatureSpaceInfo

#: Effective float32 rate of one core over a whole layer fit: matrix products run at ~65-100
#: GFLOP/s here, the copies, filters and scores between them bring it to about this
#: (calibrated on the 1,800 s participant benchmark, benchmarks/README.md: 3e10 made the
#: encoding estimate 94 % and the comparisons' 62 % too high once the max-T test stopped
#: recomputing its null, 6 Dec 2026).
FLOPS_PER_CORE = 6e10
#: Seconds per input sample and channel of the high-gamma step, per core (measured 19 s for
#: 235 channels x 30 min at 512 Hz with 2 cores in the participant benchmark, 6 Dec 2026).
HIGHGAMMA_SECONDS = 1.8e-7
#: Neural samples per word of a story (about 2.5 words per second at 100 Hz).
SAMPLES_PER_WORD = 40
#: Feature kinds whose layers are word-level (their PCA is fitted on the words).
WORD_LEVEL_KINDS = ("language", "static")
#: Seconds per sample and target of the circular-shift permutation test (one core; float32
#: FFTs of the predictions against the data's spectra, computed once per recording: 0.5 s
#: for 180,000 samples x 235 channels, 7 Dec 2026).
PERMUTATION_SECONDS = 1.2e-8
#: Seconds per byte of a layer's stage files (predictions and weights, written as each layer
#: finishes; the cost is the page cache's fresh pages, paid by each writing thread): 270 MB/s
#: measured for one 768-wide 1,800 s layer's 213 MB on the development VM (7 Dec 2026).
WRITE_SECONDS_PER_BYTE = 3.7e-9
#: Seconds per byte of layer predictions read back from the stage cache by the prediction
#: correlations (each pair reads every layer of its two spaces, from the page cache when it
#: holds them; calibrated on the 1,800 s participant benchmark's 3 pairs, 10.4 s in all,
#: 7 Dec 2026).
READ_SECONDS_PER_BYTE = 3e-10
#: Flops per ``n d²`` of a thin float64 SVD of an ``n x d`` matrix (the CCA's whitening;
#: calibrated on 4,500 x 700 word matrices, 7 Dec 2026).
SVD_FLOPS_PER_ND2 = 15
#: Seconds per p³ of a symmetric float32 eigendecomposition on one core (calibrated with
#: FLOPS_PER_CORE on the 120 s and 1,800 s participant benchmarks).
EIGH_SECONDS_PER_P3 = 1.2e-10
#: Bytes held per channel of a high-gamma block and per output sample (the band filters'
#: float64 copies of the channel at the input rate).
HIGHGAMMA_BLOCK_BYTES = 400
#: Bytes of the Python process before any data (interpreter, numpy, scipy, mne, torch).
BASE_BYTES = 0.6e9
#: Share of the channels assumed speech-responsive (and tested by the comparisons) until
#: responsiveness is known: :meth:`CostEstimate.given_tested` then re-estimates.
ASSUMED_RESPONSIVE = 0.3
_UNITS = {"": 1, "B": 1, "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9,
          "T": 1e12, "TB": 1e12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
#: Neural channel types that are modelled.
_NEURAL_TYPES = {"ECOG", "SEEG", "DBS"}


def parse_memory(text: str) -> int:
    """Bytes of a ``--mem`` value such as ``16GB``, ``16G``, ``1500MB`` or ``8GiB``.

    Raises
    ------
    UsageError
        For anything else.
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).upper() if match else None
    if match is None or unit not in _UNITS or float(match.group(1)) <= 0:
        raise UsageError(f"--mem must be a size such as 16GB, 1500MB or 8GiB, got {text!r}")
    return int(float(match.group(1)) * _UNITS[unit])


def default_memory() -> int:
    """90% of the memory this process may use: the cgroup limit or the machine's RAM."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limit = Path(path).read_text().strip()
        except OSError:
            continue
        if limit.isdigit():
            total = min(total, int(limit))
    return int(0.9 * total)


def format_bytes(n: float) -> str:
    """``"3.2 GB"``."""
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


@dataclass
class StageCost:
    """Estimated cost of one stage.

    Attributes
    ----------
    name : str
    peak_bytes : float
        Memory held at once during the stage (besides the process itself).
    seconds : float
        Rough wall time at the given number of cores.
    largest : str
        The stage's largest matrix, in words (e.g. ``"Gram 450 x 450 x 5 folds"``).
    """

    name: str
    peak_bytes: float
    seconds: float
    largest: str


@dataclass
class ComparisonSize:
    """What the comparisons' cost depends on, besides the number of tested electrodes.

    Attributes
    ----------
    config : AppConfig
    n_rows : int
        Modelled samples.
    n_channels : int
        Modelled channels.
    widths : dict of str to int
        Base width (before the lag basis) of every feature space's design block, reduced.
    kinds : dict of str to str
        The kind of every feature space.
    n_jobs : int
    raw_widths : dict of str to int
        Width of every feature space's layers before any reduction (the CCA's PCAs).
    n_layers : dict of str to int
        Layers of every feature space (whose predictions the prediction correlations read).
    """

    config: AppConfig
    n_rows: int
    n_channels: int
    widths: dict[str, int]
    kinds: dict[str, str]
    n_jobs: int
    raw_widths: dict[str, int]
    n_layers: dict[str, int]

    @property
    def spaces(self) -> dict[str, FeatureSpaceInfo]:
        """The feature spaces as the comparisons' plan sees them (their kinds)."""
        from bids_app.analysis.plan import FeatureSpaceInfo

        return {name: FeatureSpaceInfo(kind, []) for name, kind in self.kinds.items()}


@dataclass
class CostEstimate:
    """The cost of one recording's analysis, stage by stage."""

    stages: list[StageCost]
    #: Channels per block of the high-gamma step (:func:`highgamma_block`).
    highgamma_block: int
    #: The comparisons' sizes (None: no comparisons), to re-estimate them once the number
    #: of speech-responsive electrodes is known (:meth:`given_tested`).
    comparisons: ComparisonSize | None = None
    #: The tested electrodes the comparisons are priced for (None: an assumed share).
    n_tested: int | None = None

    def given_tested(self, n_tested: int, shared_components: int | None = None
                     ) -> CostEstimate:
        """The estimate with the comparisons priced for ``n_tested`` tested electrodes and,
        once the shared space is fitted, its ``shared_components`` (None: the most)."""
        if self.comparisons is None:
            return self
        stages = [comparison_cost(self.comparisons, n_tested, shared_components)
                  if s.name == "comparisons" else s for s in self.stages]
        return CostEstimate(stages, self.highgamma_block, self.comparisons, n_tested)

    @property
    def peak_bytes(self) -> float:
        """Peak memory of the run: the process plus its most demanding stage."""
        return BASE_BYTES + max(stage.peak_bytes for stage in self.stages)

    @property
    def seconds(self) -> float:
        """Total rough wall time."""
        return sum(stage.seconds for stage in self.stages)

    def describe(self) -> str:
        """One line per stage, then the totals."""
        lines = [f"  {s.name:<12} peak {format_bytes(s.peak_bytes):>8}, "
                 f"~{format_seconds(s.seconds)} (largest: {s.largest})" for s in self.stages]
        lines.append(f"  total        peak {format_bytes(self.peak_bytes):>8}, "
                     f"~{format_seconds(self.seconds)}")
        return "\n".join(lines)


def feature_layers(spec, model_path: Path | None) -> tuple[int, int, int]:
    """Number of layers, their width, and number of scalar features of a feature space.

    ``model_path`` is the resolved model directory (with ``config.json``), None for spaces
    without a model. A language model's scalar features (surprisal, entropy, tokens) are one
    column each.
    """
    if spec.file is not None:
        return file_layers(spec)
    if model_path is not None:
        model = json.loads((Path(model_path) / "config.json").read_text())
        width = model.get("hidden_size") or model.get("n_embd") or model.get("d_model") or 768
        depth = (model.get("num_hidden_layers") or model.get("n_layer")
                 or model.get("encoder_layers") or 12)
        if spec.kind == "static":
            return 1, int(width), 0
        layers = len(spec.layers) if isinstance(spec.layers, list) else int(depth) + 1
        return layers, int(width), 3 if spec.kind == "language" else 0
    if spec.kind == "static":
        return 1, 300, 0  # a GloVe file
    if spec.kind == "mel":
        return 1, int(spec.resolved_options()["n_mels"]), 0
    return 1, 30 if spec.kind == "phonetic" else 1, 0


def file_layers(spec) -> tuple[int, int, int]:
    """Layers, widest layer and scalars of a space read from files (array headers only)."""
    from bids_app.features.precomputed import layer_shapes
    from bids_app.layers import layer_name

    paths = sorted(glob.glob(spec.file.path.replace("{stim}", "*")))
    shapes = layer_shapes(Path(paths[0])) if paths else {}
    if spec.layers != "all":
        shapes = {name: shape for name, shape in shapes.items()
                  if name in {layer_name(i) for i in spec.layers}}
    width = max((shape[1] if len(shape) > 1 else 1 for shape in shapes.values()), default=1)
    return max(len(shapes), 1), int(width), len(spec.file.scalars) + (spec.kind == "language")


def recording_size(recording: Recording, stimuli: Sequence[Stimulus],
                   sfreq_out: float) -> tuple[int, int, int]:
    """Samples of the neural timeline, modelled samples and modelled channels."""
    channels = recording.channels
    n_channels = len(channels)
    if "type" in channels:
        neural = channels["type"].astype(str).str.upper().isin(_NEURAL_TYPES)
        if "status" in channels:
            neural &= channels["status"].astype(str).str.lower() != "bad"
        n_channels = int(neural.sum())
    duration = recording.sidecar.get("RecordingDuration")
    if not isinstance(duration, (int, float)) or duration <= 0:
        duration = max((s.onset + s.duration for s in stimuli), default=0.0)
    modelled = sum(s.duration for s in stimuli)
    return int(duration * sfreq_out), int(modelled * sfreq_out), n_channels


def highgamma_block(configured: int, n_times: int, n_channels: int,
                    memory: float | None) -> int:
    """Channels per block of the high-gamma step that fit in ``memory``.

    The high-gamma does not depend on the block size (the blocks are independent channels),
    only the memory the step takes does.

    Parameters
    ----------
    configured : int
        ``preprocessing.block_size``, the most channels per block.
    n_times : int
        Samples of the high-gamma timeline.
    n_channels : int
        Modelled channels (their high-gamma is held whole).
    memory : float | None
        Bytes the run may use (``--mem``); None: the configured size.

    Returns
    -------
    block : int
        ``configured``, or fewer channels (at least one) where that would not fit.
    """
    if memory is None:
        return configured
    free = memory - BASE_BYTES - 8 * n_channels * n_times
    fits = int(free // (HIGHGAMMA_BLOCK_BYTES * max(n_times, 1)))
    return max(1, min(configured, fits))


def estimate_cost(recording: Recording, stimuli: Sequence[Stimulus], config: AppConfig,
                  model_paths: dict[str, Path] | None = None, n_jobs: int = 1,
                  mem_bytes: float | None = None) -> CostEstimate:
    """Estimate the peak memory and rough time of every stage of one recording.

    Parameters
    ----------
    recording : Recording
    stimuli : sequence of Stimulus
        The recording's resolved stimuli (their durations give the modelled samples).
    config : AppConfig
    model_paths : dict of str to Path | None
        The resolved model directory of each feature space that has a model (their
        ``config.json`` gives the widths).
    n_jobs : int
        Cores the run uses.
    mem_bytes : float | None
        Bytes the run may use (``--mem``): the high-gamma blocks are sized to fit in it.

    Returns
    -------
    estimate : CostEstimate
    """
    from bids_app.encoding.align import DESIGN_CACHE_BYTES
    from bids_app.encoding.reduce import pca_stride

    enc = config.encoding
    sfreq = config.preprocessing.sfreq_out
    n_times, n_model, n_ch = recording_size(recording, stimuli, sfreq)
    flops = FLOPS_PER_CORE * max(1, n_jobs)
    n_lags = len(enc.lags_samples(sfreq))
    per_lag = _lag_columns(config)
    engine_lags = n_lags if per_lag == n_lags else 1
    folds, alphas = enc.n_folds, len(enc.alphas)
    inner = (enc.inner_folds or folds - 1) if enc.inner_cv == "kfold" else 1
    targets = n_ch * (len(enc.word_lags_samples(sfreq)) if enc.mode == "word" else 1)
    n_rows = n_model
    if enc.mode == "word":
        n_rows = max(n_model // SAMPLES_PER_WORD, 1)

    def layer_cost(width: int, union: bool = False, targets: int = targets,
                   permutations: bool = True, word_level: bool = False
                   ) -> tuple[float, float, float, int]:
        """Memory, seconds of passes over the data, seconds of fits, and design width.

        ``union``: ``width`` is the sum of already reduced sets, whose design changes with
        the fold (the comparisons' union models). ``targets``: columns fitted at once;
        ``permutations``: the circular-shift test runs on them. ``word_level``: the layer's
        PCA is fitted on, and applied to, its word rows (one per word, not per sample).
        """
        base = width if enc.layer_pca is None or union else min(width, enc.layer_pca)
        # a design per fold: in-fold PCAs, or a union (priced per fold, as the partition's
        # unions with the CCA sets are); else one design for all folds (the fixed path)
        per_fold = union or (width > base and enc.layer_pca_fit == "in_fold")
        p = base * per_lag
        # the layer read from its memory-mapped file, the aligned copy, the fold design
        design_bytes = 4 * n_rows * (2 * width + 2 * p / engine_lags)
        grams = (folds + 3) * 8 * p * p  # fold statistics, a training set, eigh copies
        arrays = 4 * n_rows * targets * 3 + 8 * n_rows / folds * targets * 2
        gram_flops = 2 * n_rows * p * p / (engine_lags if engine_lags > 1 else 1)
        passes = folds if per_fold else 1
        fits = folds * (inner + 1) if per_fold else folds * (folds - 1) / 2 + folds
        pca_fits = folds if enc.layer_pca_fit == "in_fold" else 1
        # the covariance on every k-th sample (PCA_SAMPLES), the transform of every sample;
        # a word-level layer's, on its words
        rows = min(n_rows, n_model / SAMPLES_PER_WORD) if word_level else n_rows
        pca_flops = (2 * width * (rows / pca_stride(rows) * width + rows * pca_fits * base)
                     if width > base and not union else 0.0)
        data = ((passes * (gram_flops + 2 * n_rows * p * targets) + pca_flops) / flops
                + permutations * PERMUTATION_SECONDS * n_rows * targets / max(1, n_jobs))
        fit = fits * (EIGH_SECONDS_PER_P3 * p**3 / max(1, n_jobs)
                      + alphas * 2 * p * p * targets / flops)
        return design_bytes + grams + arrays, data, fit, p

    rate = recording.sidecar.get("SamplingFrequency")
    rate = rate if isinstance(rate, (int, float)) and rate > 0 else 5 * sfreq
    n_input = n_times * rate / sfreq
    block = highgamma_block(config.preprocessing.block_size, n_times, n_ch, mem_bytes)
    stages = [StageCost("high-gamma", HIGHGAMMA_BLOCK_BYTES * block * n_times
                        + 4 * n_ch * n_times * 2,
                        HIGHGAMMA_SECONDS * n_ch * n_input / max(1, n_jobs),
                        f"{n_ch} x {n_times} high-gamma, blocks of {block} channels")]
    peak, seconds, widest = 0.0, 0.0, 0
    n_layers_total = 0
    # the refit null: batches of shifted copies of the data, each a fit of the layer
    per_batch = max(1, REFIT_COLUMNS // max(1, n_ch))
    batches = (-(-config.statistics.n_refits // per_batch)
               if config.statistics.null(enc.mode, n_rows / folds) == "refit" else 0)
    weights_bytes = 0  # TRF mode: each layer's weights, float32, saved with its stage
    widest_raw = 0  # the widest aligned design (a layer before its PCA)
    widths, kinds, raw, depths = {}, {}, {}, {}  # for the comparisons
    for spec in config.features:
        n_layers, width, n_scalars = feature_layers(spec, (model_paths or {}).get(spec.name))
        widths[spec.name] = min(width, enc.layer_pca or width)
        raw[spec.name], depths[spec.name] = width, n_layers
        widest_raw = max(widest_raw, width)
        kinds[spec.name] = spec.kind
        n_layers_total += n_layers + n_scalars
        memory, data, fit, p = layer_cost(width, word_level=spec.kind in WORD_LEVEL_KINDS)
        if enc.mode == "trf":
            weights_bytes += 4 * n_lags * n_ch * (width * n_layers + n_scalars)
            memory += 12 * n_lags * width * n_ch  # the raw weights, float64 and float32
        peak, widest = max(peak, memory), max(widest, p)
        seconds += n_layers * (data + fit)
        if n_scalars:
            seconds += n_scalars * sum(layer_cost(1)[1:3])
        if batches:
            memory, data, fit, _ = layer_cost(width, targets=targets * per_batch,
                                              permutations=False)
            peak = max(peak, memory)
            seconds += n_layers * batches * (data + fit)
    saved = 4 * n_times * targets * n_layers_total  # predictions, memory-mapped from disk
    parallel = max(1, min(n_jobs, n_layers_total))  # --nprocs layers at once
    # each layer's stage files, written by the layers in flight at once
    seconds += (saved + weights_bytes) * WRITE_SECONDS_PER_BYTE / parallel
    # the circular-shift null's spectra of the data (complex64), shared by the layers
    spectra = 4 * n_rows * targets if enc.mode == "trf" and not batches else 0
    # the designs kept for the comparisons, beyond those of the layers in flight
    layer_design = 4 * n_times * widest_raw
    kept = max(0, min(DESIGN_CACHE_BYTES, n_layers_total * layer_design)
               - parallel * layer_design)
    stages.append(StageCost("encoding", peak * parallel + spectra + kept, seconds,
                            f"Gram {widest} x {widest} per fold, {n_layers_total} layers "
                            f"({format_bytes(saved)} of predictions and "
                            f"{format_bytes(weights_bytes)} of weights on disk)"))
    if enc.mode != "trf":
        return CostEstimate(stages, block)
    size = ComparisonSize(config, n_rows, n_ch, widths, kinds, n_jobs, raw, depths)
    stages.append(comparison_cost(size, round(ASSUMED_RESPONSIVE * n_ch)))
    return CostEstimate(stages, block, size)


def comparison_cost(size: ComparisonSize, n_tested: int,
                    shared_components: int | None = None) -> StageCost:
    """Peak memory and rough time of the comparisons with ``n_tested`` tested electrodes.

    They cost their union fits (:func:`_union_fit`): the shared-beyond-L test of each pair
    (the trained models and their untrained twins) on the tested electrodes, once on the
    data and once per batch of rotated copies (``comparison.n_refits``), and the variance
    partition's unions given L on every channel, whose shared set is priced at
    ``shared_components`` canonical components (None: ``comparison.n_components``, the most).
    The prediction correlations (:func:`_predcorr_seconds`) and the CCA (its PCAs and
    whitenings, :func:`_cca_seconds`) are priced on their own.
    """
    from bids_app.analysis.beyond import NULL_COLUMNS
    from bids_app.analysis.config import untrained_name
    from bids_app.analysis.plan import first_of_kind

    comp = size.config.comparison
    low = _low_width(size)
    names = [comp.cca_speech or first_of_kind(size.spaces, "speech"),
             comp.cca_language or first_of_kind(size.spaces, "language")]
    fits: list[tuple[str, list[tuple[int, int]], int]] = []  # (test, models, targets)
    if all(name in size.widths for name in names):
        a, b = (size.widths[name] for name in names)
        twins = all(untrained_name(name) in size.widths for name in names)
        given = low
        if twins and comp.beyond_untrained:  # the twins join L; their own test does not run
            given, twins = low + a + b, False
        models = [(w, bands) for w, bands in ((given, 1), (given + a, 2), (given + b, 2),
                                              (given + a + b, 3)) if w]
        per_batch = max(1, NULL_COLUMNS // max(1, n_tested))
        batches = [min(per_batch, comp.n_refits - start)
                   for start in range(0, comp.n_refits, per_batch)]
        # its designs are feature blocks: one for all folds when fitted on the recording
        shared_design = size.config.encoding.layer_pca_fit == "recording"
        for _ in range(2 if twins else 1):  # the data ride along the first batch
            fits.append(("beyond", [*models, (1, 1), (1 + b, 2)],
                         (1 + batches[0]) * n_tested, shared_design))
            fits += [("beyond", models, refits * n_tested, shared_design)
                     for refits in batches[1:]]
    for sets in _partition_widths(size, shared_components):  # the CCA sets: fitted per fold
        # the models of every subset of the sets, but of an empty one (no shared component)
        models = [(low + sum(w for i, w in enumerate(sets) if mask >> i & 1),
                   1 + bin(mask).count("1")) for mask in range(2 ** len(sets))
                  if all(w for i, w in enumerate(sets) if mask >> i & 1)]
        fits.append(("varpart", [(w, bands) for w, bands in models if w], size.n_channels,
                     False))
    seconds, memory, widest = {}, 0.0, 0
    if all(name in size.widths for name in names):
        seconds["cca"] = _cca_seconds(size, *names)
    seconds["predcorr"] = _predcorr_seconds(size, n_tested)
    for test, models, targets, shared_design in fits:
        t, m = _union_fit(size, models, targets, shared_design)
        seconds[test] = seconds.get(test, 0.0) + t
        memory, widest = max(memory, m), max(widest, max(w for w, _ in models))
    per_lag = _lag_columns(size.config)
    detail = ", ".join(f"{test} ~{format_seconds(t)}" for test, t in seconds.items())
    return StageCost("comparisons", memory, sum(seconds.values()),
                     f"{detail}; widest union {widest * per_lag} columns, {n_tested} "
                     f"tested electrodes")


def _union_fit(size: ComparisonSize, models: list[tuple[int, int]], targets: int,
               shared_design: bool) -> tuple[float, float]:
    """Seconds and bytes of one :func:`~bids_app.encoding.cross_validate_subsets` call.

    ``models`` are the (base width, number of bands) of its models; they share the fold
    designs and Grams of the widest: one design for all folds with ``shared_design``, else
    one per fold, each with the statistics of the other folds. Each model searches
    ``3 ** (bands - 1)`` band scalings (banded), each an ``eigh`` per inner training set
    (shared by two outer folds with one design) and the
    alphas' validation errors (``2 p² k`` flops per alpha in the eigenbasis), then solves
    once per distinct chosen penalty.
    Calibrated on the 1,800 s participant benchmark (``benchmarks/README.md``).
    """
    enc, comp = size.config.encoding, size.config.comparison
    per_lag = _lag_columns(size.config)
    n, folds, alphas = size.n_rows, enc.n_folds, len(enc.alphas)
    inner = (enc.inner_folds or folds - 1) if comp.inner_cv == "kfold" else 1
    P = max(w for w, _ in models) * per_lag
    passes = 1 if shared_design else folds - 1
    # inner training sets: shared by two outer folds when the design is (the other outer
    # folds as inner folds), else one per outer fold and inner fold
    trainings = folds * inner
    if shared_design and enc.inner_folds is None:  # holdout: the last two folds share one
        trainings = folds * (folds - 1) / 2 if comp.inner_cv == "kfold" else folds - 1
    flops = 2 * passes * n * P * (P + targets) + 2 * n * P * targets * len(models)
    eigh = 0.0
    for width, bands in models:
        p = width * per_lag
        scalings = 3 ** (bands - 1) if comp.banded else 1
        eigh += trainings * scalings * EIGH_SECONDS_PER_P3 * p**3
        flops += folds * (inner * scalings * alphas * 2 * p * p * targets
                          + min(alphas, targets) * p**3 / 3)
    seconds = flops / (FLOPS_PER_CORE * max(1, size.n_jobs)) + eigh / max(1, size.n_jobs)
    memory = 4 * n * (P + 3 * targets) + (folds + 3) * 8 * P * P
    return seconds, memory


def _cca_seconds(size: ComparisonSize, speech: str, language: str) -> float:
    """The CCA: float64 covariances of the speech layer's frames (each fold's in one pass)
    or words, and of the language layer's words; then each fit (on all words, and per outer
    fold with ``cca_fit: in_fold``) whitens both sets' PCA scores by SVD twice (its CCA and
    the held-out check on 3/4 of its words), priced at every raw dimension kept (an upper
    bound: ``pca_variance`` keeps fewer)."""
    comp = size.config.comparison
    n_words = size.n_rows / SAMPLES_PER_WORD
    fits = 1 + (size.config.encoding.n_folds if comp.cca_fit == "in_fold" else 0)
    speech_rows = size.n_rows if comp.cca_level == "frame" else fits * n_words
    widths = size.raw_widths[speech] ** 2, size.raw_widths[language] ** 2
    moments = 2 * (speech_rows * widths[0] + fits * n_words * widths[1])
    whitening = SVD_FLOPS_PER_ND2 * fits * 1.75 * n_words * sum(widths)
    return (moments + whitening) / (FLOPS_PER_CORE / 2 * max(1, size.n_jobs))


def _predcorr_seconds(size: ComparisonSize, n_tested: int) -> float:
    """The prediction correlations: each pair reads the predictions of its spaces' layers
    and tests each model by circular shifts (the data's spectra and the predictions'), and
    with ``predcorr_null`` refits both models on rotated copies of the tested electrodes."""
    from bids_app.analysis.plan import comparison_pairs

    comp = size.config.comparison
    pairs = comparison_pairs(comp, size.spaces, [])
    seconds = 0.0
    for a, b in pairs:
        read = 4 * size.n_rows * size.n_channels * (size.n_layers[a] + size.n_layers[b])
        seconds += (read * READ_SECONDS_PER_BYTE
                    + 4 * PERMUTATION_SECONDS * size.n_rows * size.n_channels)
        if comp.predcorr_null:  # a fit of each model, its targets the rotated copies
            targets = comp.n_refits * n_tested
            seconds += sum(_union_fit(size, [(size.widths[name], 1)], targets, True)[0]
                           for name in (a, b))
    return seconds


def _lag_columns(config: AppConfig) -> int:
    """Design columns per base feature: the lag basis, or one per lag."""
    from bids_app.encoding.reduce import lag_basis

    lags = config.encoding.lags_samples(config.preprocessing.sfreq_out)
    basis = lag_basis(lags, config.encoding.lag_basis)
    return len(lags) if basis is None else basis.shape[1]


def _low_width(size: ComparisonSize) -> int:
    """Base width of the low-level set L."""
    from bids_app.analysis.config import ACOUSTIC_KINDS
    from bids_app.analysis.lowlevel import WORD_REGRESSORS

    wanted = size.config.comparison.conditioning
    if wanted == "auto":
        wanted = [name for name, kind in size.kinds.items() if kind in ACOUSTIC_KINDS]
        wanted += list(WORD_REGRESSORS)
    return sum(1 if name in WORD_REGRESSORS else
               sum(w for space, w in size.widths.items()
                   if name in (space, size.kinds[space]))
               for name in wanted)


def _partition_widths(size: ComparisonSize, shared_components: int | None = None
                      ) -> list[list[int]]:
    """Base widths of the sets of each variance partition (the CCA sets by default)."""
    comp = size.config.comparison
    cap = size.config.encoding.layer_pca or 768
    rest = min(comp.rest_components or cap, cap)
    kept = comp.n_components if shared_components is None else shared_components
    widths = {"shared": 2 * min(kept, cap), "speech_rest": rest,
              "language_rest": rest}
    if comp.variance_partitioning != "auto":
        return [[widths.get(name, cap) for name in comp.variance_partitioning]] \
            if comp.variance_partitioning else []
    partitions = [list(widths.values())]
    if not comp.conditioning:  # without L: (shared, static, acoustic) as well
        partitions.append([widths["shared"], cap, cap])
    return partitions


def check_memory(estimate: CostEstimate, limit: int, where: str) -> None:
    """Refuse (exit 64) a run whose estimated peak memory exceeds ``limit`` bytes."""
    if estimate.peak_bytes <= limit:
        return
    raise UsageError(
        f"{where}: the analysis needs about {format_bytes(estimate.peak_bytes)} at its peak, "
        f"more than --mem {format_bytes(limit)}:\n{estimate.describe()}\n"
        "Lower the design width (encoding.layer_pca, encoding.lag_basis, or a coarser "
        "encoding.lag_step / shorter encoding.tmax), fewer encoding.n_folds, or raise --mem.")
