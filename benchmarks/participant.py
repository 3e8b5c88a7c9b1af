"""A ds005574-sized participant end to end through the CLI, with the default configuration.

Builds a BIDS dataset with the real layout of one ds005574 participant (channels.tsv,
electrodes, 512 Hz, from ../shared/data/ds005574), synthetic signals (a quarter of the
channels respond: half follow the audio envelope, half the words, an impulse at each word
onset whose height depends on the word, so that both models predict them and every test of
the comparisons runs) and synthetic speech audio of ``--duration`` seconds
with the story's real word timings, and full-size random-weight wav2vec2-base and GPT-2 small
built from the configs in ../shared/data. Then, each in a fresh process:

1. the one-time stimulus feature extraction (all layers of both models, static embeddings and
   the acoustic baselines): wall time, rate and peak memory;
2. the participant run with the default configuration (features cached): wall time, CPU time
   and peak memory per stage, from the run's own ``stage ... done`` lines, and of every
   comparison (``stage comparisons/<test>``), the cost estimates (at start-up and
   given the responsive electrodes), and the encoding stage's floor (Gram, cross-products
   and one ``eigh`` per fold per layer) measured in the same process;
3. a comparison-only rerun (``comparison.rest_components`` changed: the CCA and the
   partitions rerun, the other comparisons are reused) in the same output folder;
4. the same at ``--previous-duration`` (default 120 s; 0 skips it), with the default and
   with the previous default (unreduced design: ``layer_pca: null``, ``lag_basis: null``),
   side by side, since the previous default does not fit at full length (its cost estimate
   is printed instead).

Usage::

    python benchmarks/participant.py                      # 1,800 s (about 45 min on 2 cores)
    python benchmarks/participant.py --duration 300 --previous-duration 60
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import yaml
from features import DATA, REPO, write_models

SOURCE = DATA / "ds005574"


def write_dataset(root: Path, subject: str, duration: float, seed: int = 0) -> None:
    """A BIDS dataset of one ds005574-shaped participant and the podcast stimulus."""
    from bids_app.stimuli.alignments import read_words
    from bids_app.synthetic.audio import AUDIO_SFREQ, broadband_envelope, make_speech
    from bids_app.synthetic.layout import write_recording
    from bids_app.synthetic.signals import driven_signals, trf_kernel

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps(
        {"Name": "ds005574-shaped benchmark", "BIDSVersion": "1.9.0"}))
    (root / "participants.tsv").write_text(f"participant_id\nsub-{subject}\n")
    stimuli = root / "stimuli"
    stimuli.mkdir()
    audio, _ = make_speech(duration, rng)
    sf.write(stimuli / "podcast.wav", audio, AUDIO_SFREQ)
    words = read_words(SOURCE / "stimuli" / "whisper-medium" / "transcript.tsv")
    keep = words.offsets < duration - 0.3
    pd.DataFrame({"word": np.asarray(words.words)[keep], "start": words.onsets[keep],
                  "end": words.offsets[keep]}).to_csv(stimuli / "podcast.tsv", sep="\t",
                                                      index=False)
    source = SOURCE / f"sub-{subject}" / "ieeg"
    ieeg = root / f"sub-{subject}" / "ieeg"
    ieeg.mkdir(parents=True)
    for path in source.iterdir():
        if path.suffix in (".tsv", ".json") and not path.name.endswith("_ieeg.json"):
            (ieeg / path.name).write_text(path.read_text(encoding="utf-8-sig"))
    sidecar = json.loads((source / f"sub-{subject}_task-podcast_ieeg.json").read_text())
    sidecar["RecordingDuration"] = duration
    (ieeg / f"sub-{subject}_task-podcast_ieeg.json").write_text(json.dumps(sidecar, indent=2))
    channels = pd.read_csv(ieeg / f"sub-{subject}_task-podcast_channels.tsv", sep="\t")
    # the annotation signal listed in channels.tsv is part of the EDF format, not a channel
    channels = channels[channels["name"] != "EDF Annotations"]
    sfreq = float(sidecar["SamplingFrequency"])
    envelope = broadband_envelope(audio, AUDIO_SFREQ)
    # a quarter of the channels respond: half to the sound, half to the words
    driven = np.full(len(channels), -1)
    order = rng.permutation(len(channels))
    driven[order[:len(channels) // 8]] = 0
    driven[order[len(channels) // 8:len(channels) // 4]] = 1
    drives = np.stack([envelope, word_drive(np.asarray(words.words)[keep], words.onsets[keep],
                                            len(envelope))])
    data = driven_signals(drives, driven, int(duration * sfreq), sfreq,
                          sidecar.get("PowerLineFrequency"), rng, snr=0.5,
                          kernel=trf_kernel(0.15, 0.05), dtype=np.float32)
    write_recording(ieeg, f"sub-{subject}_task-podcast_ieeg", data, sfreq,
                    list(channels["name"]), "EDF")


def word_drive(words: np.ndarray, onsets: np.ndarray, n_times: int) -> np.ndarray:
    """An impulse at every word onset (100 Hz), its height set by the word's identity.

    The height is ``1 + 0.5 g`` with ``g`` a standard normal drawn from the lower-cased
    word, so both the speech model (word presence) and the language model (which word)
    predict the electrodes that follow it.
    """
    from bids_app.synthetic.signals import ENVELOPE_SFREQ

    timeline = np.zeros(n_times)
    for word, onset in zip(words, onsets, strict=True):
        sample = round(onset * ENVELOPE_SFREQ)
        if sample < n_times:
            seed = zlib.crc32(str(word).lower().strip(".,;:!?\"'").encode())
            timeline[sample] += 1 + 0.5 * np.random.default_rng(seed).standard_normal()
    return timeline


def write_config(path: Path, models: Path, variant: str) -> Path:
    """The default configuration with local random-weight models (and the podcast stimulus).

    ``variant``: ``"default"``; ``"previous"``, the previous default (unreduced design);
    ``"rerun"``, one comparison option changed (``comparison.rest_components``).
    """
    speech, language = str(models / "wav2vec2-base"), str(models / "gpt2")
    config = {
        "stimulus": {"mode": "onset", "file": "podcast.wav", "transcript": "podcast.tsv",
                     "onset": 0.0},
        "features": [
            {"name": "wav2vec2", "kind": "speech", "model": speech, "weights": "random"},
            {"name": "gpt2", "kind": "language", "model": language, "weights": "random"},
            # the untrained-twin control (the models here are random already: other seeds)
            {"name": "wav2vec2untrained", "kind": "speech", "model": speech,
             "weights": "random", "seed": 1},
            {"name": "gpt2untrained", "kind": "language", "model": language,
             "weights": "random", "seed": 1},
            {"name": "static", "kind": "static", "model": language, "weights": "random"},
            {"name": "mel", "kind": "mel"}, {"name": "envelope", "kind": "envelope"},
            {"name": "peakrate", "kind": "peak_rate"}],
    }
    if variant == "previous":
        config["encoding"] = {"layer_pca": None, "lag_basis": None}
    if variant == "rerun":
        config["comparison"] = {"rest_components": 40}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _extract_features(root: Path, out: Path, config: Path, nprocs: int) -> dict:
    """Stimulus features only (the one-time extraction), in this process."""
    from bids_app.config import load_config
    from bids_app.features import load_or_compute_features
    from bids_app.stimuli.alignments import read_words
    from bids_app.stimuli.stimulus import Stimulus

    audio = root / "stimuli" / "podcast.wav"
    stimulus = Stimulus("podcast", audio, audio.with_suffix(".tsv"), 0.0,
                        sf.info(str(audio)).duration)
    words = read_words(audio.with_suffix(".tsv"))
    times = {}
    for spec in load_config(config).features:
        start = time.perf_counter()
        load_or_compute_features(spec, stimulus, out / "stimuli", words=words, n_jobs=nprocs)
        times[spec.name] = time.perf_counter() - start
    return {"seconds": times, "audio_s": stimulus.duration, "words": len(words.words),
            "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def _child(command: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run ``command``; its wall time, CPU time (user + system) and output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode not in (0, 64):
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, cpu, done


_STAGE = re.compile(r"stage (\S+) done: wall (.+?), CPU (.+?), peak memory ([\d.]+) GB")
_LAYERS = re.compile(r"encoding \d+/(\d+):")
_RESPONSIVE = re.compile(r"(\d+) of (\d+) electrodes responsive")


def encoding_floor(n_rows: int, n_channels: int, n_layers: int, width: int = 450,
                   folds: int = 5, repeats: int = 5) -> float:
    """Seconds of the encoding stage's floor, measured here: per layer, the Gram and the
    cross-products of a ``width``-column design (50 components x 9 lag bumps) over every
    modelled sample, and one ``eigh`` per outer fold; the best of ``repeats`` timings (one
    timing varied by a third between runs)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_rows, width), dtype=np.float32)
    Y = rng.standard_normal((n_rows, n_channels), dtype=np.float32)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        gram = (X.T @ X).astype(np.float64)
        X.T @ Y
        for _ in range(folds):
            np.linalg.eigh(gram.astype(np.float32))
        times.append(time.perf_counter() - start)
    return min(times) * n_layers


