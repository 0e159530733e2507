"""docker/metadata-action v6.2.0, the part our workflows use (see action.yml next to this)."""

import datetime as dt
import json
import os
import uuid
from pathlib import Path

env = os.environ
event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
repo = event.get("repository") or {}
default_ref = f"refs/heads/{repo.get('default_branch', '')}"


def attrs(line: str) -> dict[str, str]:
    out = {}
    for part in line.split(","):
        key, _, value = part.strip().partition("=")
        out[key] = value
    return out


def enabled(value: str) -> bool:
    value = value.strip().replace("{{is_default_branch}}",
                                  str(env.get("GITHUB_REF") == default_ref).lower())
    return value.lower() != "false"


images = [i.strip() for i in env["INPUT_IMAGES"].replace(",", "\n").splitlines() if i.strip()]
tags: list[str] = []
for line in filter(None, (x.strip() for x in env["INPUT_TAGS"].splitlines())):
    a = attrs(line)
    if not enabled(a.get("enable", "true")):
        continue
    if a["type"] == "sha":
        sha = env["GITHUB_SHA"] if a.get("format") == "long" else env["GITHUB_SHA"][:7]
        value = f"{a.get('prefix', 'sha-')}{sha}{a.get('suffix', '')}"
    elif a["type"] == "raw":
        value = f"{a.get('prefix', '')}{a['value']}{a.get('suffix', '')}"
    else:
        raise SystemExit(f"::error::stand-in: tag type {a['type']} not implemented")
    if value and value not in tags:
        tags.append(value)
version = next((t for t in tags if not t.startswith("sha-")), tags[0] if tags else "")
server = env["GITHUB_SERVER_URL"]
labels = {
    "org.opencontainers.image.title": repo.get("name", ""),
    "org.opencontainers.image.description": repo.get("description") or "",
    "org.opencontainers.image.url": f"{server}/{env['GITHUB_REPOSITORY']}",
    "org.opencontainers.image.source": f"{server}/{env['GITHUB_REPOSITORY']}",
    "org.opencontainers.image.version": version,
    "org.opencontainers.image.created": dt.datetime.now(dt.UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"),
    "org.opencontainers.image.revision": env["GITHUB_SHA"],
    "org.opencontainers.image.licenses": ((repo.get("license") or {}).get("spdx_id") or ""),
}
for line in filter(None, (x.strip() for x in env["INPUT_LABELS"].splitlines())):
    key, _, value = line.partition("=")
    labels[key.strip()] = value.strip()
full = [f"{image}:{tag}" for image in images for tag in tags]


def multiline(name: str, values: list[str]) -> str:
    mark = f"ghadelimiter_{uuid.uuid4()}"
    return f"{name}<<{mark}\n" + "\n".join(values) + f"\n{mark}\n"


with open(env["GITHUB_OUTPUT"], "a") as fh:
    fh.write(f"version={version}\n")
    fh.write(multiline("tags", full))
    fh.write(multiline("labels", [f"{k}={v}" for k, v in labels.items()]))
    fh.write(f"json={json.dumps({'tags': full, 'labels': labels})}\n")
print("metadata: tags " + " ".join(full))
