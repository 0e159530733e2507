"""A fake of the OSV API (https://osv.dev) serving a cached advisory database, for `uv audit`.

`uv audit --service-url URL` asks POST {URL}/v1/querybatch, then GET {URL}/v1/vulns/{id} for each
hit. Both follow the documented API: https://google.github.io/osv.dev/post-v1-querybatch/ (a
result per query, `{}` when nothing matches, else `{"vulns": [{"id", "modified"}]}`) and
https://google.github.io/osv.dev/get-v1-vulns/ (the full record; 404 for an unknown id). The
database is a directory of OSV records (https://ossf.github.io/osv-schema/), matched the way OSV
does for PyPI: an explicit `versions` list, or ECOSYSTEM `ranges` with `introduced`/`fixed`
events compared as PEP 440 versions. `fail_with` makes every call answer that HTTP status.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from loopback_http import LoopbackServer
from packaging.utils import canonicalize_name
from packaging.version import Version


def affects(record: dict[str, Any], name: str, version: str) -> bool:
    for affected in record.get("affected", []):
        pkg = affected.get("package", {})
        if pkg.get("ecosystem") != "PyPI" or canonicalize_name(pkg.get("name", "")) != \
                canonicalize_name(name):
            continue
        if version in affected.get("versions", []):
            return True
        v = Version(version)
        for rng in affected.get("ranges", []):
            if rng.get("type") != "ECOSYSTEM":
                continue
            inside = False
            for event in rng.get("events", []):   # events are sorted; OSV schema, "ranges"
                if "introduced" in event:
                    inside = event["introduced"] == "0" or v >= Version(event["introduced"])
                elif "fixed" in event and v >= Version(event["fixed"]):
                    inside = False
            if inside:
                return True
    return False


class FakeOSV(LoopbackServer):
    """An OSV service over the records in `database` (one JSON file per advisory)."""

    def __init__(self, database: Path) -> None:
        self.records = {r["id"]: r for r in
                        (json.loads(p.read_text()) for p in sorted(database.glob("*.json")))}
        self.fail_with: int | None = None
        self.queries = 0

    def querybatch(self, body: dict[str, Any]) -> dict[str, Any]:
        results = []
        for query in body.get("queries", []):
            self.queries += 1
            name, version = query["package"]["name"], query["version"]
            hits = [{"id": r["id"], "modified": r["modified"]} for r in self.records.values()
                    if affects(r, name, version)]
            results.append({"vulns": hits} if hits else {})
        return {"results": results}

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, doc: Any) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if fake.fail_with:
                    self._send(fake.fail_with, {"code": 13, "message": "internal error"})
                elif self.path == "/v1/querybatch":
                    self._send(200, fake.querybatch(body))
                else:
                    self._send(404, {"code": 5, "message": "Not Found"})

            def do_GET(self) -> None:
                vuln_id = self.path.removeprefix("/v1/vulns/")
                if fake.fail_with:
                    self._send(fake.fail_with, {"code": 13, "message": "internal error"})
                elif self.path.startswith("/v1/vulns/") and vuln_id in fake.records:
                    self._send(200, fake.records[vuln_id])
                else:
                    self._send(404, {"code": 5, "message": "Bug not found."})

            def log_message(self, *args: Any) -> None:
                pass

        return self.serve(Handler)