def _seconds(text: str) -> float:
    parts = re.findall(r"([\d.]+) (h|min|s)", text)
    return sum(float(v) * {"h": 3600, "min": 60, "s": 1}[u] for v, u in parts)


def participant_run(root: Path, out: Path, config: Path, subject: str, nprocs: int,
                    label: str, duration: float) -> list[dict]:
    """The CLI participant run; one row per stage and one for the whole run."""
    command = [sys.executable, "-m", "bids_app", str(root), str(out), "participant",
               "--participant-label", subject, "--config", str(config), "--nprocs",
               str(nprocs), "--skip-bids-validation"]
    wall, cpu, done = _child(command)
    log = done.stderr
    if "more than --mem" in log:
        print(f"[{label}] refused by its cost estimate:\n" + "\n".join(
            line for line in log.splitlines() if "peak" in line or "needs" in line))
        return [{"run": label, "stage": "refused (does not fit --mem)", "wall_s": np.nan,
                 "cpu_s": np.nan, "peak_gb": np.nan}]
    rows = [{"run": label, "stage": name, "wall_s": _seconds(w), "cpu_s": _seconds(c),
             "peak_gb": float(p)} for name, w, c, p in _STAGE.findall(log)]
    layers, responsive = _LAYERS.findall(log), _RESPONSIVE.findall(log)
    if layers and responsive and any(r["stage"] == "encoding" for r in rows):
        print(f"[{label}] {responsive[0][0]} of {responsive[0][1]} electrodes responsive")
        floor = encoding_floor(round(duration * 100), int(responsive[0][1]), int(layers[0]))
        encoding = next(r["wall_s"] for r in rows if r["stage"] == "encoding")
        rows.append({"run": label, "stage": f"encoding floor (x{encoding / floor:.1f})",
                     "wall_s": floor, "cpu_s": np.nan, "peak_gb": np.nan})
    estimates = [line.strip() for line in log.splitlines()
                 if line.strip().startswith(("high-gamma", "encoding ", "comparisons ",
                                             "total "))
                 or "comparisons re-estimated" in line]
    print(f"[{label}] estimates (start-up, given the responsive electrodes, given the shared "
          "space):\n  " + "\n  ".join(estimates))
    peak = max((r["peak_gb"] for r in rows), default=np.nan)
    rows.append({"run": label, "stage": "whole run", "wall_s": wall, "cpu_s": cpu,
                 "peak_gb": peak})
    estimate = [line for line in log.splitlines() if line.startswith("  total")]
    print(f"[{label}] estimate: {estimate[0].strip() if estimate else 'n/a'}; measured "
          f"{wall:.0f} s, peak {peak:.2f} GB", flush=True)
    return rows


