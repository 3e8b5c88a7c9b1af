"""High-gamma benchmark: 30 min, 200 channels, 512 Hz, ours versus plain MNE, same run.

Writes a synthetic BrainVision recording (float32, 737 MB) to a temporary folder, then runs
each pipeline in a fresh subprocess so that its peak resident memory (``ru_maxrss``) is its own:

- ``ours-multiband`` / ``ours-butterworth``: :func:`bids_app.neural.preprocess` (notch, CAR,
  high-gamma, 100 Hz, z-score), reading channel blocks from disk;
- ``mne-plain``: the textbook MNE pipeline: ``read_raw(preload=True)``, ``notch_filter``,
  average reference, ``filter(70, 150)``, ``apply_hilbert(envelope=True)``, ``resample(100)``,
  z-score. It computes a single band; a plain-MNE multiband would run the band-pass and Hilbert
  eight times.

Usage::

    python benchmarks/highgamma.py [--minutes 30] [--channels 200] [--sfreq 512]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PIPELINES = ("ours-multiband", "ours-butterworth", "mne-plain")
CHUNK_S = 60.0


def write_recording(folder: Path, minutes: float, n_channels: int, sfreq: float) -> Path:
    """Write the synthetic recording chunk by chunk (µV, float32, multiplexed)."""
    import pybv

    names = [f"E{i + 1}" for i in range(n_channels)]
    pybv.write_brainvision(data=np.zeros((n_channels, 1)), sfreq=sfreq, ch_names=names,
                           fname_base="sub-01_task-bench_ieeg", folder_out=folder,
                           fmt="binary_float32", overwrite=True)
    rng = np.random.default_rng(0)
    n_total, chunk = int(minutes * 60 * sfreq), int(CHUNK_S * sfreq)
    gains = rng.uniform(0.5, 2.0, (n_channels, 1)).astype(np.float32)
    with open(folder / "sub-01_task-bench_ieeg.eeg", "wb") as fh:
        for start in range(0, n_total, chunk):
            t = (np.arange(start, min(start + chunk, n_total)) / sfreq).astype(np.float32)
            am = 1 + 0.5 * np.sin(2 * np.pi * 0.3 * t)  # slow high-gamma modulation
            block = 20 * rng.standard_normal((n_channels, len(t)), dtype=np.float32)
            block += gains * (5 * am * np.sin(2 * np.pi * 110 * t)
                              + 15 * np.sin(2 * np.pi * 60 * t))
            block.T.astype("<f4").tofile(fh)
    return folder / "sub-01_task-bench_ieeg.vhdr"


def run_ours(vhdr: Path, method: str) -> np.ndarray:
    """Our pipeline on the file."""
    import mne
    import pandas as pd

    from bids_app.bids import Recording
    from bids_app.neural import PreprocessingConfig, preprocess

    names = mne.io.read_raw_brainvision(vhdr, verbose="error").ch_names
    recording = Recording(subject="01", task="bench", data_path=vhdr,
                          sidecar={"PowerLineFrequency": 60},
                          channels=pd.DataFrame({"name": names, "type": "ECOG",
                                                 "status": "good"}))
    return preprocess(recording, PreprocessingConfig(highgamma=method, reference="car")).data


def run_mne(vhdr: Path) -> np.ndarray:
    """The plain MNE pipeline on the file."""
    import mne

    raw = mne.io.read_raw_brainvision(vhdr, preload=True, verbose="error")
    raw.set_channel_types(dict.fromkeys(raw.ch_names, "ecog"), verbose="error")
    raw.notch_filter(np.arange(60, raw.info["sfreq"] / 2 - 1, 60), verbose="error")
    raw.set_eeg_reference("average", ch_type="ecog", verbose="error")
    raw.filter(70.0, 150.0, verbose="error")
    raw.apply_hilbert(envelope=True, verbose="error")
    raw.resample(100.0, verbose="error")
    data = raw.get_data()
    return ((data - data.mean(1, keepdims=True)) / data.std(1, keepdims=True)).astype(np.float32)


def child(pipeline: str, vhdr: Path, out: Path) -> None:
    """Run one pipeline and print its wall time and peak memory as JSON."""
    start = time.perf_counter()
    data = run_mne(vhdr) if pipeline == "mne-plain" else run_ours(vhdr, pipeline.split("-")[1])
    wall = time.perf_counter() - start
    np.save(out, data[:, ::10])  # a subsample for the agreement check
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux
    print(json.dumps({"pipeline": pipeline, "wall_s": round(wall, 1),
                      "peak_gb": round(peak_gb, 2), "shape": list(data.shape)}))


def main() -> None:
    """Write the recording, run every pipeline in a subprocess, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--sfreq", type=float, default=512.0)
    parser.add_argument("--child", choices=PIPELINES, help=argparse.SUPPRESS)
    parser.add_argument("--vhdr", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.vhdr, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        vhdr = write_recording(folder, args.minutes, args.channels, args.sfreq)
        print(f"recording: {args.minutes:g} min, {args.channels} channels, {args.sfreq:g} Hz, "
              f"{(folder / vhdr.with_suffix('.eeg').name).stat().st_size / 1e9:.2f} GB")
        results = {}
        for pipeline in PIPELINES:
            out = folder / f"{pipeline}.npy"
            proc = subprocess.run([sys.executable, __file__, "--child", pipeline, "--vhdr",
                                   str(vhdr), "--out", str(out)], capture_output=True,
                                  text=True, check=True)
            results[pipeline] = json.loads(proc.stdout.strip().splitlines()[-1])
            results[pipeline]["data"] = np.load(out)
        reference = results["mne-plain"]["data"]
        print(f"{'pipeline':<18}{'wall (s)':>10}{'peak (GB)':>11}{'r vs mne':>10}")
        for pipeline, res in results.items():
            n = min(res["data"].shape[1], reference.shape[1]) - 20
            r = np.mean([np.corrcoef(a[10:n], b[10:n])[0, 1]
                         for a, b in zip(res["data"], reference, strict=True)])
            print(f"{pipeline:<18}{res['wall_s']:>10.1f}{res['peak_gb']:>11.2f}{r:>10.3f}")


if __name__ == "__main__":
    main()
