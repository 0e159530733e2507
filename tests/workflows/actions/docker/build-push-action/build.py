"""docker/build-push-action v7.3.0, the part our workflows use (see action.yml next to this)."""

import json
import os
import re
import subprocess
import sys

env = os.environ


def lines(name: str) -> list[str]:
    return [x.strip() for x in env[name].replace(",", "\n").splitlines() if x.strip()] \
        if name == "INPUT_TAGS" else [x.strip() for x in env[name].splitlines() if x.strip()]


def offline_base_images(dockerfile: str, given: list[str]) -> list[str]:
    """Docker Hub is out of reach from this machine: a base image pinned by digest in an
    `ARG NAME=image:tag@sha256:...` default, and absent from the local image store, is replaced
    by the local image of the same tag (as tests/serve/test_container.py builds), with a notice.
    A build arg the workflow sets itself is left alone."""
    out = []
    try:
        with open(dockerfile) as fh:
            text = fh.read()
    except OSError:
        return out
    for name, image, _digest in re.findall(r"^ARG\s+(\w+)=(\S+?)@(sha256:[0-9a-f]{64})\s*$",
                                            text, re.M):
        if any(arg.startswith(f"{name}=") for arg in given):
            continue
        pinned = f"{image}@{_digest}"
        present = subprocess.run(["docker", "image", "inspect", pinned],
                                 capture_output=True).returncode == 0
        if not present and subprocess.run(["docker", "image", "inspect", image],
                                          capture_output=True).returncode == 0:
            print(f"::notice::stand-in: {pinned} is on Docker Hub (unreachable offline); "
                  f"building on the local {image}")
            out.append(f"{name}={image}")
    return out


tags = lines("INPUT_TAGS")
context = env["INPUT_CONTEXT"] or "."
cmd = ["docker", "build", context]
if env["INPUT_FILE"]:
    cmd += ["--file", env["INPUT_FILE"]]
build_args = lines("INPUT_BUILD_ARGS")
build_args += offline_base_images(env["INPUT_FILE"] or os.path.join(context, "Dockerfile"),
                                  build_args)
for tag in tags:
    cmd += ["--tag", tag]
for label in lines("INPUT_LABELS"):
    cmd += ["--label", label]
for arg in build_args:
    cmd += ["--build-arg", arg]
iidfile = os.path.join(env["RUNNER_TEMP"], "iidfile")
cmd += ["--iidfile", iidfile]
if subprocess.run(cmd, env={**env, "DOCKER_BUILDKIT": "1"}).returncode != 0:
    sys.exit("::error::buildx failed with: ERROR: failed to build")
with open(iidfile) as fh:
    imageid = fh.read().strip()
digest = ""
if env["INPUT_PUSH"].lower() == "true":
    if env["INPUT_PROVENANCE"] not in ("", "false") or env["INPUT_SBOM"] not in ("", "false"):
        print("::notice::stand-in: provenance/SBOM attestation manifests need buildx's "
              "docker-container builder (not available offline); pushing the image without them")
    for tag in tags:
        if subprocess.run(["docker", "push", "--quiet", tag]).returncode != 0:
            sys.exit(f"::error::failed to push {tag}")
    repo_digests = json.loads(subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", imageid],
        capture_output=True, text=True, check=True).stdout)
    names = {t.rsplit(":", 1)[0] for t in tags}
    digest = next((d.split("@", 1)[1] for d in repo_digests if d.split("@", 1)[0] in names), "")
    if not digest:
        sys.exit(f"::error::no pushed digest for {imageid}")
with open(env["GITHUB_OUTPUT"], "a") as fh:
    fh.write(f"imageid={imageid}\ndigest={digest}\n")
    fh.write("metadata=" + json.dumps({"containerimage.config.digest": imageid,
                                      "containerimage.digest": digest,
                                      "image.name": ",".join(tags)}) + "\n")
print(f"build-push: {imageid} {('pushed ' + digest) if digest else '(not pushed)'}")
