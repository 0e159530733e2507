"""actions/upload-artifact v7.0.0, the part our workflows use (see action.yml next to this file)."""

import io
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

env = os.environ
paths = [Path(p.strip()) for p in env["INPUT_PATH"].splitlines() if p.strip()]
hidden = env["INPUT_INCLUDE_HIDDEN_FILES"].lower() == "true"
files: list[Path] = []
for p in paths:
    p = p if p.is_absolute() else Path(env["GITHUB_WORKSPACE"]) / p
    candidates = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else (
        [p] if p.is_file() else [])
    files += [q for q in candidates
              if hidden or not any(part.startswith(".") for part in q.relative_to(
                  p if p.is_dir() else p.parent).parts)]
if not files:
    message = f"No files were found with the provided path: {env['INPUT_PATH'].strip()}. " \
              "No artifacts will be uploaded."
    mode = env["INPUT_IF_NO_FILES_FOUND"]
    if mode == "error":
        sys.exit(f"::error::{message}")
    print(f"::warning::{message}" if mode == "warn" else message)
    sys.exit(0)
roots = [p if p.is_absolute() else Path(env["GITHUB_WORKSPACE"]) / p for p in paths]
roots = [r if r.is_dir() else r.parent for r in roots]
root = Path(os.path.commonpath([str(r) for r in roots]))
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
    for f in files:
        zf.write(f, f.relative_to(root).as_posix())
event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
head_sha = ((event.get("pull_request") or {}).get("head") or {}).get("sha") or env["GITHUB_SHA"]
query = urllib.parse.urlencode({"repo": env["GITHUB_REPOSITORY"], "run_id": env["GITHUB_RUN_ID"],
                                "sha": head_sha, "name": env["INPUT_NAME"]})
req = urllib.request.Request(f"{env['GITHUB_API_URL']}/_runner/artifacts?{query}",
                             data=buf.getvalue(), method="POST",
                             headers={"Authorization": f"Bearer {env['ACTIONS_RUNTIME_TOKEN']}"})
try:
    answer = json.loads(urllib.request.urlopen(req).read())
except urllib.error.HTTPError as exc:
    sys.exit(f"::error::Failed to upload artifact {env['INPUT_NAME']}: {exc.code} "
             f"{exc.read().decode()}")
print(f"upload-artifact: {env['INPUT_NAME']}: {len(files)} files from {root}")
with open(env["GITHUB_OUTPUT"], "a") as fh:
    fh.write(f"artifact-id={answer.get('id', '')}\n")
