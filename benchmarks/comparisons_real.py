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
    python benchmarks/comparisons_real.py --real-words --planted-shared 4 --per-class 17

The synthetic speech has about one word per second: in 600 s, fewer words than the CCA's
PCA dimensions. ``--real-words`` uses ds005574's word timings (2.9 per second), for a
partition whose shared space is fitted on as many words as a real recording gives.

Random-weight models share nothing the held-out CCA keeps, so their partition's
``shared_only`` is 0 by construction. ``--planted-shared K`` plants K word-level latents
(zero mean across words) in every layer of both trained models: into each word's vector of
the language model and each frame within the word of the speech model, through a random
projection at half each column's spread. The CCA then keeps components, and a sixth class,
``shared``, follows the latents' word impulses on top of an envelope drive of twice their
variance. It measures the leak into ``shared_only`` where the shared space exists, and the
detection of shared content by real architectures.
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


def plant_shared(sets: dict, words, n_latents: int, seed: int = 0) -> np.ndarray:
    """Add ``n_latents`` word-level latents to both trained models' layers; return the latents.

    Each layer gains ``latent @ W`` (W standard normal, scaled to half of each column's
    standard deviation over the latents' unit variance): on each word's row of the language
    model, and on every frame within the word of the speech model.
    """
    rng = np.random.default_rng(1000 + seed)
    latent = rng.standard_normal((len(words.onsets), n_latents))
    latent = (latent - latent.mean(0)) / latent.std(0)
    for space in ("wav2vec2", "gpt2"):
        fs = sets[space][0]
        if fs.is_word_level:
            rows = latent
        else:
            word = np.searchsorted(words.onsets, fs.times, side="right") - 1
            within = (word >= 0) & (fs.times < words.offsets[np.maximum(word, 0)])
            rows = np.where(within[:, None], latent[np.maximum(word, 0)], 0.0)
        for name, values in fs.layers.items():
            if values.ndim == 2 and values.shape[1] > 1:
                weights = rng.standard_normal((n_latents, values.shape[1])) / np.sqrt(n_latents)
                gain = 0.5 * values.std(0)
                fs.layers[name] = (values + (rows @ weights) * gain).astype(values.dtype)
    return latent


def null_electrodes(design, segments: np.ndarray, per_class: int, seed: int,
                    latent: np.ndarray | None = None,
                    word_onsets: np.ndarray | None = None) -> np.ndarray:
    """Data of the classes (``per_class`` each), in :func:`classes` order.

    With ``latent`` (the planted shared latents), the ``shared`` class follows their impulses
    at ``word_onsets`` (samples) through a random projection, plus an envelope drive of twice
    their variance.
    """
    from bids_app.synthetic.partition import KERNEL

    rng = np.random.default_rng(seed)
    inside = segments >= 0
    n = len(segments)
    envelope = np.asarray(design("envelope", "envelope"), dtype=float)[:, 0]
    rise = np.maximum(np.gradient(envelope), 0)
    onsets = np.zeros(n)
    onsets[np.asarray(design.word_rows("gpt2"))] = 1.0
    twin = np.asarray(design("wav2vec2untrained", "layer07"), dtype=float)
    names = classes(latent is not None)

    def standard(drive: np.ndarray) -> np.ndarray:
        return (drive - drive[inside].mean()) / drive[inside].std()

    def unit(source: np.ndarray) -> np.ndarray:
        return standard(np.convolve(source, KERNEL)[:n])

    Y = rng.standard_normal((n, per_class * len(names)))
    for j in range(per_class * (len(names) - 1)):
        name = names[j // per_class]
        if name == "shared":
            content = np.zeros(n)
            np.add.at(content, word_onsets, latent @ rng.standard_normal(latent.shape[1]))
            drive = standard(np.sqrt(2) * unit(envelope) + unit(content))
        else:
            source = {"envelope": envelope, "onset": onsets, "outside": rise,
                      "untrained": None}[name]
            if source is None:  # a random filter of the untrained speech twin
                source = twin @ rng.standard_normal(twin.shape[1])
            drive = unit(source)
        Y[:, j] += drive * inside
    return Y.astype(np.float32)


def classes(planted: bool) -> tuple[str, ...]:
    """The electrode classes, in channel-name order: ``shared`` first when planted."""
    return ("shared", *CLASSES) if planted else CLASSES


def main() -> None:
    from bids_app.analysis import ComparisonConfig, ComparisonInputs, compare_models
    from bids_app.analysis.plan import FeatureSpaceInfo
    from bids_app.analysis.words import word_samples
    from bids_app.encoding import Backend, EncodingConfig, StatisticsConfig
    from bids_app.encoding.align import Designs, stimulus_segments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--per-class", type=int, default=15)
    parser.add_argument("--refits", type=int, default=20)
    parser.add_argument("--real-words", action="store_true",
                        help="ds005574's word timings (enough words for the partition's CCA)")
    parser.add_argument("--planted-shared", type=int, default=0, metavar="K",
                        help="plant K word-level latents in both trained models")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sets, stimuli, words = extract(Path(tmp), args.duration, args.real_words)
        latent = plant_shared(sets, words, args.planted_shared) if args.planted_shared else None
        word_onsets = np.round((PAD + words.onsets) * SFREQ).astype(int)
        n_times = int((args.duration + 2 * PAD) * SFREQ)
        design = Designs(sets, stimuli, n_times, SFREQ)
        segments = stimulus_segments(stimuli, n_times, SFREQ)
        spaces = {name: FeatureSpaceInfo(fs[0].kind, fs[0].layer_names, fs[0].is_word_level)
                  for name, fs in sets.items()}
        encoding = EncodingConfig()
        channels = [f"{name}{i}" for name in classes(latent is not None)
                    for i in range(args.per_class)]
        tables = []
        for seed in range(args.seeds):
            start = time.perf_counter()
            inputs = ComparisonInputs(design, spaces, {}, null_electrodes(
                design, segments, args.per_class, seed, latent, word_onsets), segments,
                encoding.lags_samples(SFREQ), channels,
                word_samples(stimuli, [words], SFREQ), SFREQ, word_rows=design.word_rows)
            out = compare_models(inputs, config=ComparisonConfig(prediction_correlation=[],
                                                                 n_refits=args.refits),
                                 encoding=encoding, statistics=StatisticsConfig(seed=seed),
                                 engine=Backend(n_jobs=2))
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
    """Print the false-positive rates, the planted shared class's detection and the leak."""
    classes = beyond["channel"].str.rstrip("0123456789")
    print(f"\n{len(beyond)} electrodes; only the shared class (if planted) carries information "
          "shared beyond L")
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
    print(by_class.astype(int).join(classes.value_counts().rename("electrodes")).to_string())
    if not varparts:
        return
    varpart = pd.concat(varparts)
    kind = varpart["channel"].str.rstrip("0123456789")
    driven = varpart[~kind.isin(("noise", "shared"))]
    shared = driven.loc[driven["region"] == "shared_only", "r2"].sum()
    n_driven = driven.groupby(["seed", "channel"]).ngroups
    beyond_low = driven.groupby(["seed", "channel"])["r2"].apply(
        lambda r: r.clip(lower=0).sum()).sum()
    print(f"summed shared_only R² of the driven null classes: {shared / (0.5 * n_driven):.2%} "
          f"of their planted variance, {shared / max(beyond_low, 1e-12):.1%} of their "
          "positive R² beyond L")
    print("mean R² per region and class:")
    print(varpart.assign(kind=kind).pivot_table(index="kind", columns="region", values="r2",
                                                aggfunc="mean").round(4).to_string())


if __name__ == "__main__":
    main()
