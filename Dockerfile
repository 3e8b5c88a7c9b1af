# ssl-ieeg BIDS App image.
#   docker build -t ssl-ieeg .
#   docker run --rm -u "$(id -u):$(id -g)" --read-only --tmpfs /tmp \
#     -v /data/bids:/bids:ro -v /data/out:/out ssl-ieeg /bids /out participant --participant-label 01
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HOME=/opt/models/huggingface \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba

RUN apt-get update && apt-get install -y --no-install-recommends libsndfile1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/ssl-ieeg
COPY pyproject.toml README.md ./
COPY bids_app ./bids_app
# CPU build of torch by default; build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 for CUDA.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_INDEX" torch==2.13.0 \
    && pip install .

# Bake the default model weights into the image so that runs are offline.
ARG MODELS="facebook/wav2vec2-base gpt2"
RUN python -c "import sys; from huggingface_hub import snapshot_download; \
[snapshot_download(m) for m in sys.argv[1:]]" $MODELS \
    && chmod -R a+rX /opt/models

# At run time: offline, any UID, read-only root file system (caches go to /tmp or the work dir).
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HOME=/tmp
ENTRYPOINT ["ssl-ieeg"]
