"""Statistics across participants, computed from the participants' derivative tables only.

Every function takes and returns plain tables (or a small dataclass), so each statistic can be
read, tested and reused on its own. The tests, their units and their assumptions are stated
in docs/statistics.md ("Group statistics"); the tables written from them in docs/outputs.md.

The unit of every group test is the participant: electrodes of one participant are not
independent samples of the population of brains.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np
import pandas as pd
from scipy import stats

from bids_app.analysis.partition import region_shares
from bids_app.encoding.stats import fdr_bh
from bids_app.layers import best_lag_per_channel, highest_mean, layer_index, layer_order

#: Electrode sets a participant's mean r is taken over (docs/statistics.md).
ELECTRODE_SETS = ("significant", "responsive", "all")
#: Bootstrap resamples of participants, and the seed of every resampling.
N_RESAMPLES, SEED = 10_000, 0
#: Columns that name one electrode of one recording in the stacked scores tables.
ELECTRODE = ["subject", "session", "acq", "run", "channel"]
#: Columns of electrodes.tsv taken to hold an anatomical label, in order of preference.
LABEL_COLUMNS = ("anatomical_label", "anat", "label", "region", "location", "roi",
                 "destrieux", "desikan_killiany", "aal")

@dataclass(frozen=True)
class BootstrapCI:
    """The mean of participant values and its percentile bootstrap confidence interval.

    Attributes
    ----------
    mean : float
    low, high : float
        NaN with fewer than 2 participants (no spread to resample).
    n : int
        Participants with a defined value.
    """

    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class SignFlipResult:
    """A sign-flip permutation test of the mean of participant values against zero.

    Attributes
    ----------
    mean : float
        The observed mean.
    p : float
        Two-sided p-value.
    n : int
        Participants.
    exact : bool
        All ``2**n`` sign patterns were enumerated (else ``n_resamples`` random ones).
    """

    mean: float
    p: float
    n: int
    exact: bool


@dataclass(frozen=True)
class MixedModelResult:
    """The intercept of ``Δz ~ 1 + (1 | participant)`` (statsmodels MixedLM, REML).

    Attributes
    ----------
    estimate, se, p : float
        Fixed intercept, its standard error and Wald p (NaN when the model was not fitted).
    converged : bool
    note : str
        Why the model was not fitted, or its warnings; empty when it fitted cleanly.
    """

    estimate: float
    se: float
    p: float
    converged: bool
    note: str


def one_row_per_electrode(table: pd.DataFrame) -> pd.DataFrame:
    """One row per electrode and layer; in word mode (``lag`` column) the best lag's row.

    Missing ``session``, ``acq`` and ``run`` become ``""`` so that they group like any other
    label.

    Parameters
    ----------
    table : DataFrame
        Stacked scores tables (``subject``, ``session``, ``acq``, ``run``, ``channel``, ``layer``,
        ``r``, ``p``, ``significant``, optionally ``responsive`` and ``lag``).

    Returns
    -------
    rows : DataFrame
    """
    rows = table.assign(**{key: table[key].fillna("").astype(str) if key in table else ""
                           for key in ("session", "acq", "run")})
    return best_lag_per_channel(rows, ELECTRODE).reset_index(drop=True)


def participant_layer_means(table: pd.DataFrame, electrode_set: str) -> pd.DataFrame:
    """Each participant's mean r per layer over one set of its electrodes.

    Parameters
    ----------
    table : DataFrame
        One feature space's stacked scores (see :func:`one_row_per_electrode`).
    electrode_set : {"significant", "responsive", "all"}
        ``significant``: electrodes the space predicts by its per-electrode test
        (``significant_electrode``: max-T over its layers, FDR over electrodes), a set fixed
        along the layer axis; tables without it: FDR-significant at any layer (a scalar
        feature such as ``surprisal`` then uses the electrodes significant for it).
        ``responsive``: the scores' ``responsive`` column (speech-responsive electrodes).
        ``all``: every modelled electrode.

    Returns
    -------
    means : DataFrame
        ``subject``, ``layer``, ``electrode_set``, ``n_electrodes``, ``mean_r`` (NaN when
        the participant has no electrode in the set), rows in :func:`layer_order`.
    """
    rows = one_row_per_electrode(table)
    if electrode_set == "significant" and "significant_electrode" in rows:
        in_set = rows["significant_electrode"].eq(True)  # one test per electrode and space
    elif electrode_set == "significant":
        axis = rows["layer"].where(rows["layer"].map(layer_index).isna(), "layers")
        chosen = rows.assign(axis=axis).groupby([*ELECTRODE, "axis"])["significant"]
        in_set = chosen.transform("any").astype(bool)
    elif electrode_set == "responsive":
        in_set = (rows["responsive"].eq(True) if "responsive" in rows
                  else pd.Series(False, index=rows.index))
    elif electrode_set == "all":
        in_set = pd.Series(True, index=rows.index)
    else:
        raise ValueError(f"electrode_set must be one of {ELECTRODE_SETS}, not {electrode_set!r}")
    in_set &= rows["r"].notna()
    means = (rows.assign(in_set=in_set, r_in=rows["r"].where(in_set))
             .groupby(["subject", "layer"], sort=False)
             .agg(n_electrodes=("in_set", "sum"), mean_r=("r_in", "mean")).reset_index())
    means.insert(2, "electrode_set", electrode_set)
    order = {layer: i for i, layer in enumerate(layer_order(means["layer"]))}
    return means.sort_values(["subject", "layer"], key=lambda c: c.map(order)
                             if c.name == "layer" else c, ignore_index=True)


def bootstrap_ci(values: Sequence[float], n_resamples: int = N_RESAMPLES,
                 confidence: float = 0.95, seed: int = SEED) -> BootstrapCI:
    """Percentile bootstrap CI of the mean, resampling the values with replacement.

    Parameters
    ----------
    values : sequence of float
        One value per participant (the group level) or per electrode (a participant's report);
        NaN values (no electrode in the set) are left out.
    n_resamples : int
    confidence : float
    seed : int

    Returns
    -------
    ci : BootstrapCI
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return BootstrapCI(np.nan, np.nan, np.nan, 0)
    if x.size < 2:
        return BootstrapCI(float(x.mean()), np.nan, np.nan, 1)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return BootstrapCI(float(x.mean()), float(low), float(high), int(x.size))


def group_layer_profile(means: pd.DataFrame, n_resamples: int = N_RESAMPLES,
                        seed: int = SEED) -> pd.DataFrame:
    """The group mean r per electrode set and layer, with bootstrap CIs, best layer marked.

    Parameters
    ----------
    means : DataFrame
        :func:`participant_layer_means` of one feature space, electrode sets stacked.
    n_resamples, seed : int
        Of :func:`bootstrap_ci`.

    Returns
    -------
    profile : DataFrame
        ``electrode_set``, ``layer``, ``n_participants``, ``mean_r``, ``ci_low``,
        ``ci_high``, ``best`` (the one row per electrode set whose layer is
        :func:`best_layer`; the same layer in every set).
    """
    rows = []
    for (electrode_set, layer), group in means.groupby(["electrode_set", "layer"], sort=False):
        ci = bootstrap_ci(group["mean_r"], n_resamples, seed=seed)
        rows.append({"electrode_set": electrode_set, "layer": layer, "n_participants": ci.n,
                     "mean_r": ci.mean, "ci_low": ci.low, "ci_high": ci.high})
    profile = pd.DataFrame(rows, columns=["electrode_set", "layer", "n_participants", "mean_r",
                                          "ci_low", "ci_high"])
    return profile.assign(best=profile["layer"] == best_layer(profile))


def best_layer(profile: pd.DataFrame) -> str | None:
    """The one best layer of a feature space, used by every group table and figure.

    The layer (``layerNN`` only; scalar features are not on the layer axis) with the highest
    group mean r over the ``significant`` electrode set, or over ``all`` electrodes when no
    participant has a significant electrode; ties go to the lower layer index.

    Parameters
    ----------
    profile : DataFrame
        ``electrode_set``, ``layer``, ``mean_r`` (group means).

    Returns
    -------
    layer : str or None
        None when the space has no ``layerNN`` rows (e.g. an acoustic space).
    """
    layers = profile[profile["layer"].map(layer_index).notna()]
    for electrode_set in ("significant", "all"):
        rows = layers[(layers["electrode_set"] == electrode_set) & layers["mean_r"].notna()]
        if len(rows):
            return highest_mean(rows.set_index("layer")["mean_r"])
    return None


def electrode_differences(a: pd.DataFrame, b: pd.DataFrame, layer_a: str, layer_b: str,
                          fdr_alpha: float = 0.05,
                          roles: tuple[str, str] = ("speech", "language")) -> pd.DataFrame:
    """Per electrode: two models' r at their best layers, and Δr (paired on the electrode).

    The per-electrode test is each model's own encoding test at its best layer (the
    participant's permutation p), Benjamini–Hochberg adjusted across all electrodes of all
    participants, one family per model. Δr itself has no per-electrode test (the derivatives
    hold no time series to build its null); it is tested across electrodes and participants.

    Parameters
    ----------
    a, b : DataFrame
        The two feature spaces' stacked scores (e.g. a speech and a language model, or a
        model and its untrained twin).
    layer_a, layer_b : str
        Their :func:`best_layer`.
    fdr_alpha : float
    roles : tuple of str
        The two models' roles, which name the columns: ``("speech", "language")`` or
        ``("trained", "untrained")``.

    Returns
    -------
    table : DataFrame
        ``subject``, ``session``, ``acq``, ``run``, ``channel``, ``layer_<a>``,
        ``layer_<b>``, ``r_<a>``, ``r_<b>``, ``delta_r`` (``r_<a> - r_<b>``), ``delta_z``
        (difference of Fisher z), ``p_<a>``, ``p_<b>``, ``p_fdr_<a>``, ``p_fdr_<b>``,
        ``preference`` (``<a>``, ``<b>``, ``both`` or ``neither`` by the group-level FDR),
        ``significant`` (predicted by either model in the participant's one test per
        electrode, ``significant_electrode``; at the compared layer in tables without it),
        ``responsive``, for the roles ``<a>``, ``<b>``.
    """
    columns = [*ELECTRODE, "r", "p", "significant", "responsive", "significant_electrode"]
    sides = []
    for rows, layer, name in ((a, layer_a, roles[0]), (b, layer_b, roles[1])):
        rows = one_row_per_electrode(rows)
        rows = rows.loc[rows["layer"] == layer, [c for c in columns if c in rows]]
        sides.append(rows.rename(columns={c: f"{c}_{name}" for c in columns[len(ELECTRODE):]}))
    table = sides[0].merge(sides[1], on=ELECTRODE, how="inner")
    r = [table[f"r_{name}"].to_numpy(float) for name in roles]
    tests = [fdr_bh(table[f"p_{name}"].to_numpy(float), fdr_alpha) for name in roles]
    hits = [hit for _, hit in tests]
    preference = np.select([hits[0] & hits[1], hits[0], hits[1]], ["both", *roles], "neither")
    responsive = (table[f"responsive_{roles[0]}"].eq(True)
                  if f"responsive_{roles[0]}" in table else pd.Series(False, index=table.index))
    return pd.DataFrame({
        **{c: table[c] for c in ELECTRODE}, f"layer_{roles[0]}": layer_a,
        f"layer_{roles[1]}": layer_b, f"r_{roles[0]}": r[0], f"r_{roles[1]}": r[1],
        "delta_r": r[0] - r[1], "delta_z": fisher_z(r[0]) - fisher_z(r[1]),
        **{f"p_{name}": table[f"p_{name}"] for name in roles},
        **{f"p_fdr_{name}": p_fdr for name, (p_fdr, _) in zip(roles, tests, strict=True)},
        "preference": preference,
        "significant": _predicted(table, roles[0]) | _predicted(table, roles[1]),
        "responsive": responsive})


def _predicted(table: pd.DataFrame, role: str) -> pd.Series:
    """Whether the model of ``role`` predicts each electrode: its one test per electrode
    (``significant_electrode``), or, in tables without it, at the layer compared."""
    column = f"significant_electrode_{role}"
    return (table[column] if column in table else table[f"significant_{role}"]).eq(True)


def fisher_z(r: np.ndarray) -> np.ndarray:
    """``arctanh(r)``, with r clipped to ±(1 − 1e-7) so that a perfect fit stays finite."""
    return np.arctanh(np.clip(np.asarray(r, dtype=float), -1 + 1e-7, 1 - 1e-7))


def select_electrodes(table: pd.DataFrame, electrode_set: str) -> pd.DataFrame:
    """The rows of an :func:`electrode_differences` table in one electrode set."""
    if electrode_set == "all":
        return table
    return table[table[electrode_set].astype(bool)]


def participant_differences(table: pd.DataFrame, electrode_set: str) -> pd.DataFrame:
    """Each participant's mean Δr and Δz over one electrode set.

    Parameters
    ----------
    table : DataFrame
        :func:`electrode_differences`.
    electrode_set : {"significant", "responsive", "all"}
        ``significant``: FDR-significant (participant level) for either model.

    Returns
    -------
    means : DataFrame
        ``subject``, ``electrode_set``, ``n_electrodes``, ``mean_delta_r``,
        ``mean_delta_z``; participants without an electrode in the set are left out.
    """
    rows = select_electrodes(table, electrode_set)
    means = rows.groupby("subject", sort=True).agg(
        n_electrodes=("delta_r", "size"), mean_delta_r=("delta_r", "mean"),
        mean_delta_z=("delta_z", "mean")).reset_index()
    means.insert(1, "electrode_set", electrode_set)
    return means


def sign_flip_test(values: Sequence[float], n_resamples: int = N_RESAMPLES,
                   seed: int = SEED) -> SignFlipResult:
    """Two-sided sign-flip permutation test of the mean of participant values against 0.

    Under H0 each participant's value is symmetric about zero, so flipping its sign leaves
    the distribution unchanged. All ``2**n`` sign patterns are enumerated when there are at
    most ``n_resamples`` of them (an exact p, at least ``2 / 2**n``); otherwise
    ``n_resamples`` random patterns give ``p = (count + 1) / (n_resamples + 1)``.

    Parameters
    ----------
    values : sequence of float
        One value per participant (NaN left out).
    n_resamples, seed : int

    Returns
    -------
    result : SignFlipResult
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return SignFlipResult(np.nan, np.nan, 0, True)
    observed = abs(x.mean())
    tolerance = 1e-12 * max(1.0, observed)
    if 2 ** x.size <= n_resamples:
        signs = np.array(list(product((1.0, -1.0), repeat=x.size)))
        null = np.abs(signs @ x) / x.size
        return SignFlipResult(float(x.mean()), float(np.mean(null >= observed - tolerance)),
                              int(x.size), True)
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(n_resamples, x.size))
    count = np.sum(np.abs(signs @ x) / x.size >= observed - tolerance)
    return SignFlipResult(float(x.mean()), float((count + 1) / (n_resamples + 1)),
                          int(x.size), False)


def mixed_model_test(table: pd.DataFrame) -> MixedModelResult:
    """Fit ``delta_z ~ 1 + (1 | subject)`` by REML (statsmodels ``MixedLM``).

    Electrodes are nested in participants; the random intercept absorbs each participant's
    offset, so the fixed intercept's Wald test asks whether Δz differs from 0 in the
    population. An electrode recorded in several recordings (sessions, runs, acquisitions)
    counts once, with the mean of its Δz: its recordings are not independent observations.
    It assumes normal residuals and participant effects, and needs several participants to
    estimate their variance; a fit whose Hessian is not positive definite (the participant
    variance on its boundary, common with two participants) is reported as not usable.
    The intercept is tested against Student's t with
    ``n_participants - 1`` degrees of freedom, not statsmodels' Wald z: with participants
    that differ (a participant SD half the electrode SD) the z test rejected a true null
    15 % of the time with 3 or 5 participants and 11 % with 9 (``docs/statistics.md``).

    Parameters
    ----------
    table : DataFrame
        Rows of :func:`electrode_differences` (one electrode set).

    Returns
    -------
    result : MixedModelResult
    """
    table = table.dropna(subset=["delta_z"])  # r is undefined where a prediction is constant
    if "channel" in table:  # one row per electrode, whatever its number of recordings
        table = table.groupby(["subject", "channel"], as_index=False,
                              sort=False)["delta_z"].mean()
    n_participants = table["subject"].nunique()
    if n_participants < 2 or len(table) <= n_participants:
        return MixedModelResult(np.nan, np.nan, np.nan, False,
                                f"not fitted: {n_participants} participant(s) and "
                                f"{len(table)} electrode(s); it needs 2 or more participants "
                                "and more electrodes than participants")
    import statsmodels.formula.api as smf

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = smf.mixedlm("delta_z ~ 1", table, groups=table["subject"]).fit(reml=True)
        except (ValueError, np.linalg.LinAlgError) as err:
            return MixedModelResult(np.nan, np.nan, np.nan, False, f"not fitted: {err}")
    note = "; ".join(dict.fromkeys(str(w.message).splitlines()[0] for w in caught))
    estimate, se = float(fit.params["Intercept"]), float(fit.bse["Intercept"])
    if not np.isfinite(se) or "not positive definite" in note:
        # its standard error is meaningless (on the demo: 2e6 for Δz 0.48, or 0.01 where
        # the electrodes' own spread gives 0.02): no test rather than a wrong one
        return MixedModelResult(np.nan, np.nan, np.nan, False, f"not usable: {note}")
    p = 2 * stats.t.sf(abs(estimate / se), n_participants - 1)  # not the Wald z: see above
    return MixedModelResult(estimate, se, float(p), bool(fit.converged), note)


def speech_language_tests(table: pd.DataFrame, electrode_sets: Sequence[str] = ELECTRODE_SETS,
                          n_resamples: int = N_RESAMPLES, seed: int = SEED) -> pd.DataFrame:
    """The group tests of Δr = r_speech − r_language, one row per electrode set.

    Parameters
    ----------
    table : DataFrame
        :func:`electrode_differences`.
    electrode_sets : sequence of str
    n_resamples, seed : int

    Returns
    -------
    tests : DataFrame
        ``electrode_set``, ``n_participants``, ``n_electrodes``, ``mean_delta_r`` (mean of
        participant means), ``ci_low``, ``ci_high`` (bootstrap), ``signflip_p``,
        ``signflip_exact``, ``lmm_delta_z``, ``lmm_se``, ``lmm_p``, ``lmm_converged``,
        ``lmm_note``.
    """
    rows = []
    for electrode_set in electrode_sets:
        means = participant_differences(table, electrode_set)
        ci = bootstrap_ci(means["mean_delta_r"], n_resamples, seed=seed)
        flip = sign_flip_test(means["mean_delta_r"], n_resamples, seed)
        lmm = mixed_model_test(select_electrodes(table, electrode_set))
        rows.append({"electrode_set": electrode_set, "n_participants": ci.n,
                     "n_electrodes": int(means["n_electrodes"].sum()),
                     "mean_delta_r": ci.mean, "ci_low": ci.low, "ci_high": ci.high,
                     "signflip_p": flip.p, "signflip_exact": flip.exact,
                     "lmm_delta_z": lmm.estimate, "lmm_se": lmm.se, "lmm_p": lmm.p,
                     "lmm_converged": lmm.converged, "lmm_note": lmm.note})
    return pd.DataFrame(rows)


def participant_shares(varpart: pd.DataFrame) -> pd.DataFrame:
    """Each participant's share of explained variance per region of each partition.

    Parameters
    ----------
    varpart : DataFrame
        Stacked ``varpart`` tables with a ``subject`` column holding the participant label
        (a participant's recordings are pooled, as in its own report).

    Returns
    -------
    shares : DataFrame
        ``subject``, ``partition``, ``region``, ``n_summarized`` (electrodes the shares are
        computed on), ``share`` (see :func:`~bids_app.analysis.partition.region_shares`);
        a participant with no summarized electrode has no rows for that partition.
    """
    rows = []
    for (subject, partition), table in varpart.groupby(["subject", "partition"], sort=False):
        shares = region_shares(table)
        n_used = int(table.loc[table["region"] == table["region"].iloc[0], "summarized"].sum())
        rows.extend({"subject": subject, "partition": partition, "region": region,
                     "n_summarized": n_used, "share": share}
                    for region, share in shares.dropna().items())
    return pd.DataFrame(rows, columns=["subject", "partition", "region", "n_summarized",
                                       "share"])


def share_summary(shares: pd.DataFrame, n_resamples: int = N_RESAMPLES,
                  seed: int = SEED) -> pd.DataFrame:
    """Mean share of each region across participants, with bootstrap CIs.

    Parameters
    ----------
    shares : DataFrame
        :func:`participant_shares`.
    n_resamples, seed : int

    Returns
    -------
    summary : DataFrame
        ``partition``, ``region``, ``n_participants``, ``mean_share``, ``ci_low``,
        ``ci_high``.
    """
    rows = []
    for (partition, region), group in shares.groupby(["partition", "region"], sort=False):
        ci = bootstrap_ci(group["share"], n_resamples, seed=seed)
        rows.append({"partition": partition, "region": region, "n_participants": ci.n,
                     "mean_share": ci.mean, "ci_low": ci.low, "ci_high": ci.high})
    return pd.DataFrame(rows, columns=["partition", "region", "n_participants", "mean_share",
                                       "ci_low", "ci_high"])


def label_column(electrodes: pd.DataFrame) -> str | None:
    """The anatomical-label column of an electrodes table (see ``LABEL_COLUMNS``), or None."""
    lower = {column.lower(): column for column in electrodes.columns}
    return next((lower[name] for name in LABEL_COLUMNS if name in lower), None)


def electrode_union(channels: pd.DataFrame, electrodes: dict[str, tuple[pd.DataFrame | None,
                                                                         str | None]]
                    ) -> pd.DataFrame:
    """The exact union of the participants' modelled electrodes, with their coordinates.

    Parameters
    ----------
    channels : DataFrame
        ``subject`` and ``channel`` of every row of every scores table (any task or space).
    electrodes : dict
        Participant -> (its derivative electrodes table or None, its space label or None).

    Returns
    -------
    union : DataFrame
        One row per participant and electrode: ``subject``, ``name``, ``space``, ``x``,
        ``y``, ``z`` (mm; NaN where the participant has no electrodes table or the
        electrode is missing from it) and ``label`` (the anatomical label, where a column of
        ``LABEL_COLUMNS`` exists).
    """
    union = (channels[["subject", "channel"]].drop_duplicates()
             .rename(columns={"channel": "name"}).sort_values(["subject", "name"]))
    parts = []
    for subject, rows in union.groupby("subject", sort=True):
        table, space = electrodes.get(subject, (None, None))
        if table is None:
            parts.append(rows.assign(space=space, x=np.nan, y=np.nan, z=np.nan, label=None))
            continue
        label = label_column(table)
        coords = table.assign(label=table[label] if label else None)[
            ["name", "x", "y", "z", "label"]]
        parts.append(rows.assign(space=space).merge(coords, on="name", how="left"))
    return pd.concat(parts, ignore_index=True)[["subject", "name", "space", "x", "y", "z",
                                                 "label"]]


def electrode_counts(table: pd.DataFrame, space: str) -> pd.DataFrame:
    """Per participant: modelled, responsive and significant electrodes of one feature space.

    Parameters
    ----------
    table : DataFrame
        The feature space's stacked scores.
    space : str

    Returns
    -------
    counts : DataFrame
        ``subject``, ``space``, ``n_electrodes`` (electrode × recording rows),
        ``n_responsive``, ``n_significant`` (FDR significant, participant level, at any
        layer or feature of the space).
    """
    rows = one_row_per_electrode(table)
    rows = rows.assign(responsive=rows["responsive"].eq(True) if "responsive" in rows
                       else False)
    column = "significant_electrode" if "significant_electrode" in rows else "significant"
    per_electrode = rows.groupby(ELECTRODE, sort=False).agg(
        responsive=("responsive", "any"), significant=(column, "any")).reset_index()
    counts = per_electrode.groupby("subject", sort=True).agg(
        n_electrodes=("channel", "size"), n_responsive=("responsive", "sum"),
        n_significant=("significant", "sum")).reset_index()
    counts.insert(1, "space", space)
    return counts


def region_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Electrodes and mean r by anatomical label (one feature space at its best layer).

    Parameters
    ----------
    rows : DataFrame
        One row per electrode (``subject``, ``r``, ``significant``, ``label``).

    Returns
    -------
    summary : DataFrame
        ``label``, ``n_participants``, ``n_electrodes``, ``n_significant``, ``mean_r``
        (over all the label's electrodes, pooled), sorted by label.
    """
    labelled = rows.dropna(subset=["label"])
    return labelled.groupby("label", sort=True).agg(
        n_participants=("subject", "nunique"), n_electrodes=("r", "size"),
        n_significant=("significant", "sum"), mean_r=("r", "mean")).reset_index()


#: Column descriptions of the group tables (their JSON data dictionaries).
COLUMNS: dict[str, str] = {
    "subject": "Participant label.",
    "recording": "The participant's recording (entity stem, e.g. sub-01_task-listen) the row "
                 "comes from (stacked comparison tables).",
    "session": "Session label (empty when the dataset has none).",
    "acq": "Acquisition label (empty when the dataset has none).",
    "run": "Run label (empty when the dataset has none).",
    "channel": "Channel (electrode) name, as in the participant's channels.tsv.",
    "name": "Electrode name, as in the participant's electrodes.tsv.",
    "layer": "Layer (layerNN) or scalar feature (e.g. surprisal) of the feature space.",
    "electrode_set": "Electrodes averaged: 'significant' (FDR significant at the participant "
                     "level at any layer of the space; for a scalar feature, for that feature; "
                     "in the speech-language tables, for either model), 'responsive' "
                     "(speech-responsive), 'all' (every modelled electrode).",
    "n_electrodes": "Electrodes (electrode x recording rows) averaged or counted.",
    "mean_r": "Mean cross-validated r over the participant's electrodes (layermeans), the "
              "mean of participant means (layerprofile), or over all the label's electrodes "
              "pooled (regions).",
    "n_participants": "Participants with at least one electrode in the set.",
    "ci_low": "Lower end of the 95% percentile bootstrap interval of the group mean "
              f"(participants resampled with replacement, {N_RESAMPLES:,} resamples, seed "
              f"{SEED}); empty with fewer than 2 participants.",
    "ci_high": "Upper end of the 95% bootstrap interval, as ci_low.",
    "best": "The feature space's best layer: highest group mean r over the 'significant' set "
            "(over 'all' when no participant has a significant electrode), ties to the lower "
            "layer index; the same layer for every electrode set.",
    "layer_speech": "The speech model's best layer (as 'best' in the layer profile).",
    "layer_language": "The language model's best layer.",
    "layer_trained": "The trained model's best layer (as 'best' in the layer profile).",
    "layer_untrained": "Its untrained twin's best layer (chosen the same way, on its own).",
    "r_trained": "Cross-validated r of the trained model at its best layer.",
    "r_untrained": "Cross-validated r of the untrained twin (same architecture, random "
                   "weights, seed 0) at its best layer, on the same electrode and folds.",
    "p_trained": "The participant's permutation p of r_trained.",
    "p_untrained": "The participant's permutation p of r_untrained.",
    "p_fdr_trained": "Benjamini-Hochberg adjusted p_trained across all electrodes of all "
                     "participants in the table.",
    "p_fdr_untrained": "p_untrained adjusted as p_fdr_trained.",
    "r_speech": "Cross-validated r of the speech model at its best layer.",
    "r_language": "Cross-validated r of the language model at its best layer.",
    "delta_r": "r_speech - r_language (trained-untrained tables: r_trained - r_untrained).",
    "delta_z": "Fisher z difference of the two r of delta_r (arctanh(r_a) - arctanh(r_b)).",
    "p_speech": "The participant's permutation p of r_speech.",
    "p_language": "The participant's permutation p of r_language.",
    "p_fdr_speech": "Benjamini-Hochberg adjusted p_speech across all electrodes of all "
                    "participants in the table (the per-electrode test: is the electrode "
                    "predicted by the speech model at its best layer).",
    "p_fdr_language": "p_language adjusted as p_fdr_speech.",
    "preference": "Which models predict the electrode at group-level FDR "
                  "(statistics.fdr_alpha): speech, language (or trained, untrained), both or "
                  "neither. Not a test of delta_r.",
    "significant": "FDR significant at the participant level (in the paired tables: "
                   "predicted by either model in the participant's one test per electrode, "
                   "max-T over layers).",
    "responsive": "Speech-responsive electrode (the participant's scores tables).",
    "mean_delta_r": "Mean Δr over the participant's electrodes in the set (participant rows) "
                    "or mean of participant means (test rows).",
    "mean_delta_z": "Mean Δz over the participant's electrodes in the set.",
    "signflip_p": "Two-sided sign-flip permutation p of the mean of participant mean Δr "
                  f"(exact over all 2^n sign patterns when 2^n <= {N_RESAMPLES:,}).",
    "signflip_exact": "signflip_p enumerates every sign pattern.",
    "lmm_delta_z": "Intercept of the linear mixed model delta_z ~ 1 + (1 | subject) (REML, "
                   "statsmodels MixedLM): the population mean Δz.",
    "lmm_se": "Standard error of lmm_delta_z.",
    "lmm_p": "Two-sided p of lmm_delta_z against Student's t with n_participants - 1 "
             "degrees of freedom.",
    "lmm_converged": "The mixed model's optimiser converged to a usable fit (false, with "
                     "lmm_delta_z, lmm_se and lmm_p n/a, where its Hessian is not positive "
                     "definite).",
    "lmm_note": "Why the mixed model was not fitted, or its warnings.",
    "partition": "The feature sets partitioned, joined by '+'.",
    "region": "Venn region: '<set>_only' is unique to one set, 'a∩b' shared by those sets.",
    "n_summarized": "The participant's electrodes the shares are computed on (union model "
                    "significant with a positive R²).",
    "share": "Share of the participant's positive explained variance (summed over its "
             "summarized electrodes) in the region; negative when the region's summed R² is.",
    "mean_share": "Mean of the participants' shares.",
    "space": "Feature space (counts), or coordinate space of the participant's "
             "electrodes.tsv (electrodes).",
    "x": "x coordinate (mm) in space.", "y": "y coordinate (mm).", "z": "z coordinate (mm).",
    "label": "Anatomical label from the participant's electrodes.tsv (the first of the "
             f"columns {', '.join(LABEL_COLUMNS)} present).",
    "n_responsive": "Speech-responsive electrodes.",
    "n_significant": "FDR-significant electrodes (participant level; counts: at any layer or "
                     "feature of the space; regions: at the best layer).",
}


def group_dictionary(table: pd.DataFrame) -> dict[str, dict[str, str]]:
    """The JSON data dictionary of a group table (its columns only)."""
    return {column: {"Description": COLUMNS[column]} for column in table.columns}
