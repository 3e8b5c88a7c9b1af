"""Word-level features of a causal language model (GPT-2 by default), and static embeddings.

Tokenisation: each word is encoded on its own with a leading space (``" " + word``, as GPT-2
sees running text), which keeps an exact token -> word map.

Context: a strided sliding window. The token sequence (preceded by the tokenizer's BOS token when
it has one, e.g. GPT-2's ``<|endoftext|>``) is processed in passes of at most
``context_tokens`` tokens; each pass scores ``stride`` new tokens, so every token sees between
``context_tokens - stride`` and ``context_tokens - 1`` previous tokens (all of them while the
stimulus is shorter than the window). With ``context_scope: sentence`` the context restarts
after each word ending in ``.``, ``?`` or ``!``. Context never crosses stimuli.

Outputs per word (word onset/offset as times/offsets):

- ``layerNN``: hidden state ``NN`` (0 = token + position embeddings; the last one has the final
  layer norm applied, as Hugging Face returns it) of the word's last token (``aggregation:
  last``) or the mean over its tokens (``mean``);
- ``surprisal``: ``-log p(word | context)`` in nats, the sum over the word's tokens;
- ``tokens``: the number of tokens of the word (a low-level covariate: longer and rarer words
  take more tokens; :mod:`bids_app.analysis.lowlevel` puts it in L);
- ``entropy``: entropy (nats) of the next-token distribution from which the word's first token
  is drawn.

The first word has no surprisal or entropy (NaN) when the tokenizer has no BOS token.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from bids_app.errors import BadDataError, MissingInputError, UsageError
from bids_app.features.models import ModelSource
from bids_app.layers import layer_name
from bids_app.stimuli.alignments import PUNCTUATION

if TYPE_CHECKING:
    import torch

logger = logging.getLogger("ssl_ieeg")

_SENTENCE_END = re.compile(r"[.?!][\"')\]]*$")


def tokenize_words(tokenizer: Any, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of a word sequence and the index of the word each token belongs to.

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerBase
        A Hugging Face tokenizer.
    words : sequence of str
        The words, punctuation attached as in the transcript.

    Returns
    -------
    token_ids : ndarray of int, shape (n_tokens,)
    word_index : ndarray of int, shape (n_tokens,)
    """
    ids: list[int] = []
    owner: list[int] = []
    for i, word in enumerate(words):
        pieces = tokenizer.encode(" " + word, add_special_tokens=False)
        if not pieces:
            raise BadDataError(f"word {i} ({word!r}) produces no tokens")
        ids.extend(pieces)
        owner.extend([i] * len(pieces))
    return np.asarray(ids, dtype=np.int64), np.asarray(owner, dtype=np.int64)


def sentence_segments(words: Sequence[str]) -> list[slice]:
    """Word slices that end at sentence-final punctuation (``.``, ``?``, ``!``)."""
    segments, start = [], 0
    for i, word in enumerate(words):
        if _SENTENCE_END.search(word):
            segments.append(slice(start, i + 1))
            start = i + 1
    if start < len(words):
        segments.append(slice(start, len(words)))
    return segments


