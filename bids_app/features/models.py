"""Finding and loading Hugging Face models offline; pretrained or seeded random weights.

``model`` is a hub id (``facebook/wav2vec2-base``) or a local directory. Search order:

1. ``--model-dir``: ``DIR/<id>``, ``DIR/<org>--<name>``, ``DIR/<name>``, or DIR as a Hugging Face
   cache (``DIR/models--<org>--<name>/snapshots/<rev>``);
2. ``model`` as a local directory holding ``config.json``;
3. the local Hugging Face cache (``HF_HUB_CACHE``/``HF_HOME``);
4. a download from the hub, only when the user opts in with ``HF_HUB_OFFLINE=0``: by default
   runs never download (compute nodes and the container are offline, and a run should use
   exactly the weights the user provided).

A model that is not found raises :class:`~bids_app.errors.MissingInputError` (exit 66) with a
message that says how to provide it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bids_app.errors import BadDataError, MissingInputError, UsageError

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig

logger = logging.getLogger("ssl_ieeg")

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".ckpt")
#: Speech encoders that take a log-mel spectrogram from their feature extractor (the rest take
#: the waveform).
LOG_MEL_ENCODERS = frozenset({"whisper"})
_DOWNLOAD_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors", "merges.txt", "vocab.*"]


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: where its files are and how to identify them.

    Attributes
    ----------
    model_id : str
        The configured ``model`` value.
    path : Path
        Directory with ``config.json`` (and weights, tokenizer, feature-extractor files).
    revision : str | None
        The Hugging Face snapshot (commit hash) when the model came from a hub cache.
    checksum : str
        SHA-256 over the files that determine the features (file contents for local
        directories; blob names, which are content hashes, for hub snapshots). Weight files are
        excluded for ``weights: random``.
    """

    model_id: str
    path: Path
    revision: str | None
    checksum: str

    def provenance(self) -> dict[str, str | None]:
        """Model id, path, revision and checksum for the sidecar."""
        return {"Model": self.model_id, "ModelPath": str(self.path),
                "ModelRevision": self.revision, "ModelChecksum": self.checksum}


def resolve_device(device: str) -> str:
    """``"auto"`` becomes ``"cuda"`` when a GPU is available, else ``"cpu"``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise UsageError(f"--device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was requested but no CUDA GPU is available")
    return device


def resolve_model(model: str, model_dir: Path | None = None, *,
                  weights: str = "pretrained") -> ModelSource:
    """Find a model's files without network access (unless allowed).

    Parameters
    ----------
    model : str
        Hub id or local directory.
    model_dir : Path | None
        Directory searched first (``--model-dir``).
    weights : str
        ``"pretrained"`` requires weight files; ``"random"`` needs only ``config.json``.

    Returns
    -------
    source : ModelSource
    """
    path, revision = _find(model, model_dir)
    if path is None:
        raise MissingInputError(_missing_message(model, model_dir))
    try:
        json.loads((path / "config.json").read_text(encoding="utf-8"))
        has_weights = any(p.suffix in WEIGHT_SUFFIXES for p in path.iterdir())
        if weights == "pretrained" and not has_weights:
            raise MissingInputError(
                f"model {model!r} at {path} has a config but no weights; provide the "
                "checkpoint (--model-dir DIR) or set 'weights: random' for an untrained "
                "baseline")
        checksum = _checksum(path, revision, weights == "pretrained")
    except (OSError, ValueError) as err:  # unreadable files, invalid JSON
        raise BadDataError(f"Cannot read the model {model!r} at {path}: {err}. Check that "
                           "its files are complete and readable by this user.") from err
    return ModelSource(model, path, revision, checksum)


def _find(model: str, model_dir: Path | None) -> tuple[Path | None, str | None]:
    candidates: list[Path] = []
    if model_dir is not None:
        model_dir = Path(model_dir)
        candidates += [model_dir / model, model_dir / model.replace("/", "--"),
                       model_dir / model.split("/")[-1]]
    candidates.append(Path(model).expanduser())
    for candidate in candidates:
        if (candidate / "config.json").is_file():
            return candidate, None
    caches = [model_dir] if model_dir is not None else []
    caches.append(None)  # the default Hugging Face cache
    for cache in caches:
        snapshot = _snapshot(model, cache, local_only=True)
        if snapshot is not None:
            return snapshot, snapshot.name
    if _downloads_allowed():
        snapshot = _snapshot(model, None, local_only=False)
        if snapshot is not None:
            return snapshot, snapshot.name
    return None, None


def _snapshot(model: str, cache_dir: Path | None, local_only: bool) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        path = snapshot_download(model, cache_dir=cache_dir, local_files_only=local_only,
                                 allow_patterns=_DOWNLOAD_PATTERNS)
    except (LocalEntryNotFoundError, HFValidationError, OSError, ValueError) as err:
        logger.debug("model %s not in %s: %s", model, cache_dir or "the HF cache", err)
        return None
    path = Path(path)
    return path if (path / "config.json").is_file() else None


def _downloads_allowed() -> bool:
    """True only when the user explicitly set ``HF_HUB_OFFLINE=0`` (or false/no/off)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("0", "false", "no", "off")


