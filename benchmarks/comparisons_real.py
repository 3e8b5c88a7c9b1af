"""Calibration of the shared-beyond-L test on null electrodes, with real model architectures.

``benchmarks/comparisons.py`` calibrates on planted features of 24 dimensions. Here the
features are those of the real architectures, at their real sizes: full-size random-weight
wav2vec2-base and GPT-2 small (seed 0, and their untrained twins, seed 1),
the envelope, mel spectrogram and peak rate, extracted once through
``load_or_compute_features`` from ``--duration`` seconds of synthetic speech audio with its
word timings (``bids_app.synthetic.audio.make_speech``: English words, louder during words).
L is the default (every acoustic space, word and phrase onsets, word durations, frequencies
and tokens).

For each seed, null electrodes of five classes follow one source through the response kernel
of the planted recordings, plus white noise (drive R² 0.5): the envelope (in L), a
constant-gain word-onset impulse (in L), sound onsets (the rectified envelope derivative,
outside L's span), a random projection of the untrained speech twin's layer 7 (an
architecture's response, not carried by the language model), and nothing. None carries
information shared by the two models beyond L. Every electrode is tested with the default
comparison settings; the script prints, per test and class, the rate of p <= 0.05 and of
significance, with the 99 % binomial quantile of a calibrated test, and the summed
``shared_only`` R² of the driven classes as a share of their planted variance::

    python benchmarks/comparisons_real.py                  # 600 s, 3 seeds x 75: ~25 min
    python benchmarks/comparisons_real.py --duration 120 --seeds 1 --per-class 5
    python benchmarks/comparisons_real.py --real-words --seeds 1   # the partition's leak too

The synthetic speech has about one word per second: in 600 s, fewer words than the CCA's
PCA dimensions. ``--real-words`` uses ds005574's word timings (2.9 per second), for a
partition whose shared space is fitted on as many words as a real recording gives.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from features import DATA, write_models
from scipy import stats

#: The null classes, in channel-name order.
CLASSES = ("envelope", "onset", "outside", "untrained", "noise")
#: The classes under the null of each test: all for the shared-beyond-L test (and its twins'
#: repetition); for a model's gain over L, the classes that model does not carry (the speech
#: model carries sound onsets and, partly, its twin's filter; its word-presence edges may
#: refine L's onset response, as on the planted features).
NULL_CLASSES = {"shared_beyond_low": CLASSES, "shared_beyond_low_untrained": CLASSES,
                "gain_a": ("envelope", "noise"),
                "gain_b": ("envelope", "onset", "outside", "untrained", "noise")}
SFREQ = 100.0
#: Seconds of silence before and after the stimulus in the recording.
PAD = 2.0


def extract(work: Path, duration: float, real_words: bool = False
            ) -> tuple[dict, list, object]:
    """Write the stimulus and extract every feature space once: (feature sets, stimuli, words).

    With ``real_words``, the transcript holds ds005574's word timings (2.9 words per second)
    instead of the synthetic speech's own (about one per second).
    """
    from bids_app.features import FeatureSpec, load_or_compute_features
    from bids_app.stimuli import Stimulus
    from bids_app.stimuli.alignments import read_words
    from bids_app.stimuli.stimulus import WordTimings
    from bids_app.synthetic.audio import AUDIO_SFREQ, make_speech

    speech, language = write_models(work)
    audio, words = make_speech(duration, np.random.default_rng(0))
    if real_words:
        real = read_words(DATA / "ds005574" / "stimuli" / "whisper-medium" / "transcript.tsv")
        keep = real.offsets < duration - 0.3
        words = WordTimings(tuple(np.asarray(real.words)[keep]), real.onsets[keep],
                            real.offsets[keep])
    sf.write(work / "story.wav", audio, AUDIO_SFREQ)
    pd.DataFrame({"word": words.words, "start": words.onsets, "end": words.offsets}).to_csv(
        work / "story.tsv", sep="\t", index=False)
    stimulus = Stimulus("story", work / "story.wav", work / "story.tsv", PAD, duration)
    specs = [FeatureSpec("wav2vec2", "speech", model=str(speech), weights="random"),
             FeatureSpec("gpt2", "language", model=str(language), weights="random"),
             FeatureSpec("wav2vec2untrained", "speech", model=str(speech), weights="random",
                         seed=1),
             FeatureSpec("gpt2untrained", "language", model=str(language), weights="random",
                         seed=1),
             FeatureSpec("envelope", "envelope"), FeatureSpec("mel", "mel"),
             FeatureSpec("peakrate", "peak_rate")]
    sets = {}
    for spec in specs:
        start = time.perf_counter()
        sets[spec.name] = [load_or_compute_features(spec, stimulus, work / "cache", n_jobs=2)]
        print(f"extracted {spec.name}: {time.perf_counter() - start:.0f} s", flush=True)
    return sets, [stimulus], read_words(work / "story.tsv")


def null_electrodes(design, segments: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Data of the null classes (``per_class`` each), in :data:`CLASSES` order."""
    from bids_app.synthetic.partition import KERNEL

    rng = np.random.default_rng(seed)
    inside = segments >= 0
    n = len(segments)
    envelope = np.asarray(design("envelope", "envelope"), dtype=float)[:, 0]
    rise = np.maximum(np.gradient(envelope), 0)
    onsets = np.zeros(n)
    onsets[np.asarray(design.word_rows("gpt2"))] = 1.0
    twin = np.asarray(design("wav2vec2untrained", "layer07"), dtype=float)
    Y = rng.standard_normal((n, per_class * len(CLASSES)))
    for j in range(per_class * (len(CLASSES) - 1)):
        name = CLASSES[j // per_class]
        source = {"envelope": envelope, "onset": onsets, "outside": rise,
                  "untrained": None}[name]
        if source is None:  # a random filter of the untrained speech twin
            source = twin @ rng.standard_normal(twin.shape[1])
        drive = np.convolve(source, KERNEL)[:n]
        drive = (drive - drive[inside].mean()) / drive[inside].std()
        Y[:, j] += drive * inside
    return Y.astype(np.float32)


def main() -> None:
    from bids_app.analysis import ComparisonConfig, ComparisonInputs, compare_models
    from bids_app.analysis.plan import FeatureSpaceInfo
    from bids_app.analysis.words import word_samples
    from bids_app.encoding import EncodingConfig, StatisticsConfig
    from bids_app.encoding.align import Designs, stimulus_segments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--per-class", type=int, default=15)
    parser.add_argument("--refits", type=int, default=20)
    parser.add_argument("--real-words", action="store_true",
                        help="ds005574's word timings (enough words for the partition's CCA)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sets, stimuli, words = extract(Path(tmp), args.duration, args.real_words)
        n_times = int((args.duration + 2 * PAD) * SFREQ)
        design = Designs(sets, stimuli, n_times, SFREQ)
        segments = stimulus_segments(stimuli, n_times, SFREQ)
        spaces = {name: FeatureSpaceInfo(fs[0].kind, fs[0].layer_names, fs[0].is_word_level)
                  for name, fs in sets.items()}
        encoding = EncodingConfig()
        channels = [f"{name}{i}" for name in CLASSES for i in range(args.per_class)]
        tables = []
        for seed in range(args.seeds):
            start = time.perf_counter()
            inputs = ComparisonInputs(design, spaces, {}, null_electrodes(
                design, segments, args.per_class, seed), segments,
                encoding.lags_samples(SFREQ), channels,
                word_samples(stimuli, [words], SFREQ), SFREQ, word_rows=design.word_rows)
            out = compare_models(inputs, config=ComparisonConfig(prediction_correlation=[],
                                                                 n_refits=args.refits),
                                 encoding=encoding, statistics=StatisticsConfig(seed=seed),
                                 n_jobs=2)
            for warning in out.warnings:
                print(f"  warning: {warning}")
            beyond = out.tables["beyond"].assign(seed=seed)
            varpart = out.tables.get("varpart")
            tables.append((beyond, varpart.assign(seed=seed) if varpart is not None else None))
            print(f"seed {seed}: comparisons {time.perf_counter() - start:.0f} s "
                  f"({len(channels)} electrodes, {args.refits} rotations; L = "
                  f"{beyond['conditioning'].iloc[0]})", flush=True)
    report(pd.concat([b for b, _ in tables]),
           [v for _, v in tables if v is not None])


def report(beyond: pd.DataFrame, varparts: list[pd.DataFrame]) -> None:
    """Print the false-positive rates and the shared_only leak."""
    classes = beyond["channel"].str.rstrip("0123456789")
    print(f"\n{len(beyond)} electrodes, none with information shared beyond L")
    print("test                        null electrodes  p<=0.05  significant  99% bound")
    for test, nulls in NULL_CLASSES.items():
        rows = beyond[classes.isin(nulls)]
        p = f"p_{test}" if f"p_{test}" in rows else None
        rate = f"{(rows[p] <= 0.05).mean():7.1%}" if p else "      -"
        print(f"{test:<28}{len(rows):>15}  {rate}  {int(rows[f'significant_{test}'].sum()):>11}"
              f"  {stats.binom.ppf(0.99, len(rows), 0.05):>9.0f}")
    print("(significant_shared_beyond_low is the intersection-union rule)")
    by_class = beyond.groupby(classes)[["significant_shared_beyond_low",
                                        "significant_gain_a", "significant_gain_b"]].sum()
    print(by_class.astype(int).to_string())
    if varparts:
        varpart = pd.concat(varparts)
        driven = varpart[~varpart["channel"].str.startswith("noise")]
        shared = driven.loc[driven["region"] == "shared_only", "r2"].sum()
        n_driven = driven.groupby(["seed", "channel"]).ngroups
        beyond_low = driven.groupby(["seed", "channel"])["r2"].apply(
            lambda r: r.clip(lower=0).sum()).sum()
        print(f"summed shared_only R² of the driven classes: {shared / (0.5 * n_driven):.2%} "
              f"of their planted variance, {shared / max(beyond_low, 1e-12):.1%} of their "
              f"positive R² beyond L")


if __name__ == "__main__":
    main()