def causal_lm_features(model: torch.nn.Module, tokenizer: Any, words: Sequence[str],
                       layers: list[int] | str, *, device: str, options: dict[str, Any],
                       verbose: bool = False) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per-word hidden states, surprisal and entropy from a causal language model.

    Parameters
    ----------
    model : torch.nn.Module
        An ``AutoModelForCausalLM`` in eval mode on ``device``.
    tokenizer : PreTrainedTokenizerBase
        Its tokenizer.
    words : sequence of str
        The transcript words.
    layers : list of int | "all"
        Hidden-state indices to keep.
    device : str
        Torch device.
    options : dict
        The ``language`` options (context_tokens, stride, aggregation, context_scope).
    verbose : bool
        Progress bar.

    Returns
    -------
    values : dict of str to ndarray
        ``layerNN`` (n_words, n_dims), ``surprisal``, ``entropy`` and ``tokens``
        (n_words, 1); float32.
    meta : dict
        Tokenizer and context settings, token counts.
    """
    n_states = model.config.num_hidden_layers + 1
    indices = list(range(n_states)) if layers == "all" else list(layers)
    if any(i >= n_states for i in indices):
        raise UsageError(f"layers {indices}: the model has hidden states 0..{n_states - 1}")
    max_positions = _max_positions(model.config)
    context = min(options["context_tokens"] or max_positions, max_positions)
    stride = options["stride"] or max(context // 2, 1)
    if stride > context - 1 and context > 1:
        stride = context - 1
    bos = tokenizer.bos_token_id
    segments = (sentence_segments(words) if options["context_scope"] == "sentence"
                else [slice(0, len(words))])
    dim = model.config.hidden_size
    out = {i: np.zeros((len(words), dim), dtype=np.float32) for i in indices}
    surprisal = np.full(len(words), np.nan)
    entropy = np.full(len(words), np.nan)
    tokens = np.zeros(len(words))
    for segment in tqdm(segments, desc="language segments", disable=not verbose or
                        len(segments) == 1):
        ids, owner = tokenize_words(tokenizer, words[segment])
        owner = owner + segment.start
        np.add.at(tokens, owner, 1.0)
        hidden, token_surprisal, token_entropy = _run_strided(
            model, ids, bos, indices, context, stride, device, verbose)
        _aggregate(out, hidden, owner, options["aggregation"])
        first = np.r_[True, owner[1:] != owner[:-1]]
        surprisal[np.unique(owner)] = 0.0
        np.add.at(surprisal, owner, token_surprisal)
        entropy[owner[first]] = token_entropy[first]
    values = {layer_name(i): out[i] for i in indices}
    values["surprisal"] = surprisal.astype(np.float32)[:, None]
    values["entropy"] = entropy.astype(np.float32)[:, None]
    values["tokens"] = tokens.astype(np.float32)[:, None]
    meta = {"Tokenizer": type(tokenizer).__name__, "NumTokens": int(tokens.sum()),
            "ContextTokens": context, "Stride": stride, "BOSToken": tokenizer.bos_token,
            "Aggregation": options["aggregation"], "ContextScope": options["context_scope"],
            "SurprisalUnit": "nats"}
    return values, meta


def load_tokenizer(source: ModelSource) -> Any:
    """The model's tokenizer (``AutoTokenizer.from_pretrained``) from its directory."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source.path)
    except (OSError, ValueError, TypeError) as err:
        raise MissingInputError(
            f"model {source.model_id!r} at {source.path} has no usable tokenizer ({err}); "
            "provide the tokenizer files (tokenizer.json, or vocab.json and merges.txt) with "
            "the model") from err


def _max_positions(config: Any) -> int:
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, name, None)
        if value:
            return int(value)
    return 1024


def _run_strided(model: torch.nn.Module, ids: np.ndarray, bos: int | None, layers: list[int],
                 context: int, stride: int, device: str,
                 verbose: bool) -> tuple[dict[int, np.ndarray], np.ndarray, np.ndarray]:
    """Hidden states, surprisal and entropy of every token with a strided context window."""
    import torch

    offset = 1 if bos is not None else 0
    sequence = np.r_[[bos], ids] if bos is not None else ids
    n = ids.size
    hidden = {i: np.zeros((n, model.config.hidden_size), dtype=np.float32) for i in layers}
    surprisal = np.full(n, np.nan)
    entropy = np.full(n, np.nan)
    done = offset  # positions of ``sequence`` already scored
    steps = []
    while done < sequence.size:
        stop = min(sequence.size, max(done + stride, context if not steps else 0))
        steps.append((max(0, stop - context), done, stop))
        done = stop
    can_trim = "logits_to_keep" in inspect.signature(model.forward).parameters
    for start, new, stop in tqdm(steps, desc="language windows", disable=not verbose):
        inputs = torch.from_numpy(sequence[start:stop][None]).to(device)
        first_logit = max(new - start - 1, 0)  # local position of the first logit needed
        # only the logits that score new tokens: less compute and memory in the LM head
        trim = {"logits_to_keep": stop - start - first_logit} if can_trim else {}
        with torch.inference_mode():
            result = model(inputs, output_hidden_states=True, **trim)
        local = slice(new - start, stop - start)
        tokens = slice(new - offset, stop - offset)
        for i in layers:
            hidden[i][tokens] = result.hidden_states[i][0, local].float().cpu().numpy()
        logits = result.logits[0, first_logit - (stop - start):]
        predicting = torch.arange(new - start - 1, stop - start - 1)
        valid = predicting >= 0
        targets = inputs[0, new - start:stop - start][valid.to(inputs.device)]
        positions = np.arange(tokens.start, tokens.stop)[valid.numpy()]
        surprisal[positions], entropy[positions] = _score(
            logits[(predicting[valid] - first_logit).to(logits.device)], targets)
    return hidden, surprisal, entropy


