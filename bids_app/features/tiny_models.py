"""Tiny random Wav2Vec2 and GPT-2 checkpoints, built offline in seconds (tests, demo).

They have the true architectures and frame geometry (320-sample hop, 400-sample receptive
field at 16 kHz) but a few dozen hidden units, and are saved with ``save_pretrained`` so they load
through the same ``from_pretrained(path)`` code path as real checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPT2TokenizerFast,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Model,
)

END_OF_TEXT = "<|endoftext|>"


def save_tiny_models(out_dir: Path, words: Sequence[str], seed: int = 0, n_layers: int = 2,
                     init_range: float = 0.02) -> dict[str, Path]:
    """Build and save a tiny Wav2Vec2 and a tiny GPT-2 (with a byte-level BPE tokenizer).

    Parameters
    ----------
    out_dir : Path
        Parent directory; the models go to ``out_dir/tiny-wav2vec2`` and ``out_dir/tiny-gpt2``.
    words : sequence of str
        Words the tokenizer is trained on (any text is still encodable: byte-level BPE).
    seed : int
        Seed of the random weights.
    n_layers : int
        Transformer layers of each model (hidden states ``layer00`` to ``layer<n_layers>``).
    init_range : float
        Standard deviation of the initial weights (``initializer_range``). With Hugging Face's
        default, 0.02, a random model's residual stream barely changes from layer to layer
        (consecutive layers' features correlate at 0.98-1.0); 0.4 makes each layer transform
        it (the demo's models), so a layer profile has a shape.

    Returns
    -------
    paths : dict
        ``{"speech": dir, "language": dir}``.
    """
    out_dir = Path(out_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        speech = _save_tiny_wav2vec2(out_dir / "tiny-wav2vec2", n_layers, init_range)
        language = _save_tiny_gpt2(out_dir / "tiny-gpt2", words, n_layers, init_range)
    for path in (speech, language):  # save_pretrained writes the weights owner-only (0600)
        for file in path.iterdir():
            file.chmod(0o644)
    return {"speech": speech, "language": language}


def _save_tiny_wav2vec2(path: Path, n_layers: int, init_range: float) -> Path:
    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=n_layers, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, vocab_size=32,
        initializer_range=init_range,
    )
    Wav2Vec2Model(config).save_pretrained(path)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True).save_pretrained(path)
    return path


def _save_tiny_gpt2(path: Path, words: Sequence[str], n_layers: int,
                    init_range: float) -> Path:
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([" " + w for w in words], vocab_size=400, min_frequency=1,
                            show_progress=False, special_tokens=[END_OF_TEXT])
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, bos_token=END_OF_TEXT,
                                  eos_token=END_OF_TEXT, unk_token=END_OF_TEXT)
    eos = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=n_layers,
                        n_head=2, bos_token_id=eos, eos_token_id=eos,
                        initializer_range=init_range)
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
