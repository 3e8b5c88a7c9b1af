"""Configuration of the model comparisons (YAML section ``comparison``)."""

from __future__ import annotations

from dataclasses import dataclass

from bids_app.encoding.config import INNER_CVS
from bids_app.errors import UsageError

#: Variance-partitioning sets derived from the CCA shared space.
CCA_SETS = ("shared", "speech_rest", "language_rest")
#: Feature kinds pooled into the ``acoustic`` set (acoustic-phonetic features).
ACOUSTIC_KINDS = ("envelope", "mel", "peak_rate", "phonetic")
#: CCA fitting modes.
CCA_FITS = ("in_fold", "all_data")
#: Time resolution of the speech side of the shared and rest sets.
CCA_LEVELS = ("word", "frame")
#: Presets: ``default`` controls the confounds; ``reference`` reproduces the study.
PRESETS = ("default", "reference")
#: What ``preset: reference`` sets (``comparison`` keys; ``encoding.centre_words`` too).
REFERENCE_SETTINGS = {"conditioning": [], "onset_in_shared": True, "banded": False,
                      "untrained_control": False, "predcorr_null": True,
                      "significant_only": False}


#: The ``comparison`` keys each comparison depends on (its stage key; what the preset sets is
#: in these fields already). L's keys are in all but the prediction correlation.
LOW_KEYS = ("conditioning", "phrase_pause", "word_language")
PAIR_KEYS = ("cca_speech", "cca_language", "cca_speech_layer", "cca_language_layer")
DEPENDS_ON = {
    "predcorr": ("predcorr_null", "n_refits", "inner_cv"),
    "beyond": (*LOW_KEYS, *PAIR_KEYS, "untrained_control", "beyond_untrained", "inner_cv",
               "n_refits", "banded"),
    "cca": (*LOW_KEYS, *PAIR_KEYS, "pca_variance", "n_components", "significant_only",
            "rest_components", "cca_fit", "cca_level"),
}
#: A partition uses the shared space's sets and the beyond test's gains (which electrodes it
#: summarises).
DEPENDS_ON["varpart"] = tuple(dict.fromkeys((*DEPENDS_ON["beyond"], *DEPENDS_ON["cca"],
                                             "onset_in_shared", "variance_partitioning")))


def untrained_name(space: str) -> str:
    """The feature-space name of the untrained twin of ``space``."""
    return f"{space}untrained"


