"""The analysis configuration: one YAML file, one dataclass per section, validated up front.

Each stage owns the dataclass of its section (with documented defaults); this module composes
them, rejects unknown keys and bad values before any work starts, and hashes the resolved
configuration so a resumed run can tell whether outputs are still valid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bids_app.analysis.config import CCA_SETS, ComparisonConfig, untrained_name
from bids_app.bids.config import BidsConfig
from bids_app.encoding.config import EncodingConfig, StatisticsConfig
from bids_app.errors import UsageError
from bids_app.features.spec import FeatureSpec
from bids_app.neural.config import ElectrodeConfig, PreprocessingConfig
from bids_app.outputs.derivatives import RESERVED_DESCS
from bids_app.stimuli.config import StimulusConfig


def default_features() -> list[FeatureSpec]:
    """The feature spaces of the reference study, analysed when the config names none.

    Wav2Vec2.0-base on the audio and GPT-2 (small) on the transcript, every layer; GPT-2's
    static input embeddings; and acoustic baselines (mel spectrogram, envelope, peak rate).
    The model weights must be available locally (``--model-dir``, the Hugging Face cache, or
    the container); runs never download them unless ``HF_HUB_OFFLINE=0``.
    """
    return [FeatureSpec(name="wav2vec2", kind="speech", model="facebook/wav2vec2-base"),
            FeatureSpec(name="gpt2", kind="language", model="gpt2"),
            FeatureSpec(name="static", kind="static", model="gpt2"),
            FeatureSpec(name="mel", kind="mel"),
            FeatureSpec(name="envelope", kind="envelope"),
            FeatureSpec(name="peakrate", kind="peak_rate")]


@dataclass(frozen=True)
class AppConfig:
    """The whole configuration. YAML keys are the attribute names; see each section's class."""

    bids: BidsConfig = field(default_factory=BidsConfig)
    stimulus: StimulusConfig = field(default_factory=StimulusConfig)
    preprocessing: PreprocessingConfig = field(default_factory=PreprocessingConfig)
    electrodes: ElectrodeConfig = field(default_factory=ElectrodeConfig)
    features: list[FeatureSpec] = field(default_factory=default_features)
    encoding: EncodingConfig = field(default_factory=EncodingConfig)
    statistics: StatisticsConfig = field(default_factory=StatisticsConfig)
    comparison: ComparisonConfig = field(default_factory=ComparisonConfig)

    def __post_init__(self) -> None:
        names = [spec.name for spec in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise UsageError(f"features: names must be unique, repeated: {duplicates}")
        if not names:
            raise UsageError("features: the list is empty; name at least one feature space")
        reserved = sorted(set(names) & RESERVED_DESCS)
        if reserved:
            raise UsageError(f"features: the names {reserved} are reserved for derivatives of "
                             "other kinds; rename those feature spaces")
        enc, sfreq = self.encoding, self.preprocessing.sfreq_out
        window = round((enc.tmax - enc.tmin) * sfreq) + 1  # samples in the lag window
        if (enc.mode == "trf" and enc.lag_step is not None and enc.lag_step * sfreq > 1 + 1e-9
                and (enc.lag_basis is None or enc.lag_basis >= window)):
            raise UsageError(
                f"encoding.lag_step {enc.lag_step:g} s spans several samples at "
                f"preprocessing.sfreq_out {sfreq:g} Hz without a lag basis (encoding.lag_basis "
                f"null, or not fewer bumps than the window's {window} samples): one column per "
                "lag would leave the delays between lags unmodelled, so impulse regressors "
                "(L's word onsets, language models' word vectors) would lose part of their "
                "response while smooth speech-model features would not, and the comparisons "
                "would favour the speech model. Keep the lag basis, or lower "
                "preprocessing.sfreq_out for fewer lags.")
        # the comparison preset and control reach into other sections (frozen: set here)
        if self.comparison.preset == "reference" and self.encoding.centre_words:
            object.__setattr__(self, "encoding", dataclasses.replace(self.encoding,
                                                                     centre_words=False))
        if self.comparison.untrained_control:
            object.__setattr__(self, "features", with_untrained_twins(self.features))

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration (every default filled in) as plain YAML types."""
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """A short hash of the resolved configuration, for resumable outputs and provenance."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_yaml(self) -> str:
        """The resolved configuration as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _check_pairs(comparison: ComparisonConfig, features: list[FeatureSpec],
                 why: str = "") -> None:
    """Both spaces of every prediction-correlation pair must be analysed."""
    names = [spec.name for spec in features]
    pairs = comparison.prediction_correlation
    for pair in [] if pairs == "auto" else pairs:
        for name in pair:
            if name not in names:
                raise UsageError(f"comparison.prediction_correlation: {name!r} (in {list(pair)})"
                                 f" is not a feature space{why}; the analysed feature spaces "
                                 f"are {names}")


def _check_references(comparison: ComparisonConfig, features: list[FeatureSpec]) -> None:
    """Every feature space the ``comparison`` section names must be configured."""
    _check_pairs(comparison, features)
    names = [spec.name for spec in features]
    known = f"the configured feature spaces are {names}"
    for key in ("cca_speech", "cca_language"):
        name = getattr(comparison, key)
        if name is not None and name not in names:
            raise UsageError(f"comparison.{key}: {name!r} is not a feature space; {known}")
    sets = comparison.variance_partitioning
    valid = {*CCA_SETS, "acoustic", *(spec.kind for spec in features), *names}
    for name in [] if sets == "auto" else sets:
        if name not in valid:
            raise UsageError(f"comparison.variance_partitioning: unknown set {name!r}; use "
                             f"{list(CCA_SETS)}, 'acoustic', a feature kind of the configured "
                             f"spaces or a feature-space name ({known})")


def load_config(path: Path | None = None, models: list[str] | None = None) -> AppConfig:
    """Read and validate the YAML configuration.

    Parameters
    ----------
    path : Path | None
        The YAML file; None uses every default.
    models : list of str | None
        ``--models``: keep only these feature spaces (by name), in this order.

    Returns
    -------
    config : AppConfig
        The validated configuration.

    Raises
    ------
    UsageError
        For an unreadable file, an unknown key or a bad value; the message names the key.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise UsageError(f"Cannot read the config file {path}: {err}") from err
        if not isinstance(raw, dict):
            raise UsageError(f"{path} must contain a mapping of sections, got {type(raw).__name__}")
    sections = {f.name: f for f in dataclasses.fields(AppConfig)}
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise UsageError(f"Unknown config section(s) {unknown} in {path}; valid: {list(sections)}")
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "features":
            if not isinstance(value, list):
                raise UsageError("features must be a list of feature spaces")
            kwargs[name] = [_build(FeatureSpec, item, f"features[{i}]")
                            for i, item in enumerate(value)]
        else:
            kwargs[name] = _build(_section_class(name), value or {}, name)
    config = AppConfig(**kwargs)
    _check_references(config.comparison, config.features)
    if models:
        by_name = {spec.name: spec for spec in config.features}
        unknown_models = [m for m in models if m not in by_name]
        if unknown_models:
            raise UsageError(f"--models {unknown_models} not among the configured feature "
                             f"spaces {list(by_name)}")
        config = dataclasses.replace(config, features=[by_name[m] for m in models])
        # CCA and partition sets of spaces left out are skipped with a warning at run time
        _check_pairs(config.comparison, config.features, " selected by --models")
    return config


def with_untrained_twins(features: list[FeatureSpec]) -> list[FeatureSpec]:
    """The feature spaces plus the untrained twin of every pretrained speech/language model.

    A twin is the same model with random weights (``weights: random``, seed 0) and the same
    layers and options, named ``<name>untrained`` (:func:`~bids_app.analysis.config.
    untrained_name`); a name already configured is left alone. Spaces read from files have
    none (configure ``<name>untrained`` from a random-weight model's file for the control).
    """
    names = {spec.name for spec in features}
    twins = [dataclasses.replace(spec, name=untrained_name(spec.name), weights="random",
                                 seed=0)
             for spec in features if spec.kind in ("speech", "language") and spec.file is None
             and spec.weights == "pretrained" and untrained_name(spec.name) not in names]
    return [*features, *twins]


def _section_class(name: str) -> type:
    return {f.name: f.default_factory for f in dataclasses.fields(AppConfig)}[name]


def _build(cls: type, values: Any, where: str) -> Any:
    """Instantiate a config dataclass from a mapping, naming unknown keys."""
    if not isinstance(values, dict):
        raise UsageError(f"{where} must be a mapping, got {values!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UsageError(f"Unknown key(s) {[f'{where}.{k}' for k in unknown]}; valid keys of "
                         f"{where}: {sorted(known)}")
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if not _has_type(value, hints[key]):
            raise UsageError(f"{where}.{key} must be {_type_name(hints[key])}, got {value!r}")
    try:
        return cls(**values)
    except TypeError as err:
        raise UsageError(f"{where}: {err}") from err


def _has_type(value: Any, hint: Any) -> bool:
    """Whether a YAML value fits a field's type hint (ints pass as floats, not as bools)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_has_type(v, item) for v in value)
    return isinstance(value, origin or hint)


def _type_name(hint: Any) -> str:
    """``int``, ``float or null``, ``list of str`` ... for error messages."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is list:
        args = typing.get_args(hint)
        return f"a list of {_type_name(args[0])}" if args else "a list"
    return getattr(hint, "__name__", str(hint))
