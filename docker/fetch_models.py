"""Bake Hugging Face models into the image: ``python fetch_models.py CACHE ID@REVISION ...``.

Only the files a run loads are downloaded, with the app's own patterns (safetensors weights,
configs, tokenizers and feature extractors). A model whose snapshot has no safetensors weights
stops the build, so an image never ships a model that runs would refuse. No model: nothing to do.
"""

from __future__ import annotations

import sys
from pathlib import Path

from huggingface_hub import snapshot_download

from bids_app.features.models import _DOWNLOAD_PATTERNS


def fetch(cache: Path, spec: str) -> Path:
    """Download ``ID@REVISION`` (or ``ID``, the newest revision) into the hub cache ``cache``."""
    model, _, revision = spec.partition("@")
    path = Path(snapshot_download(model, revision=revision or None, cache_dir=cache,
                                  allow_patterns=_DOWNLOAD_PATTERNS))
    if not any(path.glob("*.safetensors")):
        raise SystemExit(f"{spec}: no *.safetensors weights in {path}; pick a revision that "
                         "has them")
    return path


def main(argv: list[str]) -> int:
    """Fetch every model of ``argv[1:]`` into the cache ``argv[0]``."""
    cache, specs = Path(argv[0]), argv[1:]
    cache.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        print(f"{spec}: {fetch(cache, spec)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
