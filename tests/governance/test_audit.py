"""`uv audit` (the CI dependency audit) against a fake OSV service serving a cached database:
offline, and it fails when a locked version is affected or the service cannot answer."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_osv import FakeOSV, affects

PROJECT = Path(__file__).resolve().parents[2]
DATABASE = Path(__file__).resolve().parent / "osv_db"
AUDIT = ["uv", "audit", "--frozen", "--preview-features", "audit-command"]
# A project whose lock pins jinja2 3.1.4, inside GHSA-q2x7-8rv6-6q7h's range (3.0.0 to 3.1.5).
OLD_LOCK = """version = 1
revision = 3
requires-python = ">=3.11"

[[package]]
name = "demo"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "jinja2" }]

[package.metadata]
requires-dist = [{ name = "jinja2", specifier = "==3.1.4" }]

[[package]]
name = "jinja2"
version = "3.1.4"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "markupsafe" }]

[[package]]
name = "markupsafe"
version = "3.0.2"
source = { registry = "https://pypi.org/simple" }
"""

pytestmark = pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv on PATH")


@pytest.fixture
def osv() -> Iterator[tuple[FakeOSV, str]]:
    fake = FakeOSV(DATABASE)
    url = fake.start()
    yield fake, url
    fake.stop()


def audit(project: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_") or k == "UV_CACHE_DIR"}
    return subprocess.run([*AUDIT, "--service-url", url], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def old_project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["jinja2==3.1.4"]\n')
    (tmp_path / "uv.lock").write_text(OLD_LOCK)
    return tmp_path


def test_fake_osv_matches_ranges_like_osv():
    record = {"affected": [{"package": {"ecosystem": "PyPI", "name": "Jinja2"},
                            "ranges": [{"type": "ECOSYSTEM",
                                        "events": [{"introduced": "3.0.0"}, {"fixed": "3.1.5"}]}]}]}
    assert [affects(record, "jinja2", v) for v in ("2.11.3", "3.0.0", "3.1.4", "3.1.5")] == [
        False, True, True, False]


def test_audit_passes_on_this_projects_lock(osv):
    fake, url = osv
    done = audit(PROJECT, url)
    assert done.returncode == 0, done.stdout + done.stderr
    locked = (PROJECT / "uv.lock").read_text().count("[[package]]")
    assert fake.queries >= locked - 1          # every locked package but the project itself
    assert "Found no known vulnerabilities" in done.stdout + done.stderr


def test_audit_fails_on_an_affected_locked_version(osv, old_project):
    _, url = osv
    done = audit(old_project, url)
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert "jinja2 3.1.4 has 1 known vulnerability" in out
    assert "- GHSA-q2x7-8rv6-6q7h: Jinja has a sandbox breakout through malicious filenames" in out
    assert "Fixed in: 3.1.5" in out


def test_audit_fails_when_the_service_cannot_answer(osv):
    fake, url = osv
    fake.fail_with = 500
    done = audit(PROJECT, url)
    assert done.returncode == 2
    assert "500 Internal Server Error" in done.stderr