def _missing_message(model: str, model_dir: Path | None) -> str:
    from huggingface_hub import constants

    searched = f"--model-dir {model_dir}, " if model_dir is not None else ""
    return (
        f"model {model!r} not found (searched {searched}a local directory {model!r}, and the "
        f"Hugging Face cache {constants.HF_HUB_CACHE}; downloads are off unless "
        "HF_HUB_OFFLINE=0). "
        f"Provide it with --model-dir DIR (DIR/{model.replace('/', '--')}/config.json and "
        "weights, or a Hugging Face cache), set 'model:' to a local directory, or use the "
        "container whose cache has the default models baked in (HF_HOME), e.g. "
        f"`hf download {model}` on a machine with network access.")


def _checksum(path: Path, revision: str | None, with_weights: bool) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if not with_weights and file.suffix in WEIGHT_SUFFIXES:
            continue
        digest.update(str(file.relative_to(path)).encode())
        if revision is not None and file.is_symlink():
            digest.update(file.resolve().name.encode())  # blob names are content hashes
        else:
            with open(file, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
    return digest.hexdigest()


def load_model(source: ModelSource, *, weights: str, seed: int, device: str,
               causal_lm: bool = False) -> torch.nn.Module:
    """Load a model in eval mode on ``device``: pretrained, or random from its config.

    Parameters
    ----------
    source : ModelSource
        The resolved model.
    weights : str
        ``"pretrained"`` or ``"random"`` (``AutoModel.from_config`` under ``torch.manual_seed
        (seed)``, in a forked RNG so global random state is untouched).
    seed : int
        Seed of the random initialisation.
    device : str
        ``"cpu"`` or ``"cuda"``.
    causal_lm : bool
        Load with the language-model head (``AutoModelForCausalLM``), for surprisal.

    Returns
    -------
    model : torch.nn.Module
    """
    import torch
    from transformers import AutoModel, AutoModelForCausalLM

    auto = AutoModelForCausalLM if causal_lm else AutoModel
    config = load_config(source) if weights == "random" else None
    try:
        if config is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = auto.from_config(config)
        else:
            model = auto.from_pretrained(source.path)
    except (OSError, ValueError, KeyError) as err:
        raise BadDataError(f"model {source.model_id!r} at {source.path} cannot be loaded "
                           f"({err})") from err
    return model.eval().to(device)


def require_supported(source: ModelSource, kind: str, name: str) -> None:
    """Refuse, before any work, an architecture that cannot serve its kind (exit 64).

    - ``language``: the architecture must have a causal-LM head in transformers; a masked
      (bidirectional) language model such as BERT or RoBERTa sees the words after each word,
      so its word vectors carry the future of the story, unless it is configured as a
      decoder (``is_decoder: true``). Decoder-only models (GPT-2, GPT-NeoX/Pythia, Llama,
      OPT, ...) pass.
    - ``speech``: the encoder must take the waveform (``input_values``: wav2vec2, HuBERT,
      WavLM, data2vec-audio, ...) or be Whisper's (log-mel input from its feature extractor);
      other encoders can be extracted elsewhere and read with ``file:``.

    Raises
    ------
    UsageError
    """
    import transformers
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        MODEL_MAPPING_NAMES,
    )

    config = load_config(source)
    where = f"features[{name}]: {source.model_id} is a {config.model_type} model"
    masked = (config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES
              and not config.is_decoder)
    if kind == "language" and (masked or config.model_type
                               not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES):
        raise UsageError(
            f"{where}, {'a masked (bidirectional)' if masked else 'not a causal'} language "
            "model; kind 'language' needs a causal (left-to-right) language model such as "
            "GPT-2, Pythia, Llama or OPT, whose word vectors do not see the words that "
            "follow. Use kind 'static' for its input embeddings.")
    model_class = getattr(transformers, str(MODEL_MAPPING_NAMES.get(config.model_type, "")),
                          None)
    if (kind == "speech" and config.model_type not in LOG_MEL_ENCODERS
            and getattr(model_class, "main_input_name", None) not in (None, "input_values")):
        raise UsageError(
            f"{where}, whose encoder takes {model_class.main_input_name!r}, not the waveform; "
            "kind 'speech' runs waveform encoders (wav2vec2, HuBERT, WavLM, data2vec-audio) "
            "and Whisper's encoder. Extract its layers elsewhere and read them with the "
            "feature space's 'file:' (docs/configuration.md).")


def load_config(source: ModelSource) -> PretrainedConfig:
    """The model's configuration (``config.json``)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source.path)
    except (OSError, ValueError, KeyError) as err:
        raise BadDataError(f"{source.path / 'config.json'}: not a usable model config "
                           f"({err})") from err