def _score(logits: torch.Tensor, targets: torch.Tensor,
           block: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Surprisal of each target and entropy of each row's distribution (nats), in row blocks
    so that only ``block x vocabulary`` floats are alive at a time."""
    import torch

    surprisal, entropy = [], []
    for lo in range(0, logits.shape[0], block):
        logp = torch.log_softmax(logits[lo:lo + block].float(), dim=-1)
        surprisal.append(-logp.gather(1, targets[lo:lo + block, None])[:, 0].cpu().numpy())
        entropy.append(-(logp.exp() * logp).sum(dim=1).cpu().numpy())
    return np.concatenate(surprisal), np.concatenate(entropy)


def _aggregate(out: dict[int, np.ndarray], hidden: dict[int, np.ndarray], owner: np.ndarray,
               aggregation: str) -> None:
    """Token states -> word states (last token or mean over tokens), written into ``out``."""
    words, first, counts = np.unique(owner, return_index=True, return_counts=True)
    for i, states in hidden.items():
        if aggregation == "last":
            out[i][words] = states[first + counts - 1]
        else:
            out[i][words] = np.add.reduceat(states, first, axis=0) / counts[:, None]


def static_embeddings(model: torch.nn.Module, tokenizer: Any,
                      words: Sequence[str]) -> dict[str, np.ndarray]:
    """Context-free word vectors: the input token embeddings averaged over each word's tokens.

    Returns
    -------
    values : dict
        ``{"embedding": (n_words, n_dims) float32}``.
    """
    ids, owner = tokenize_words(tokenizer, words)
    table = model.get_input_embeddings().weight.detach().float().cpu().numpy()
    vectors = table[ids]
    _, first, counts = np.unique(owner, return_index=True, return_counts=True)
    pooled = np.add.reduceat(vectors, first, axis=0) / counts[:, None]
    return {"embedding": pooled.astype(np.float32)}


def normalise_word(word: str) -> str:
    """Lower case, surrounding punctuation removed (GloVe vocabulary form)."""
    return word.strip("".join(PUNCTUATION)).lower()


def glove_embeddings(path: Path, words: Sequence[str]) -> tuple[dict[str, np.ndarray],
                                                                dict[str, Any]]:
    """Word vectors from a GloVe text file (``word v1 v2 ...`` per line); zeros when unknown.

    Parameters
    ----------
    path : Path
        The GloVe ``.txt`` file.
    words : sequence of str
        The transcript words (normalised with :func:`normalise_word` for the lookup).

    Returns
    -------
    values : dict
        ``{"glove": (n_words, n_dims) float32}``.
    meta : dict
        Vector file, dimension and the number of out-of-vocabulary words.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: GloVe vector file not found (static option 'glove')")
    wanted = {normalise_word(w) for w in words}
    found: dict[str, np.ndarray] = {}
    dim = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if dim is None:
                dim = len(rest.split())
            if word in wanted:
                vector = np.array(rest.split(), dtype=np.float32)
                if vector.size != dim:
                    raise BadDataError(f"{path}, line {number}: {vector.size} values, expected "
                                       f"{dim}")
                found[word] = vector
    if not dim:
        raise BadDataError(f"{path}: empty GloVe file")
    zeros = np.zeros(dim, dtype=np.float32)
    matrix = np.stack([found.get(normalise_word(w), zeros) for w in words])
    missing = sum(normalise_word(w) not in found for w in words)
    return {"glove": matrix}, {"VectorFile": str(path), "Dimension": dim,
                               "OutOfVocabulary": missing}
