# The serving image: ONNX Runtime + FastAPI and the model, nothing from the training stack.
# Build after `dvc repro` (it copies models/model.onnx and models/model.json):
#   docker build --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg VERSION="$(python -m pipelines.image version | cut -d= -f2)" -t gitops-ml .
# The base image, pinned by digest in this one place (both stages use it). Dependabot's docker
# updater does not read ARG defaults (dependabot-core#2057): bump the digest with the tag, e.g.
# `docker buildx imagetools inspect python:3.11-slim`. Offline builds pass a local image:
#   --build-arg PYTHON_IMAGE=python:3.11-slim
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
COPY .ci/uv-requirements.txt /tmp/uv-requirements.txt
RUN pip install --no-cache-dir --require-hashes -r /tmp/uv-requirements.txt
WORKDIR /src
# Dependencies first, from the lock file: this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-default-groups --no-install-project
COPY README.md ./
COPY src ./src
RUN uv build --wheel --out-dir /tmp/dist \
    && uv pip install --python /opt/venv/bin/python --no-deps /tmp/dist/*.whl
# Only what serving runs (the image's layers above the base stay under 120 MB): the ONNX Runtime
# wheel ships its C library a second time for C API users (the Python extension does not load
# it: no DT_NEEDED entry) plus model-conversion tools; numpy ships its tests, f2py and distutils;
# uvloop's extension carries 12 MB of debug symbols. tests/serve/test_container.py runs the
# smoke test and schemathesis against this image.
WORKDIR /opt/venv/lib/python3.11/site-packages
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends binutils \
    && rm -rf onnxruntime/capi/libonnxruntime.so.* onnxruntime/transformers onnxruntime/tools \
       onnxruntime/quantization onnxruntime/datasets numpy/f2py numpy/distutils numpy/tests \
       numpy/*/tests numpy/_core/include numpy/_pyinstaller \
    && find . -name "*.pyi" -delete \
    && find . -name "*.so" -path "*uvloop*" -exec strip --strip-unneeded {} + \
    && find . -name "*.so" -path "*httptools*" -exec strip --strip-unneeded {} +

FROM ${PYTHON_IMAGE} AS runtime
ARG SOURCE=""
ARG REVISION=""
ARG VERSION=""
LABEL org.opencontainers.image.title="gitops-ml model server" \
      org.opencontainers.image.description="ONNX model served over HTTP (Open Inference Protocol v2 and /predict)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
COPY models/model.onnx models/model.json /srv/model/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GITOPS_ML_MODEL_DIR=/srv/model \
    GITOPS_ML_HOST=0.0.0.0 \
    GITOPS_ML_PORT=8080
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-m", "gitops_ml.serve.healthcheck"]
# Exec form: python is PID 1 and gets SIGTERM itself; uvicorn drains and the process exits 0.
CMD ["gitops-ml", "serve"]
