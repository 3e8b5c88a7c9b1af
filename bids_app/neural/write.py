"""Writing the high-gamma derivative: BrainVision float32 + ``_ieeg.json`` + ``_channels.tsv``."""

from __future__ import annotations

from pathlib import Path

from bids_app.errors import OutputError
from bids_app.neural.data import NeuralData
from bids_app.outputs.atomic import write_json, write_tsv
from bids_app.outputs.brainvision import write_brainvision

#: Source sidecar fields that no longer describe the derivative and are recomputed.
RECOMPUTED_FIELDS = ("SamplingFrequency", "SoftwareFilters", "iEEGReference",
                     "RecordingDuration", "HardwareFilters")
#: The derivative channels.tsv columns that BIDS does not define.
CHANNELS_DICTIONARY = {
    "source_status": {"Description": "The channel's status in the source channels.tsv, before "
                                     "this pipeline's own exclusions (status and "
                                     "status_description)."},
}
#: Channel-count fields of the iEEG sidecar, by BIDS type.
COUNT_FIELDS = {"ECOG": "ECOGChannelCount", "SEEG": "SEEGChannelCount", "DBS": "DBSChannelCount"}


def highgamma_sidecar(neural: NeuralData, sidecar: dict) -> dict:
    """The derivative ``_ieeg.json``: source fields propagated, processing fields recomputed.

    Parameters
    ----------
    neural : NeuralData
        The high-gamma data.
    sidecar : dict
        The source ``_ieeg.json``.

    Returns
    -------
    sidecar : dict
        With ``SamplingFrequency``, ``SoftwareFilters`` (every step), ``iEEGReference``,
        ``RecordingDuration`` and the ECOG/SEEG/DBS channel counts of the derivative.
    """
    out = {k: v for k, v in sidecar.items()
           if k not in RECOMPUTED_FIELDS and not k.endswith("ChannelCount")}
    out["Description"] = ("High-gamma amplitude envelope, z-scored per channel (unitless; the "
                          "BrainVision unit field reads 'z').")
    out["SamplingFrequency"] = neural.sfreq
    out["RecordingDuration"] = neural.data.shape[1] / neural.sfreq
    out["SoftwareFilters"] = neural.software_filters or "n/a"
    out["iEEGReference"] = neural.reference
    good = neural.channels[neural.channels["status"] == "good"]
    for bids_type, key in COUNT_FIELDS.items():
        out[key] = int((good["type"] == bids_type).sum())
    return out


def write_highgamma(neural: NeuralData, vhdr_path: str | Path, sidecar: dict) -> list[Path]:
    """Write the high-gamma derivative beside ``vhdr_path``.

    Writes ``<stem>_ieeg.json`` and ``<stem>_channels.tsv`` first, then the BrainVision
    triplet (float32, header renamed last), each atomically.

    Parameters
    ----------
    neural : NeuralData
        The data to write.
    vhdr_path : str | Path
        ``.../sub-<label>[_ses-..]_task-<t>[_run-..]_desc-highgamma_ieeg.vhdr``.
    sidecar : dict
        The source ``_ieeg.json`` to propagate.

    Returns
    -------
    paths : list of Path
        The sidecar, channels TSV and its column dictionary, ``.eeg``, ``.vmrk`` and ``.vhdr``.

    Raises
    ------
    OutputError
        When ``vhdr_path`` does not end in ``_ieeg.vhdr`` or cannot be written.
    """
    vhdr_path = Path(vhdr_path)
    if not vhdr_path.name.endswith("_ieeg.vhdr"):
        raise OutputError(f"{vhdr_path}: the high-gamma derivative must end in _ieeg.vhdr")
    stem = vhdr_path.name[: -len("_ieeg.vhdr")]
    json_path = write_json(vhdr_path.with_name(f"{stem}_ieeg.json"),
                           highgamma_sidecar(neural, sidecar))
    tsv_path = write_tsv(vhdr_path.with_name(f"{stem}_channels.tsv"), neural.channels)
    columns = write_json(tsv_path.with_suffix(".json"), CHANNELS_DICTIONARY)
    triplet = write_brainvision(vhdr_path, neural.data, neural.sfreq, neural.ch_names, unit="z")
    return [json_path, tsv_path, columns, *triplet]
