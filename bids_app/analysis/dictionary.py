"""JSON data dictionaries (column descriptions) of the comparison tables."""

from __future__ import annotations

import re

import pandas as pd

COLUMNS: dict[str, str] = {
    # prediction correlation (desc-<a>X<b>_predcorr.tsv)
    "channel": "Channel (electrode) name, as in channels.tsv.",
    "space_a": "Feature space of model a.", "space_b": "Feature space of model b.",
    "layer_a": "Layer of model a chosen most often over outer folds (each fold's layer is the "
               "one with the smallest inner-validation error in its training set).",
    "layer_b": "Layer of model b, chosen like layer_a.",
    "r_pred": "Pearson correlation of the two models' cross-validated predictions, mean over "
              "outer test folds.",
    "p": "predcorr: (count+1)/(n+1) p-value of r_pred against both models refitted on the "
         "channel's data circularly shifted (statistics.n_refits shifts), only where both "
         "models predict the channel (else empty). cca: Bartlett's chi-squared test.",
    "p_fdr": "Benjamini-Hochberg adjusted p across the tested channels.",
    "significant": "predcorr: p_fdr below statistics.fdr_alpha. cca: p below 0.05. varpart: "
                   "the union model of all sets predicts the channel (permutation p_fdr below "
                   "statistics.fdr_alpha).",
    "r_a": "Cross-validated r of model a's prediction with the high-gamma (in-fold best "
           "layer), mean over folds: the reference for r_pred.",
    "r_b": "Cross-validated r of model b, as r_a.",
    "p_a": "Permutation p-value of r_a.", "p_b": "Permutation p-value of r_b.",
    "significant_a": "r_a significant after FDR across channels.",
    "significant_b": "r_b significant after FDR across channels.",
    "both_significant": "Both models predict the channel significantly; read r_pred here.",
    # CCA components (desc-cca_components.tsv)
    "component": "Canonical component, 1 = most correlated.",
    "speech": "Speech feature space and layer paired by CCA (word vectors: mean over each "
              "word's frames).",
    "language": "Language feature space and layer paired by CCA.",
    "pca_variance": "Fraction of each standardised set's variance kept by PCA before CCA.",
    "pca_dims_speech": "PCA dimensions of the speech set (fit on all words, or on all "
                       "frames with comparison.cca_level: frame).",
    "pca_dims_language": "PCA dimensions of the language set (fit on all words).",
    "fit": "in_fold: everything fitted on the training words of each outer fold; all_data: "
           "fitted once on all words (optimistic held-out scores).",
    "r_test": "Canonical correlation on held-out words, mean over outer folds (each fold's "
              "variates fitted without its words unless cca_fit is all_data).",
    "r_train": "Canonical correlation on the fitting words, mean over folds.",
    "wilks_lambda": "Wilks' lambda of this and all later components (fit on all words).",
    "chi2": "Bartlett's chi-squared statistic of wilks_lambda.",
    "df": "Degrees of freedom of chi2, (p - i)(q - i) for PCA dimensions p, q.",
    # variance partitioning (desc-varpart_scores.tsv)
    "partition": "The feature sets partitioned, joined by '+'.",
    "region": "Venn region: '<set>_only' is unique to one set, 'a∩b' is shared by exactly "
              "those sets.",
    "n_sets": "Number of sets sharing the region.",
    "r2": "Cross-validated R² of the region from the union models' R² (set-theoretic "
          "formulas); may be negative (overfitting), reported unclipped.",
    "r2_union": "Cross-validated R² of the model on all sets of the partition.",
    "fraction": "r2 / r2_union.",
    "negative": "The region's estimate is below zero.",
    "summarized": "The channel entered the partition's shares and summary: its union model "
                  "is significant and its union R² is positive.",
}
FOLD_COLUMN = re.compile(r"r_test_fold(\d+)")


def table_dictionary(table: pd.DataFrame) -> dict[str, dict[str, str]]:
    """The BIDS data dictionary of a comparison table (its columns only).

    Parameters
    ----------
    table : DataFrame
        A table of :class:`~bids_app.analysis.ComparisonResult`.

    Returns
    -------
    dictionary : dict
        Column -> ``{"Description": ...}``; add provenance before writing.
    """
    out = {}
    for column in table.columns:
        match = FOLD_COLUMN.fullmatch(column)
        description = (f"Canonical correlation on the held-out words of outer fold "
                       f"{match.group(1)}." if match else COLUMNS.get(column, column))
        out[column] = {"Description": description}
    return out
