"""Sentences of numbers that answer the study's questions, computed from the tables only.

Every function reads a comparison table (one participant's, or several stacked, as in the
group report; rows are then electrodes of all participants) and returns one sentence.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bids_app.analysis.partition import region_shares

#: Words used for the variance-partitioning sets in the sentences.
SET_LABELS = {"shared": "shared speech–language information",
              "speech_rest": "speech-model-unique information",
              "language_rest": "language-model-unique information",
              "static": "static word meaning", "acoustic": "acoustic-phonetic features"}


def summarize(tables: Mapping[str, pd.DataFrame], fdr_alpha: float = 0.05) -> list[str]:
    """One sentence per prediction-correlation table, CCA table and variance partition.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        desc label -> table, as in ``ComparisonResult.tables`` (``beyond``, ``<a>X<b>``,
        ``cca``, ``varpart``). The shared-beyond-L sentence, the headline, comes first.
    fdr_alpha : float
        The FDR level the tables were thresholded at (quoted in the sentences).

    Returns
    -------
    sentences : list of str
    """
    out = [beyond_summary(tables["beyond"], fdr_alpha)] if "beyond" in tables else []
    out += [predcorr_summary(table, fdr_alpha) for key, table in tables.items()
            if "r_pred" in table]
    if "cca" in tables:
        out.append(cca_summary(tables["cca"]))
    if "varpart" in tables:
        table = tables["varpart"]
        out += [varpart_summary(table[table["partition"] == partition])
                for partition in dict.fromkeys(table["partition"])]
    return out


def beyond_summary(table: pd.DataFrame, fdr_alpha: float = 0.05) -> str:
    """The headline: how many electrodes share speech-language information beyond L.

    Parameters
    ----------
    table : DataFrame
        A shared-beyond-L table (one participant's, or several stacked).
    fdr_alpha : float

    Returns
    -------
    sentence : str
    """
    a, b = table["space_a"].iloc[0], table["space_b"].iloc[0]
    layers = f"{a} {table['layer_a'].iloc[0]} and {b} {table['layer_b'].iloc[0]}"
    tested = table[table["tested"].astype(bool)]
    shared = tested[tested["significant_shared_beyond_low"].astype(bool)]
    sentence = (f"Beyond the low-level features (L), {layers} share information at "
                f"{len(shared)} of {len(tested)} tested electrodes (FDR {fdr_alpha:g}, each "
                f"model also adding beyond L); {a} adds beyond L at "
                f"{int(tested['significant_gain_a'].sum())}, {b} at "
                f"{int(tested['significant_gain_b'].sum())}")
    if not shared.empty:
        sentence += (f"; where shared, the median shared variance beyond L is R² = "
                     f"{shared['shared_beyond_low'].median():.3f}")
    if "reproduced_by_untrained" not in table:
        return sentence + ". No untrained-twin control ran."
    reproduced = int(shared["reproduced_by_untrained"].astype(bool).sum())
    beyond_twins = int(shared["significant_delta_shared"].astype(bool).sum())
    return (f"{sentence}. The untrained twins (random weights) reproduce {reproduced} of "
            f"these; the trained models share significantly more than the twins at "
            f"{beyond_twins}.")


def predcorr_summary(table: pd.DataFrame, fdr_alpha: float = 0.05) -> str:
    """Sentence on the prediction correlation of two models.

    Parameters
    ----------
    table : DataFrame
        A prediction-correlation table.
    fdr_alpha : float

    Returns
    -------
    sentence : str
    """
    a, b = table["space_a"].iloc[0], table["space_b"].iloc[0]
    across = float(np.corrcoef(table["r_a"], table["r_b"])[0, 1])
    both = table[table["both_significant"]]
    head = (f"Across all {len(table)} electrodes, the prediction accuracies of {a} and {b} "
            f"correlate at r = {across:.2f}.")
    either = table[table["significant_a"] | table["significant_b"]]
    if "delta_r" in table and len(either):
        head += (f" Paired on the same folds, r({a}) - r({b}) averages "
                 f"{either['delta_r'].mean():+.3f} over the {len(either)} electrodes either "
                 f"predicts significantly ({int((either['delta_r'] > 0).sum())} with {a} "
                 "higher).")
    if both.empty:
        return f"{head} No electrode is predicted significantly by both models."
    return (f"{head} In the {len(both)} electrodes both predict significantly, their "
            f"cross-validated predictions correlate at mean r = {both['r_pred'].mean():.2f} "
            f"({int(both['significant'].sum())} significant at FDR {fdr_alpha:g}), against "
            f"mean prediction accuracies of r = {both['r_a'].mean():.2f} ({a}) and "
            f"{both['r_b'].mean():.2f} ({b}).")


def cca_summary(table: pd.DataFrame) -> str:
    """Sentence on the CCA shared space (several participants: means over them).

    Parameters
    ----------
    table : DataFrame
        A components table.

    Returns
    -------
    sentence : str
    """
    first = table[table["component"] == 1]
    n_fits = len(first)
    row = first.iloc[0]
    who = "" if n_fits == 1 else f" (means over {n_fits} participants)"
    folds = table.filter(like="r_test_fold").shape[1]
    kept = int((table["n_folds_kept"] == folds).sum())
    return (f"CCA of {row['speech']} and {row['language']} word vectors{who} (PCA to "
            f"{row['pca_variance']:.0%} of variance: {first['pca_dims_speech'].mean():.0f} and "
            f"{first['pca_dims_language'].mean():.0f} dimensions, fitted "
            f"{row['fit'].replace('_', ' ')}): {kept / n_fits:.1f} of "
            f"{table['component'].max()} components kept by the held-out test (in every "
            f"outer fold); the "
            f"first canonical correlation is {first['r_test'].mean():.2f} on held-out words "
            f"({first['r_train'].mean():.2f} on fitting words).")


def varpart_summary(table: pd.DataFrame) -> str:
    """Sentence on one variance partition: unique shares of each set, and the overlaps.

    Shares are of the positive explained variance of the summarized electrodes (union
    model significant, union R² positive; :func:`~bids_app.analysis.partition.region_shares`),
    so none is above 100 %; negative region estimates are counted and sized separately.

    Parameters
    ----------
    table : DataFrame
        The rows of one partition of a ``varpart`` table.

    Returns
    -------
    sentence : str
    """
    names = table["partition"].iloc[0].split("+")
    shares = region_shares(table)
    first_region = table[table["region"] == table["region"].iloc[0]]
    n_used = int(first_region["summarized"].sum())
    if n_used == 0 or shares.isna().all():
        return (f"Variance partitioning ({' + '.join(names)}): no electrode is predicted "
                "significantly, with a positive R², by the union model.")
    labels = [SET_LABELS.get(n, n) for n in names]
    others = ", ".join(f"{label} {_percent(max(shares[f'{n}_only'], 0))}"
                       for n, label in zip(names[1:], labels[1:], strict=True))
    overlap = shares[[region for region in shares.index if "∩" in region]].clip(lower=0).sum()
    negative = shares[shares < 0]
    sentence = (f"{labels[0][0].upper()}{labels[0][1:]} uniquely explains "
                f"{_percent(max(shares[f'{names[0]}_only'], 0))} of the explained variance in "
                f"the {n_used} electrodes predicted significantly (with a positive R²) by "
                f"{' + '.join(names)} ({others}; overlaps between sets {_percent(overlap)}).")
    if negative.empty:
        return sentence
    return (f"{sentence} {len(negative)} of {len(shares)} regions have a negative summed "
            f"estimate ({', '.join(negative.index)}), together "
            f"{_percent(-negative.sum())} of the positive explained variance, reported "
            "unclipped and left out of the shares above.")


def _percent(value: float) -> str:
    """``0.613`` -> ``"61%"`` (never ``"-0%"``)."""
    return f"{round(float(value), 2) + 0.0:.0%}"