@dataclass
class ComparisonConfig:
    """Which model comparisons to run and how (YAML section ``comparison``).

    Attributes
    ----------
    preset : str
        ``"default"``: every comparison is fitted given the low-level set L, word vectors are
        centred, and the untrained twins run. ``"reference"``: the reference study's pipeline
        (no L, uncentred word vectors, the word onset in ``shared``, no twins, the refit null
        of the prediction correlation, ``n_components`` canonical components), to reproduce
        its numbers next to the corrected
        defaults; the report says it does not control these confounds. The preset sets the
        keys of :data:`REFERENCE_SETTINGS` and ``encoding.centre_words: false``, overriding
        them.
    conditioning : list of str | "auto"
        The low-level set L that every model of every comparison contains
        (:mod:`bids_app.analysis.lowlevel`): feature-space names, acoustic kinds, and
        ``word_onset``, ``word_offset``, ``phrase_onset``, ``word_duration``,
        ``word_frequency``, ``word_tokens`` (tokens per word, from the first language
        model). ``"auto"``: every acoustic space (envelope, mel, peak rate, phonetic) and the
        six word regressors. An empty list fits the comparisons without L.
    phrase_pause : float
        Silence (s) before a word that makes it a phrase onset in L.
    word_language : str
        Language of the transcripts, for the word frequencies in L (a code of the offline
        ``wordfreq`` lists: ``en``, ``nl``, ``de``, ``fr``, ...).
    untrained_control : bool
        Also analyse every speech and language model with random weights (the untrained
        twin: same architecture and input, ``weights: random``, seed 0) as feature spaces of
        their own, named ``<name>untrained``, and repeat the shared-beyond-L test with them.
        A finding the twins reproduce is not evidence about learned representations.
    beyond_untrained : bool
        Test "trained beyond untrained": the untrained twins' layers of the tested pair join
        L in the shared-beyond-L test (one band with L), so that what it finds is shared
        beyond whatever the architectures carry untrained; the twins' own test then does
        not run. Needs ``untrained_control``. Off by default: it widens every model of the
        test by the twins' columns (about 5 times the cost).
    inner_cv : str
        Inner cross-validation of the comparisons' models (``encoding.inner_cv`` applies to
        the single-space encodings). ``"holdout"`` (default): the penalties (and band
        scalings) are chosen on the last training fold; ``"kfold"``: on every training
        fold in turn, which costs four times as much with five folds. A comparison searches
        up to 27 band scalings per model and repeats every fit on each rotation of its null,
        so this is most of its cost; the null repeats the same choice either way.
    n_refits : int
        Rotations of the comparisons' refit nulls (the shared-beyond-L test and its twins,
        the partition increments, ``predcorr_null``). Each is a nested-CV refit of every
        model on every tested electrode, so the comparisons' cost grows with it; p comes
        from the normal prediction interval of the refits (Student's t, valid with few
        refits; :func:`bids_app.encoding.refit_p_values`), which ``docs/statistics.md``
        calibrates at this default.
    predcorr_null : bool
        Test the prediction correlation with refits of both models (on the electrodes both
        predict; the reference pipeline). By default the prediction correlation is
        descriptive: the test of shared information is the shared-beyond-L test.
    onset_in_shared : bool
        Put a word-onset impulse in the ``shared`` set (the reference pipeline): word timing
        is then credited to shared information. By default the onset is in L.
    prediction_correlation : list of [str, str] | "auto"
        Pairs of feature-space names whose cross-validated predictions are correlated per
        electrode (best layer of each, chosen in-fold). ``"auto"``: the first ``speech`` space
        against the first ``language`` space. An empty list turns the analysis off.
    cca_speech, cca_language : str | None
        Feature spaces of the CCA shared space; None: the first ``speech`` / ``language``
        space.
    cca_speech_layer, cca_language_layer : int | str
        Layers paired by CCA and by the shared-beyond-L test (fixed in advance, so that its
        null repeats no choice): an integer is a hidden-state index (``7`` is ``layer07``), a
        string a layer name, ``"middle"`` the middle of the space's layer list. The reference
        study paired Wav2Vec2 layer 7 with a middle GPT-2 layer.
    pca_variance : float
        Each standardised set is reduced by PCA to this fraction of its variance before CCA,
        keeping at least ``encoding.layer_pca`` components (the ones a single-model
        encoding uses).
    n_components : int
        Largest number of canonical components (reduced to the smaller PCA dimension if
        needed).
    significant_only : bool
        Keep only the leading canonical components whose canonical correlation on held-out
        fitting words (the last quarter; the CCA refitted on the rest) exceeds the 95th
        percentile of its circular-shift null on those words (which keeps their serial
        correlation), tested in order, up to ``n_components`` (default; possibly
        none). A component the two models do not share then stays in the rest spaces
        instead of taking its dimensions from them, which would credit model-specific
        variance to ``shared``. False keeps ``n_components``, as the reference study did.
        With L, the CCA is partial to L's word regressors either way.
    rest_components : int | None
        Keep only this many leading principal axes of each rest space (None: all ``d - k``).
        The defaults (25 components, whose two views and the word onsets make the 51
        columns of ``shared``, and 50 rest axes) give the three sets about equal sizes and
        bound the cost: a union model costs about ``(n_columns * lag_basis)³``, so the
        default shared + speech_rest + language_rest + acoustic union has about 200 × 9 =
        1,800 lagged columns.
    cca_fit : str
        ``"in_fold"`` (default): standardisation, PCA, CCA and the shared/rest projections are
        fitted on the training words of each outer fold and applied to its test fold.
        ``"all_data"``: fitted once on all words, as the reference code did; the test folds
        then take part in finding the shared space, which makes its scores optimistic (the
        report says so).
    cca_level : str
        Time resolution of the speech side of the shared and rest sets. ``"frame"``
        (default): the speech standardisation, PCA and rest space are fitted on the training
        frames and applied to every frame, so the speech variates (in ``shared``) and
        ``speech_rest`` are frame-level and keep what a frame-level speech encoding uses;
        the language side is word-level impulses. ``"word"``: the speech side is word
        vectors (the mean of each word's frames) as impulses at word onsets, as in the
        reference study; what varies within a word is then lost. Either way ``shared`` holds
        the speech and the language variates of the words, as impulses at word onsets
        (``2k`` columns): what varies within a word stays in ``speech_rest``, which the
        language side cannot know about.
    variance_partitioning : list of str | "auto"
        2–4 sets to partition, each union fitted given L (the shares are of the variance
        explained beyond L): ``shared``, ``speech_rest``, ``language_rest``, ``acoustic``
        (every space of kind envelope, mel, peak_rate or phonetic), a feature kind, or a
        feature-space name (a space with several layers enters with the layer of highest mean
        r across electrodes). ``"auto"``: given L, shared, speech_rest and language_rest;
        without L (``preset: reference``), shared, speech_rest, language_rest, static and
        acoustic, of those available; with more than 4 (2**5 - 1 = 31 union models), two
        3-set partitions are run instead: (shared, speech_rest, language_rest) and (shared,
        static, acoustic). An empty list turns the analysis off.
    banded : bool
        Fit union models with banded ridge: one penalty per set, L being one set (a grid of
        relative set scalings chosen by the same inner CV as alpha), instead of one penalty
        for all (default).
    """

    preset: str = "default"
    conditioning: list[str] | str = "auto"
    phrase_pause: float = 0.5
    word_language: str = "en"
    untrained_control: bool = True
    beyond_untrained: bool = False
    inner_cv: str = "holdout"
    n_refits: int = 20
    predcorr_null: bool = False
    onset_in_shared: bool = False
    prediction_correlation: list[list[str]] | str = "auto"
    cca_speech: str | None = None
    cca_language: str | None = None
    cca_speech_layer: int | str = 7
    cca_language_layer: int | str = "middle"
    pca_variance: float = 0.95
    n_components: int = 25
    significant_only: bool = True
    rest_components: int | None = 50
    cca_fit: str = "in_fold"
    cca_level: str = "frame"
    variance_partitioning: list[str] | str = "auto"
    banded: bool = True

    def depends(self, comparison: str) -> dict:
        """The settings a comparison depends on (:data:`DEPENDS_ON`), for its stage key."""
        return {key: getattr(self, key) for key in DEPENDS_ON[comparison]}

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise UsageError(f"comparison.preset must be one of {list(PRESETS)}, got "
                             f"{self.preset!r}")
        if self.preset == "reference":
            for key, value in REFERENCE_SETTINGS.items():
                object.__setattr__(self, key, value)
        if not (self.conditioning == "auto" or (isinstance(self.conditioning, list) and all(
                isinstance(n, str) for n in self.conditioning))):
            raise UsageError(f"comparison.conditioning must be 'auto' or a list of feature "
                             f"spaces, kinds and word regressors, got {self.conditioning!r}")
        if self.beyond_untrained and not self.untrained_control:
            raise UsageError("comparison.beyond_untrained needs comparison.untrained_control: "
                             "true (the twins it conditions on)")
        if self.inner_cv not in INNER_CVS:
            raise UsageError(f"comparison.inner_cv must be one of {list(INNER_CVS)}, got "
                             f"{self.inner_cv!r}")
        if isinstance(self.n_refits, bool) or not isinstance(self.n_refits, int) \
                or self.n_refits < 2:
            raise UsageError(f"comparison.n_refits must be an integer >= 2, got "
                             f"{self.n_refits!r}")
        if not isinstance(self.word_language, str) or not self.word_language:
            raise UsageError(f"comparison.word_language must be a language code such as "
                             f"'en', got {self.word_language!r}")
        if not self.phrase_pause > 0:
            raise UsageError(f"comparison.phrase_pause must be > 0 seconds, got "
                             f"{self.phrase_pause}")
        pairs = self.prediction_correlation
        if isinstance(pairs, str):
            if pairs != "auto":
                raise UsageError(f"comparison.prediction_correlation must be 'auto' or a list "
                                 f"of [space_a, space_b] pairs, got {pairs!r}")
        elif not all(isinstance(p, (list, tuple)) and len(p) == 2
                     and all(isinstance(n, str) for n in p) for p in pairs):
            raise UsageError(f"comparison.prediction_correlation must be 'auto' or a list of "
                             f"[space_a, space_b] pairs of names, got {pairs!r}")
        for key in ("cca_speech_layer", "cca_language_layer"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, str)) or (
                    isinstance(value, int) and value < 0):
                raise UsageError(f"comparison.{key} must be a layer index >= 0, a layer name "
                                 f"or 'middle', got {value!r}")
        if not 0 < self.pca_variance <= 1:
            raise UsageError(f"comparison.pca_variance must be in (0, 1], got "
                             f"{self.pca_variance}")
        if self.n_components < 1:
            raise UsageError(f"comparison.n_components must be >= 1, got {self.n_components}")
        if self.rest_components is not None and self.rest_components < 1:
            raise UsageError(f"comparison.rest_components must be >= 1 or null, got "
                             f"{self.rest_components}")
        if self.cca_fit not in CCA_FITS:
            raise UsageError(f"comparison.cca_fit must be one of {list(CCA_FITS)}, got "
                             f"{self.cca_fit!r}")
        if self.cca_level not in CCA_LEVELS:
            raise UsageError(f"comparison.cca_level must be one of {list(CCA_LEVELS)}, got "
                             f"{self.cca_level!r}")
        sets = self.variance_partitioning
        if isinstance(sets, str):
            if sets != "auto":
                raise UsageError(f"comparison.variance_partitioning must be 'auto' or a list "
                                 f"of 2-4 set names, got {sets!r}")
        elif len(sets) and not (2 <= len(sets) <= 4 and len(set(sets)) == len(sets)
                                and all(isinstance(n, str) for n in sets)):
            raise UsageError(f"comparison.variance_partitioning must list 2-4 distinct set "
                             f"names (or be empty or 'auto'), got {sets!r}")