def run_scale(work: Path, duration: float, subject: str, nprocs: int,
              variants: list[str]) -> tuple[list[dict], dict]:
    """Build a dataset of ``duration`` s, extract its features once, run each variant.

    ``"rerun"`` runs in the output folder of the ``"default"`` run before it, so only what
    its changed option affects is recomputed.
    """
    root, out = work / f"bids-{duration:.0f}", work / f"out-{duration:.0f}"
    done_file = out / "extraction.json"  # a --work folder of an earlier run is reused
    if not done_file.is_file():
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        # in a child, so that the runs' ru_maxrss does not start from this process's peak
        _child([sys.executable, __file__, "--child-dataset", str(root), subject,
                str(duration)])
        print(f"dataset of {duration:.0f} s written in {time.perf_counter() - t0:.0f} s",
              flush=True)
        first = write_config(work / "default.yaml", work, "default")
        _, _, done = _child([sys.executable, __file__, "--child-features", str(root),
                             str(out), str(first), str(nprocs)])
        done_file.write_text(done.stdout.strip().splitlines()[-1])
    extraction = json.loads(done_file.read_text())
    rows = []
    for label in variants:
        config = write_config(work / f"{label}.yaml", work, label)
        run_out = work / f"out-{duration:.0f}-{'default' if label == 'rerun' else label}"
        if label != "rerun":
            shutil.rmtree(run_out, ignore_errors=True)
            shutil.copytree(out / "stimuli", run_out / "stimuli")
        rows += participant_run(root, run_out, config, subject, nprocs,
                                f"{label} @ {duration:.0f} s", duration)
    return rows, extraction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1800.0)
    parser.add_argument("--previous-duration", type=float, default=120.0)
    parser.add_argument("--subject", default="03")
    parser.add_argument("--nprocs", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=["default", "rerun", "previous"],
                        choices=["default", "rerun", "previous"],
                        help="the runs at --duration, in order (rerun needs default before it)")
    parser.add_argument("--work", type=Path,
                        help="keep the files here and reuse them on the next run (default: a "
                             "temporary folder)")
    parser.add_argument("--child-features", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--child-dataset", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_dataset:
        root, subject, duration = args.child_dataset
        write_dataset(Path(root), subject, float(duration))
        return
    if args.child_features:
        root, out, config, nprocs = args.child_features
        print(json.dumps(_extract_features(Path(root), Path(out), Path(config), int(nprocs))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        write_models(work)
        rows, extraction = run_scale(work, args.duration, args.subject, args.nprocs,
                                     args.variants)
        if args.previous_duration:
            small, _ = run_scale(work, args.previous_duration, args.subject, args.nprocs,
                                 ["default", "previous"])
            rows += small
    speech = extraction["seconds"]["wav2vec2"]
    language = extraction["seconds"]["gpt2"]
    print(f"\nOne-time feature extraction, {extraction['audio_s']:.0f} s story: "
          f"{sum(extraction['seconds'].values()):.0f} s in all, wav2vec2-base "
          f"{extraction['audio_s'] / speech:.2f} audio s per s, GPT-2 "
          f"{extraction['words'] / language:.0f} words per s, peak "
          f"{extraction['peak_gb']:.2f} GB")
    table = pd.DataFrame(rows)
    print("\n" + table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    whole = table[table.stage == "whole run"].set_index("run")
    full, rerun = f"default @ {args.duration:.0f} s", f"rerun @ {args.duration:.0f} s"
    if full in whole.index and rerun in whole.index:
        print(f"\na comparison-only rerun (comparison.rest_components changed) took "
              f"{whole.loc[rerun, 'wall_s'] / whole.loc[full, 'wall_s']:.0%} of the full run")
    small_default = f"default @ {args.previous_duration:.0f} s"
    small_previous = f"previous @ {args.previous_duration:.0f} s"
    if small_default in whole.index and small_previous in whole.index:
        ratio = whole.loc[small_previous, "wall_s"] / whole.loc[small_default, "wall_s"]
        memory = whole.loc[small_previous, "peak_gb"] / whole.loc[small_default, "peak_gb"]
        print(f"\nprevious default / default at {args.previous_duration:.0f} s: wall "
              f"x{ratio:.1f}, peak memory x{memory:.1f}")


if __name__ == "__main__":
    main()
