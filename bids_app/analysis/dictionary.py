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
         "channel's data circularly shifted (comparison.n_refits shifts), only where both "
         "models predict the channel and comparison.predcorr_null is true (else empty: "
         "r_pred is descriptive). cca: Bartlett's chi-squared test on all words (descriptive; "
         "the components kept are chosen on held-out words, n_folds_kept).",
    "p_fdr": "Benjamini-Hochberg adjusted p across the tested channels.",
    "significant": "predcorr: p_fdr below statistics.fdr_alpha. cca: Bartlett p below 0.05. "
                   "varpart: the union model of all sets predicts the channel beyond L (its "
                   "prediction increment over L correlates with what L leaves; permutation "
                   "p_fdr below statistics.fdr_alpha).",
    "r_a": "Cross-validated r of model a's prediction with the high-gamma (in-fold best "
           "layer), mean over folds: the reference for r_pred.",
    "r_b": "Cross-validated r of model b, as r_a.",
    "p_a": "Permutation p-value of r_a.", "p_b": "Permutation p-value of r_b.",
    "significant_a": "r_a significant after FDR across channels.",
    "significant_b": "r_b significant after FDR across channels.",
    "both_significant": "Both models predict the channel significantly; read r_pred here.",
    "delta_r": "r_a - r_b on the same channel and folds (each model with its own in-fold "
               "layer choice); with a model and its untrained twin, what training added. "
               "Descriptive: the group level tests it across electrodes.",
    "folds_a_better": "Outer test folds in which model a's r exceeds model b's.",
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
    "n_folds_kept": "Outer folds whose shared space kept this component (its canonical "
                    "correlation on held-out fitting words cleared the 95th percentile of its "
                    "circular-shift null; comparison.significant_only).",
    "partial_to": "The word regressors of L regressed out of both word-vector sets before "
                  "the CCA (empty: plain CCA).",
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
    "r2_low": "Cross-validated R² of the low-level set L alone (the variance every comparison "
              "conditions on).",
    "conditioning": "The components of the low-level set L that every model contains.",
    # shared beyond L (desc-beyond_beyond.tsv)
    "tested": "The channel was tested (speech-responsive; every channel when responsiveness "
              "could not be tested).",
    "r2_low_a": "Cross-validated R² of L plus model a (speech, fixed layer).",
    "r2_low_b": "Cross-validated R² of L plus model b (language, fixed layer).",
    "r2_low_ab": "Cross-validated R² of L plus both models.",
    "shared_beyond_low": "R²(L+a) + R²(L+b) - R²(L+a+b) - R²(L): variance both models explain "
                         "alike beyond L.",
    "gain_a": "R²(L+a) - R²(L): what model a adds beyond L.",
    "gain_b": "R²(L+b) - R²(L): what model b adds beyond L.",
    "b_beyond_onsets": "R²(word onsets + b) - R²(word onsets): what the language model adds "
                       "beyond word timing alone.",
    "r_pred_beyond": "Correlation of the two models' prediction increments over L, mean over "
                     "folds, where both gains are significant (descriptive).",
    "delta_shared": "shared_beyond_low of the trained models minus that of their untrained "
                    "twins, on the same folds.",
    "reproduced_by_untrained": "The untrained twins' shared_beyond_low is significant and the "
                               "trained-minus-untrained difference is not: not evidence about "
                               "learned representations.",
    "space_a_untrained": "Feature space of model a's untrained twin (random weights).",
    "space_b_untrained": "Feature space of model b's untrained twin (random weights).",
}
TEST_COLUMN = re.compile(r"(p|p_fdr|significant)_(shared_beyond_low|gain_a|gain_b|delta_shared)"
                         r"(_untrained)?")
UNTRAINED_COLUMN = re.compile(r"(.+)_untrained")
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
        test = TEST_COLUMN.fullmatch(column)
        twin = UNTRAINED_COLUMN.fullmatch(column)
        if match:
            description = (f"Canonical correlation on the held-out words of outer fold "
                           f"{match.group(1)}.")
        elif test:
            what = {"p": "Refit p-value (normal approximation of the rotation null)",
                    "p_fdr": "Benjamini-Hochberg adjusted p over the tested channels",
                    "significant": "Significant after FDR"}[test.group(1)]
            description = f"{what} of {test.group(2)}"
            if test.group(1) == "significant" and test.group(2) == "shared_beyond_low":
                description += " and both gains significant (intersection-union test)"
            description += " of the untrained twins." if test.group(3) else "."
        elif column not in COLUMNS and twin and twin.group(1) in COLUMNS:
            description = f"{twin.group(1)} of the untrained twins."
        else:
            description = COLUMNS.get(column, column)
        out[column] = {"Description": description}
    return out
