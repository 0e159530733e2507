#!/usr/bin/env bash
# The deploy hook. promote.yml runs it inside the GitHub Environment named after the stage:
#
#   deploy/deploy.sh STAGE VERSION IMAGE     # e.g. prod v1.2.0 ghcr.io/owner/repo@sha256:...
#
# Default (GitOps): write deploy/overlays/STAGE/release.yaml, which pins IMAGE by digest, and
# commit it; the workflow pushes the commit and Argo CD or Flux, watching deploy/overlays/STAGE,
# rolls it out. To deploy another way, replace the last line, for example with
#   kubectl apply -k "deploy/overlays/$stage"      (after the render, without --commit)
# or a call to your platform's API. Whatever it runs must exit non-zero when the deploy fails.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 STAGE VERSION IMAGE" >&2
  exit 2
fi
stage=$1 version=$2 image=$3

uv run --frozen --no-default-groups python -m pipelines.deploy --stage "$stage" --version "$version" \
  --image "$image" --commit
