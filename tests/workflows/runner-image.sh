#!/usr/bin/env bash
# Build the runner image the workflow harness runs jobs in (default tag act-runner:local) where
# ../shared/tools/act-runner-image is not around, e.g. in .github/workflows/ci.yml: Python 3.11
# (what our workflows' `python3` steps need), git, gh, curl, jq and the Docker CLI, as on
# GitHub's ubuntu-latest. The stand-in actions are composite, so no Node is needed.
#   tests/workflows/runner-image.sh [TAG]
set -euo pipefail
tag=${1:-${ACT_RUNNER_IMAGE:-act-runner:local}}
if docker image inspect "$tag" >/dev/null 2>&1; then echo "runner-image: $tag present"; exit 0; fi
docker build -q -t "$tag" - <<'DOCKERFILE'
FROM python:3.11-slim
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends git gh curl ca-certificates docker.io jq >/dev/null \
 && rm -rf /var/lib/apt/lists/*
DOCKERFILE
echo "runner-image: built $tag"
