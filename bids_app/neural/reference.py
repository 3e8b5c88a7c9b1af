"""Re-referencing helpers: bipolar neighbours and electrode groups.

The common average itself is computed while streaming channel blocks (``preprocess``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_CONTACT = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)$")


def bipolar_pairs(names: Sequence[str],
                  groups: Sequence[object] | None = None) -> list[tuple[str, str]]:
    """Neighbouring contacts on one shaft or strip: same name prefix, consecutive numbers.

    ``LA1, LA2, LA3`` gives ``(LA1, LA2), (LA2, LA3)``; a gap (``LA3, LA5``, e.g. a bad contact
    removed) breaks the chain. On grids, consecutive numbers can straddle a row end: check the
    layout when using ``bipolar`` on grids.

    Parameters
    ----------
    names : sequence of str
        Good channel names.
    groups : sequence | None
        Group of each channel; contacts of different groups are never paired.

    Returns
    -------
    pairs : list of (str, str)
        ``(anode, cathode)`` pairs; the derivative channel is ``anode - cathode``.
    """
    labels = group_labels(len(names), groups)
    contacts = {}
    for name, group in zip(names, labels, strict=True):
        match = _CONTACT.match(name)
        if match:
            contacts[(group, match["prefix"], int(match["number"]))] = name
    pairs = []
    for (group, prefix, number), name in contacts.items():
        neighbour = contacts.get((group, prefix, number + 1))
        if neighbour is not None:
            pairs.append((name, neighbour))
    order = {name: i for i, name in enumerate(names)}
    return sorted(pairs, key=lambda pair: order[pair[0]])


def bipolar(data: np.ndarray, names: Sequence[str],
            pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """Bipolar derivations ``anode - cathode``.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        Signals of the channels in ``names``.
    names : sequence of str
        Row names of ``data``.
    pairs : sequence of (str, str)
        Pairs from :func:`bipolar_pairs`.

    Returns
    -------
    derived : ndarray, shape (n_pairs, n_times)
        One row per pair.
    """
    index = {name: i for i, name in enumerate(names)}
    anodes = [index[a] for a, _ in pairs]
    cathodes = [index[c] for _, c in pairs]
    return data[anodes] - data[cathodes]


def group_labels(n_channels: int, groups: Sequence[object] | None) -> np.ndarray:
    """Group labels as strings (missing groups, NaN, form one group ``"nan"``).

    Parameters
    ----------
    n_channels : int
        Number of channels.
    groups : sequence | None
        Raw group values, or None for a single group.

    Returns
    -------
    labels : ndarray of str, shape (n_channels,)
        One label per channel.
    """
    if groups is None:
        return np.full(n_channels, "all")
    return np.array([str(g) for g in groups])


def pair_name(pair: tuple[str, str]) -> str:
    """Channel name of a bipolar derivation, ``"anode-cathode"``."""
    return f"{pair[0]}-{pair[1]}"
