"""docker/build-push-action v7.3.0, the part our workflows use (see action.yml next to this)."""

import json
import os
import subprocess
import sys

env = os.environ


def lines(name: str) -> list[str]:
    return [x.strip() for x in env[name].replace(",", "\n").splitlines() if x.strip()] \
        if name == "INPUT_TAGS" else [x.strip() for x in env[name].splitlines() if x.strip()]


tags = lines("INPUT_TAGS")
cmd = ["docker", "build", env["INPUT_CONTEXT"] or "."]
if env["INPUT_FILE"]:
    cmd += ["--file", env["INPUT_FILE"]]
for tag in tags:
    cmd += ["--tag", tag]
for label in lines("INPUT_LABELS"):
    cmd += ["--label", label]
for arg in lines("INPUT_BUILD_ARGS"):
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
