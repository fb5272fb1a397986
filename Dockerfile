# twinscope: the app with its embedded defaults (seeded random FNN weights; biology fetched at start when the
# network allows, else a notice). Build and run:
#   docker build -t twinscope .
#   docker run --rm -p 8050:8050 -v twinscope-data:/data twinscope        # then open http://localhost:8050
# Build arguments:
#   BASE_IMAGE       any Debian-like image with python3 (3.11) and its venv module; default python:3.11-slim-bookworm
#   TORCH_INDEX_URL  where torch comes from: the CPU wheels by default; for CUDA e.g.
#                    --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 (and run with --gpus all);
#                    empty: from the pip configuration like every other requirement
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_CERT  optional pip configuration for the build
#                    (a package mirror; a CA bundle path inside the base image for a TLS-intercepting proxy)
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_CERT
WORKDIR /srv/twinscope
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TWINSCOPE_VENV=/opt/venv TWINSCOPE_CACHE_DIR=/data/cache TWINSCOPE_DATA_DIR=/data/data
COPY requirements.txt ./
COPY scripts/docker_steps.sh scripts/
RUN bash scripts/docker_steps.sh install
COPY . .
VOLUME ["/data"]
EXPOSE 8050
# Workers share the key generated once in /data/cache/secret_key; or set -e TWINSCOPE_SECRET_KEY=...
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD /opt/venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8050/health', timeout=4)"
CMD ["bash", "scripts/docker_steps.sh", "start"]
