"""Layers of a feature space: which are model layers, their order, and which one is best.

One rule for every derivative, table and figure: a model's layers are its ``layerNN`` hidden
states; other entries of the same space (a language model's ``surprisal`` and ``entropy``)
are scalar features, reported on their own and never on the layer axis. A participant's best
layer is the model layer with the highest mean r over the space's FDR-significant electrodes
(over all electrodes when none is significant); ties go to the earlier layer. The group level
applies the same rule (:func:`highest_mean`) to group means
(:func:`bids_app.group_stats.best_layer`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

_MODEL_LAYER = re.compile(r"layer(\d+)")


def layer_name(index: int) -> str:
    """The name of model layer ``index`` (``layer07``): hidden state ``index``, 0 the input
    embedding."""
    return f"layer{index:02d}"


def layer_index(layer: str) -> int | None:
    """The index of a ``layerNN`` name (None for scalar features such as ``surprisal``)."""
    match = _MODEL_LAYER.fullmatch(str(layer))
    return int(match.group(1)) if match else None


def layer_order(layers: Sequence[str]) -> list[str]:
    """Layers by index, then the scalar features (not on the layer axis) by name."""
    unique = list(dict.fromkeys(layers))
    return (sorted((x for x in unique if layer_index(x) is not None), key=layer_index)
            + sorted(x for x in unique if layer_index(x) is None))


def split_layers(layers: list[str]) -> tuple[list[str], list[str]]:
    """``(model layers, scalar features)`` in table order.

    A space without ``layerNN`` entries (an acoustic space, a static embedding) has its
    entries as its layers and no scalar feature.
    """
    model = [layer for layer in layers if layer_index(layer) is not None]
    if not model:
        return list(layers), []
    return model, [layer for layer in layers if layer not in model]


def best_lag_per_channel(table: pd.DataFrame,
                         electrode: Sequence[str] = ("channel",)) -> pd.DataFrame:
    """For word-mode tables (with a ``lag`` column): each electrode's row at its best lag.

    ``electrode`` names the columns that identify an electrode (stacked group tables add the
    participant and recording entities); rows with an undefined r are never chosen.
    """
    if "lag" not in table:
        return table
    best = table.dropna(subset=["r"]).groupby([*electrode, "layer"], sort=False)["r"].idxmax()
    return table.loc[best.to_numpy()]


def significant_channels(table: pd.DataFrame) -> set[str]:
    """Channels the space predicts significantly: by the per-electrode test
    (``significant_electrode``) where the table has it, else FDR-significant in a row."""
    column = "significant_electrode" if "significant_electrode" in table else "significant"
    return set(table.loc[table[column].astype(bool), "channel"])


def best_layer(table: pd.DataFrame) -> str:
    """The best model layer of one feature space's scores table (module docstring).

    A table whose every r is undefined (constant predictions) gets its first layer.
    """
    if table["r"].isna().all():
        return str(table["layer"].iloc[0])
    table = best_lag_per_channel(table.dropna(subset=["r"]))
    model, _ = split_layers(list(dict.fromkeys(table["layer"])))
    rows = table[table["layer"].isin(model)]
    significant = significant_channels(rows)
    if significant:
        rows = rows[rows["channel"].isin(significant)]
    return highest_mean(rows.groupby("layer", sort=False)["r"].mean().reindex(model))


def highest_mean(means: pd.Series) -> str:
    """The rule of both levels: the layer (index of ``means``) with the highest mean r,
    ties to the earlier layer (by layer index, then order). NaN means are ignored."""
    means = means.dropna()
    order = list(means.index)
    top = [layer for layer, value in means.items() if value == means.max()]
    return str(min(top, key=lambda layer: (layer_index(layer) or 0, order.index(layer))))
