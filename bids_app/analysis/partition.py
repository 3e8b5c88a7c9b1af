"""Variance partitioning: the R² of every Venn region from the R² of union models.

For sets ``A_1..A_n`` and the cross-validated R² of the model on every union of them, the
variance explained *exactly* by the sets in ``T`` (and by no other set) is, by Möbius
inversion of ``h(U) = R²(all) - R²(all \\ U)`` (the variance lost when dropping ``U``)::

    region(T) = sum over non-empty U ⊆ T of (-1)**(|T| - |U|) * h(U)

For two sets this gives ``unique(A) = R²(A∪B) - R²(B)`` and ``shared = R²(A) + R²(B) -
R²(A∪B)``; three sets give the 7 regions of a Venn diagram, four sets 15. Estimates can be
negative (overfitting, suppression); they are reported as they are and flagged.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def subsets(names: Sequence[str]) -> list[frozenset[str]]:
    """Every non-empty subset of ``names``: the union models a partition needs.

    Parameters
    ----------
    names : sequence of str

    Returns
    -------
    subsets : list of frozenset
        Ordered by size, then by the order of ``names``.
    """
    return [frozenset(combo) for size in range(1, len(names) + 1)
            for combo in itertools.combinations(names, size)]


def region_name(region: frozenset[str], names: Sequence[str]) -> str:
    """``"<set>_only"`` for one set, ``"a∩b"`` (in the order of ``names``) for several."""
    ordered = [name for name in names if name in region]
    return f"{ordered[0]}_only" if len(ordered) == 1 else "∩".join(ordered)


def partition_regions(r2: Mapping[frozenset[str], np.ndarray],
                      names: Sequence[str]) -> dict[frozenset[str], np.ndarray]:
    """R² of every Venn region from the R² of every union model.

    Parameters
    ----------
    r2 : mapping of frozenset to ndarray, shape (n_targets,)
        Cross-validated R² of the model on each non-empty union of ``names``.
    names : sequence of str
        The 2–4 sets.

    Returns
    -------
    regions : dict of frozenset to ndarray, shape (n_targets,)
        The variance explained by exactly the sets of each key; they sum to ``R²(all)``.
    """
    everything = frozenset(names)

    def dropped(subset: frozenset[str]) -> np.ndarray:
        rest = everything - subset
        return r2[everything] - (r2[rest] if rest else 0.0)

    return {region: sum((-1) ** (len(region) - len(part)) * dropped(part)
                        for part in subsets([n for n in names if n in region]))
            for region in subsets(names)}


def partition_table(r2: Mapping[frozenset[str], np.ndarray], names: Sequence[str],
                    channels: Sequence[str], significant: np.ndarray) -> pd.DataFrame:
    """Long table of one partition: one row per channel and region.

    Parameters
    ----------
    r2 : mapping of frozenset to ndarray, shape (n_channels,)
        R² of every union model (see :func:`partition_regions`).
    names : sequence of str
    channels : sequence of str
    significant : ndarray of bool, shape (n_channels,)
        Channels whose union model predicts significantly.

    Returns
    -------
    table : DataFrame
        Columns ``channel``, ``partition`` (set names joined by ``+``), ``region``, ``n_sets``
        (how many sets share the region), ``r2``, ``r2_union`` (R² of the model on all sets),
        ``fraction`` (``r2 / r2_union``), ``negative`` (the estimate is below zero, reported
        unclipped), ``significant`` and ``summarized`` (significant with a positive union
        R²: the channels the shares are computed on).
    """
    total = np.asarray(r2[frozenset(names)], dtype=float)
    significant = np.asarray(significant, dtype=bool)
    rows = []
    for region, values in partition_regions(r2, names).items():
        values = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            fraction = values / total
        rows.append(pd.DataFrame({
            "channel": list(channels), "partition": "+".join(names),
            "region": region_name(region, names), "n_sets": len(region), "r2": values,
            "r2_union": total, "fraction": fraction, "negative": values < 0,
            "significant": significant, "summarized": significant & (total > 0)}))
    return pd.concat(rows, ignore_index=True)


def region_shares(table: pd.DataFrame) -> pd.Series:
    """Share of the explained variance of each region, over the summarized channels.

    The R² of each region is summed over the channels whose union model is significant with
    a positive R² (``summarized``), and divided by the sum of the positive region sums. The
    positive shares are then in [0, 1] and add up to 1; a region whose summed estimate is
    negative (overfitting, suppression) keeps its negative share, to be reported as such.

    Parameters
    ----------
    table : DataFrame
        One partition from :func:`partition_table` (tables of several participants may be
        stacked).

    Returns
    -------
    shares : Series
        Region name -> share; empty when no channel is summarized, NaN when no region sum is
        positive.
    """
    sums = table[table["summarized"]].groupby("region", sort=False)["r2"].sum()
    positive = sums.clip(lower=0).sum()
    return sums / positive if positive > 0 else sums * np.nan
