# NF-Core's Conductor as a container: `nfcore serve` on a compiled forest image.
# Build:  docker build -t nfcore-serve .
# Run:    docker run -p 8000:8000 -v $PWD/model:/srv/nfcore/model:ro \
#                    -v nfcore-audit:/var/lib/nfcore nfcore-serve
# /srv/nfcore/model holds what `nfcore compile` needs beside it: image/ (the compiled image),
# forest/ (the forest it was compiled from: the router and stem run on the host) and
# config.yaml (the hardware config it was compiled for). Arguments after the image name
# replace CMD (e.g. other paths or --backend sim). docs/deploy.md says more, and that this
# file was not built on the development machines (no Docker daemon there).
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# The CPU build of the torch that pyproject.toml pins (tests/deploy checks that they are
# equal); the registry's default build would add about 4 GB of CUDA libraries.
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu

# An editable install: the default config (configs/) and the sourced tables
# (nfcore/sim/tables/) are read from the source tree.
WORKDIR /app
COPY pyproject.toml README.md ./
COPY configs ./configs
COPY forest ./forest
COPY nfcore ./nfcore
RUN pip install -e .

# Not root: the server only reads the model and appends to its audit log.
RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent nfcore \
    && mkdir -p /srv/nfcore/model /var/lib/nfcore \
    && chown nfcore /var/lib/nfcore
USER 10001
VOLUME ["/var/lib/nfcore"]

EXPOSE 8000
# /healthz answers 200 once the image is loaded and checked, 503 when the server cannot
# serve (e.g. its audit log cannot be written); urlopen raises on anything but 2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["nfcore", "serve"]
CMD ["--config", "/srv/nfcore/model/config.yaml", "--image", "/srv/nfcore/model/image", "--forest", "/srv/nfcore/model/forest", "--backend", "golden", "--audit", "/var/lib/nfcore/audit.jsonl", "--host", "0.0.0.0", "--port", "8000", "--quiet"]
