"""actions/download-artifact v8.0.1, the part our workflows use (see action.yml next to it)."""

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
# another run's artifacts need the token (README: "github-token ... required if run-id is
# specified"); this run's come from the runner's own service (ACTIONS_RUNTIME_TOKEN)
token = env["INPUT_GITHUB_TOKEN"] or env["ACTIONS_RUNTIME_TOKEN"]
api = f"{env['GITHUB_API_URL']}/repos/{env['INPUT_REPOSITORY']}"


def get(url: str) -> bytes:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        return urllib.request.urlopen(req).read()
    except urllib.error.HTTPError as exc:
        sys.exit(f"::error::{url}: {exc.code} {exc.read().decode()[:300]}")


name = env["INPUT_NAME"]
listed = json.loads(get(f"{api}/actions/runs/{env['INPUT_RUN_ID']}/artifacts?"
                        + urllib.parse.urlencode({"name": name})))["artifacts"]
if not listed:
    sys.exit(f"::error::Unable to download artifact(s): Artifact not found for name: {name}")
dest = Path(env["INPUT_PATH"] or env["GITHUB_WORKSPACE"]).expanduser()
if not dest.is_absolute():
    dest = Path(env["GITHUB_WORKSPACE"]) / dest
dest.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(io.BytesIO(get(f"{api}/actions/artifacts/{listed[0]['id']}/zip"))) as zf:
    for info in zf.infolist():
        target = (dest / info.filename).resolve()
        if not target.is_relative_to(dest.resolve()):
            sys.exit(f"::error::Refusing to extract {info.filename!r} outside {dest}")
    zf.extractall(dest)
print(f"download-artifact: {name} -> {dest}")
with open(env["GITHUB_OUTPUT"], "a") as fh:
    fh.write(f"download-path={dest}\n")
