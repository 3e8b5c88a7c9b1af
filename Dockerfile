# ssl-ieeg BIDS App image (docs/hpc.md has the build and run commands that CI tests).
#   docker build -t ssl-ieeg .
#   docker run --rm --read-only --tmpfs /tmp -u "$(id -u):$(id -g)" \
#     -v /data/bids:/bids:ro -v /data/out:/out ssl-ieeg /bids /out participant --participant-label 01
#
# Build arguments:
#   BASE         a Python 3.11 Debian image; CI passes a debootstrap'ed Debian 12 (docs/hpc.md)
#   TORCH_INDEX  extra package index for torch (default: the CPU builds); CI passes the ordinary
#                index and a wheel folder: --volume /opt/wheels:/tmp/wheels:ro
#                --build-arg PIP_FIND_LINKS=/tmp/wheels (mount under /tmp: the mount
#                point stays in the image, where /tmp is hidden at run time)
#   MODELS       Hugging Face models baked into the image, ID@REVISION; MODELS= builds none
#   PIP_FIND_LINKS, PIP_CERT, PIP_INDEX_URL  passed to pip when given (e.g. a proxy's CA bundle)
ARG BASE=python:3.11.13-slim-bookworm
FROM ${BASE}

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG PIP_FIND_LINKS
ARG PIP_CERT
ARG PIP_INDEX_URL
ENV PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Dependencies first, pinned (docker/requirements.txt, written by docker/lock.py), so that a
# change to the app's code rebuilds only the layers below.
COPY docker/requirements.txt /opt/ssl-ieeg/docker/requirements.txt
RUN python3 -m venv /opt/venv \
    && pip install --extra-index-url "$TORCH_INDEX" -r /opt/ssl-ieeg/docker/requirements.txt

COPY pyproject.toml README.md LICENSE /opt/ssl-ieeg/
COPY bids_app /opt/ssl-ieeg/bids_app
RUN pip install --no-build-isolation --no-deps /opt/ssl-ieeg && pip check

# The default models, at pinned revisions, only the files a run loads (safetensors weights,
# configs, tokenizers); read-only at run time and offline.
ARG MODELS="facebook/wav2vec2-base@0b5b8e868dd84f03fd87d01f9c4ff0f080fecfe8 gpt2@607a30d783dfa663caf39e06633721c8d4cfcd7e"
COPY docker/fetch_models.py /opt/ssl-ieeg/docker/fetch_models.py
RUN python /opt/ssl-ieeg/docker/fetch_models.py /opt/models/huggingface/hub $MODELS \
    && chmod -R a+rX /opt/models

# A non-root default user; any other UID works too (-u), with or without a passwd entry. HOME,
# matplotlib's and the model libraries' caches are resolved per user at run time by ssl-ieeg
# (a per-user temporary directory when HOME is not writable), never a fixed shared path.
RUN echo "ssl-ieeg:x:1000:1000:ssl-ieeg:/nonexistent:/usr/sbin/nologin" >> /etc/passwd \
    && echo "ssl-ieeg:x:1000:" >> /etc/group
USER 1000:1000
ENV HF_HUB_CACHE=/opt/models/huggingface/hub \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

LABEL org.opencontainers.image.title="ssl-ieeg" \
      org.opencontainers.image.description="BIDS App: encoding models of iEEG high-gamma from self-supervised speech and language models" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.source="https://github.com/ssl-ieeg/ssl-ieeg" \
      org.opencontainers.image.licenses="BSD-3-Clause"
ENTRYPOINT ["ssl-ieeg"]
