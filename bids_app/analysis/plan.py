"""Which comparisons run on a recording: prediction pairs, CCA layers, partition sets.

Pure planning from the configuration and the feature spaces' names, kinds and layers; nothing
here touches data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bids_app.analysis.config import ACOUSTIC_KINDS, CCA_SETS, ComparisonConfig, untrained_name
from bids_app.encoding.result import EncodingResult
from bids_app.errors import UsageError
from bids_app.layers import layer_name


@dataclass
class FeatureSpaceInfo:
    """What the comparisons need to know of one feature space.

    Attributes
    ----------
    kind : str
        The feature kind (``speech``, ``language``, ``static``, ``mel``, ...).
    layers : list of str
        Layer names, in model order.
    word_level : bool
        True when the space's design has one impulse per word (language, static, word-pooled
        speech); False for frame-level spaces, whose word vectors are the mean over each
        word's samples.
    """

    kind: str
    layers: list[str]
    word_level: bool = False


def first_of_kind(spaces: Mapping[str, FeatureSpaceInfo], kind: str) -> str | None:
    """The first feature space of ``kind``, or None."""
    return next((name for name, info in spaces.items() if info.kind == kind), None)


def comparison_pairs(config: ComparisonConfig, spaces: Mapping[str, FeatureSpaceInfo],
                     warnings: list[str]) -> list[tuple[str, str]]:
    """The prediction-correlation pairs to run.

    ``auto``: the first speech against the first language space, then each of them against
    its untrained twin where the twin is analysed (the per-electrode trained-vs-untrained
    contrast, each model with its own in-fold layer choice, on the same folds). Why an
    analysis is skipped is appended to ``warnings``.
    """
    if config.prediction_correlation != "auto":
        pairs = [tuple(p) for p in config.prediction_correlation]
        unknown = sorted({n for p in pairs for n in p} - set(spaces))
        if unknown:
            raise UsageError(f"comparison.prediction_correlation names unknown feature "
                             f"spaces {unknown}; known: {sorted(spaces)}")
        return pairs
    a, b = first_of_kind(spaces, "speech"), first_of_kind(spaces, "language")
    if a is None or b is None:
        warnings.append("Prediction correlation skipped: it needs a speech and a language "
                        "feature space (comparison.prediction_correlation: auto).")
        return []
    twins = [(name, untrained_name(name)) for name in (a, b) if untrained_name(name) in spaces]
    return [(a, b), *twins]


def resolve_layer(spec: int | str, layers: Sequence[str], key: str) -> str:
    """Layer name from a config value: an index (``7`` -> ``layer07``), a name or ``middle``.

    Parameters
    ----------
    spec : int | str
    layers : sequence of str
        The space's layers in model order.
    key : str
        Config key, for the error message.

    Returns
    -------
    layer : str
    """
    hidden = [name for name in layers if name.startswith("layer")] or list(layers)
    if spec == "middle":
        return hidden[len(hidden) // 2]
    name = layer_name(spec) if isinstance(spec, int) else spec
    if name not in layers:
        raise UsageError(f"comparison.{key}: layer {spec!r} is not among {list(layers)}")
    return name


def available_sets(spaces: Mapping[str, FeatureSpaceInfo], has_cca: bool,
                   low: Sequence[str] = ()) -> list[str]:
    """The default variance-partitioning sets that exist for these feature spaces.

    ``acoustic`` is left out when an acoustic space is in the conditioning set ``low``; given
    L, the default is the CCA sets alone (the layers of the shared-beyond-L test, whose gains
    choose the summarised electrodes), and ``static`` joins only when named.
    """
    sets = list(CCA_SETS) if has_cca else []
    if first_of_kind(spaces, "static") is not None and not (has_cca and low):
        sets.append("static")
    acoustic = [name for name, info in spaces.items() if info.kind in ACOUSTIC_KINDS]
    if acoustic and not set(acoustic) & set(low):
        sets.append("acoustic")
    return sets


def partitions(config: ComparisonConfig, spaces: Mapping[str, FeatureSpaceInfo],
               has_cca: bool, warnings: list[str], low: Sequence[str] = ()) -> list[list[str]]:
    """The partitions to run: the configured one, or the defaults (see ComparisonConfig).

    ``low`` names the conditioning set's components: a configured set that has a feature
    space among them is dropped (it adds nothing beyond L). Why a partition or a set is
    skipped is appended to ``warnings``.
    """
    if config.variance_partitioning != "auto":
        names = list(config.variance_partitioning)
        if not names:
            return []
        if not has_cca and set(names) & set(CCA_SETS):
            warnings.append(f"Variance partitioning {names} skipped: the CCA shared "
                            "space could not be fitted.")
            return []
        inside = [name for name in names if name not in CCA_SETS
                  and set(set_members(name, spaces)) & set(low)]
        if inside:
            warnings.append(f"Variance partitioning: {inside} left out, being in the "
                            "low-level conditioning set L (comparison.conditioning).")
            names = [name for name in names if name not in inside]
        if len(names) < 2:
            warnings.append(f"Variance partitioning skipped: fewer than two sets outside L "
                            f"({names}).")
            return []
        return [names]
    names = available_sets(spaces, has_cca, low)
    if len(names) < 2:
        available = f"only {names} is" if names else "no set is"
        why = "" if has_cca else " (the CCA shared space, whose sets it partitions, is missing)"
        warnings.append(f"Variance partitioning skipped: {available} available{why} "
                        "(comparison.variance_partitioning: auto).")
        return []
    if len(names) <= 4:
        return [names]
    return [list(CCA_SETS), ["shared", "static", "acoustic"]]


def set_members(name: str, spaces: Mapping[str, FeatureSpaceInfo]) -> list[str]:
    """Feature spaces of a set: a space name, ``acoustic``, or every space of a kind."""
    if name in spaces:
        return [name]
    kinds = ACOUSTIC_KINDS if name == "acoustic" else (name,)
    members = [space for space, info in spaces.items() if info.kind in kinds]
    if not members:
        raise UsageError(f"comparison.variance_partitioning: {name!r} is neither a feature "
                         f"space ({sorted(spaces)}), a feature kind, nor one of "
                         f"{[*CCA_SETS, 'acoustic']}")
    return members


def space_layer(space: str, results: Mapping[str, Mapping[str, EncodingResult]],
                spaces: Mapping[str, FeatureSpaceInfo]) -> str:
    """The only layer, or the layer with the best mean r across electrodes."""
    layers = spaces[space].layers
    if len(layers) == 1 or space not in results:
        return layers[0]
    return max(results[space], key=lambda layer: np.nanmean(results[space][layer].r))
