"""TRF lag profiles and weights as derivatives (docs/outputs.md, "TRF weights and lag profiles").

In TRF mode, each feature space of a recording gets, beside its scores table:

- ``<recording>_desc-<space>_lagprofile.npy``: float32, (n_layers, n_lags, n_channels), every
  layer's lag profile (:func:`bids_app.encoding.result.lag_profile`);
- ``<recording>_desc-<space>_weights.npy``: float32, (n_lags, n_features, n_channels), the full
  weights of the best layer (:func:`bids_app.layers.best_layer`, the report's);

each with a JSON sidecar naming the axes (lags in seconds, channels, layers) and the reductions.
Both come from weights averaged over the outer folds in the original feature basis: each fold's
reduced weights are expanded through the lag basis and back-projected through that fold's PCA
(:meth:`bids_app.encoding.reduce.ReducedDesign.raw_weights`) before averaging.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bids_app.encoding import EncodingConfig, EncodingResult
from bids_app.encoding.reduce import lag_basis
from bids_app.layers import best_layer
from bids_app.outputs.atomic import write_json, write_with
from bids_app.outputs.derivatives import bids_name

#: Suffixes of the two derivatives.
PROFILE_SUFFIX, WEIGHTS_SUFFIX = "lagprofile", "weights"

PROFILE_DESCRIPTION = (
    "Lag profile of each layer and channel: the standard deviation over time of each lag's "
    "term of the TRF prediction, sqrt(w_l' C w_l), with w_l the weights of lag l (averaged over "
    "outer folds in the original feature basis) and C the covariance of the layer's features. "
    "It is the norm of the weights per lag in the metric of the features, so it does not "
    "depend on feature scales and correlated features whose weights cancel do not inflate it.")
WEIGHTS_DESCRIPTION = (
    "TRF weights of one layer: coefficients of feature j at time t - lag for each channel, "
    "averaged over outer folds after mapping each fold's weights to the original features "
    "(through the lag basis and that fold's PCA). The prediction is the intercept plus "
    "sum over lags and features of weights[lag, j, channel] * feature[t - lag, j], the sum "
    "running over every sample of the lag window: with encoding.lag_step longer than one "
    "sample, the weights are the TRF sampled at the reported lags, and the sum over those "
    "lags alone is short by the factor lag_step * SamplingFrequency.")


@dataclass(frozen=True)
class LagProfiles:
    """A ``desc-<space>_lagprofile.npy`` derivative read back.

    Attributes
    ----------
    profiles : ndarray, shape (n_layers, n_lags, n_channels)
    lags : ndarray, shape (n_lags,)
        In seconds.
    layers, channels : list of str
    """

    profiles: np.ndarray
    lags: np.ndarray
    layers: list[str]
    channels: list[str]

    def layer(self, name: str) -> np.ndarray:
        """The (n_lags, n_channels) profiles of one layer."""
        return self.profiles[self.layers.index(name)]


def read_lag_profiles(path: Path) -> LagProfiles:
    """Read a lag-profile derivative and the axes from its sidecar."""
    meta = json.loads(Path(path).with_suffix(".json").read_text())
    return LagProfiles(np.load(path), np.asarray(meta["Lags"], dtype=float), meta["Layers"],
                       meta["Channels"])


def write_trf_outputs(out_dir: Path, entities: dict[str, str], space: str,
                      results: dict[str, EncodingResult], table: pd.DataFrame,
                      channels: Sequence[str], sfreq: float, encoding: EncodingConfig,
                      provenance: dict) -> list[Path]:
    """Write a feature space's lag profiles (every layer) and one layer's weights.

    Parameters
    ----------
    out_dir : Path
        The recording's ``ieeg`` folder.
    entities : dict
        The recording's entities.
    space : str
        The feature space (``desc`` entity).
    results : dict of str to EncodingResult
        Each layer's TRF result with ``lag_profile`` and ``weights``, in layer order.
    table : DataFrame
        The space's scores table (chooses the weights' layer).
    channels : sequence of str
        The modelled channels, in the order of the results' targets.
    sfreq : float
        Rate of the neural timeline (Hz).
    encoding : EncodingConfig
    provenance : dict

    Returns
    -------
    paths : list of Path
        The two ``.npy`` files.
    """
    layers = list(results)
    lags = np.asarray(results[layers[0]].lags)
    axes = {"Lags": np.round(lags / sfreq, 6).tolist(), "LagUnits": "s",
            "Channels": list(channels), "LagBasis": _basis(lags, encoding.lag_basis, sfreq),
            "LayerPCA": encoding.layer_pca, "FoldAverage": (
                f"mean over {encoding.n_folds} outer folds, in the original feature basis")}
    profile_path = out_dir / bids_name(entities, PROFILE_SUFFIX, ".npy", desc=space)
    profiles = np.stack([results[layer].lag_profile for layer in layers]).astype(np.float32)
    write_with(profile_path, lambda tmp: np.save(tmp, profiles))
    write_json(profile_path.with_suffix(".json"), {
        "Description": PROFILE_DESCRIPTION, "Dimensions": ["layer", "lag", "channel"],
        "Layers": layers, **axes, "Units": "z-scored high-gamma",
        "Provenance": provenance})
    layer = best_layer(table)
    weights = np.asarray(results[layer].weights, dtype=np.float32)
    weights_path = out_dir / bids_name(entities, WEIGHTS_SUFFIX, ".npy", desc=space)
    write_with(weights_path, lambda tmp: np.save(tmp, weights))
    write_json(weights_path.with_suffix(".json"), {
        "Description": WEIGHTS_DESCRIPTION, "Dimensions": ["lag", "feature", "channel"],
        "Layer": layer,
        "LayerChoice": "the best layer: highest mean r over the FDR-significant electrodes "
                       "among the layerNN layers (bids_app.layers)",
        "NumberOfFeatures": int(weights.shape[1]), **axes,
        "Units": "z-scored high-gamma per unit of the feature", "Provenance": provenance})
    return [profile_path, weights_path]


def _basis(lags: np.ndarray, n_basis: int | None, sfreq: float) -> dict:
    """The lag basis as the sidecars describe it."""
    if lag_basis(lags, n_basis) is None:
        return {"Type": "none (one column per lag)"}
    centres = np.linspace(lags.min(), lags.max(), n_basis) / sfreq
    return {"Type": "raised-cosine", "NumberOfBumps": n_basis,
            "Centres": np.round(centres, 6).tolist(), "CentresUnits": "s"}
