"""The `aws` double answers pipelines/runner.py's teardown as the AWS CLI would, unhappy paths
first: no credentials or region, an option it does not model, an unknown instance."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

AWS = Path(__file__).resolve().parent / "aws_double.py"
DESCRIBE = ["ec2", "describe-instances", "--filters", "Name=tag:gitops-ml-run,Values=cml-7-1",
            "Name=instance-state-name,Values=pending,running,stopping,stopped",
            "--query", "Reservations[].Instances[].InstanceId", "--output", "text"]


@pytest.fixture
def cloud(tmp_path: Path) -> Path:
    folder = tmp_path / "cloud"
    folder.mkdir()
    for ident, label, region in (("i-1", "cml-7-1", "us-east-1"), ("i-2", "cml-8-1", "us-east-1"),
                                 ("i-3", "cml-7-1", "eu-west-1")):
        (folder / f"{ident}.json").write_text(json.dumps(
            {"id": ident, "cloud": "aws", "region": region, "state": "running",
             "tags": {"gitops-ml-run": label}}))
    return folder


def aws(cloud: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    identity = cloud.parent / "token"
    identity.write_text("jwt")
    base = {"PATH": os.environ["PATH"], "FAKE_CLOUD_DIR": str(cloud), "AWS_REGION": "us-east-1",
            "AWS_ROLE_ARN": "arn:aws:iam::1:role/r", "AWS_WEB_IDENTITY_TOKEN_FILE": str(identity)}
    return subprocess.run(["python3", str(AWS), *argv], capture_output=True, text=True,
                          env={**base, **env}, check=False)


def test_aws_double_needs_credentials_and_a_region(cloud: Path) -> None:
    done = aws(cloud, *DESCRIBE, AWS_ROLE_ARN="")
    assert done.returncode == 253 and "Unable to locate credentials" in done.stderr
    done = aws(cloud, *DESCRIBE, AWS_REGION="")
    assert done.returncode == 253 and "You must specify a region" in done.stderr


def test_aws_double_refuses_what_it_does_not_model(cloud: Path) -> None:
    assert aws(cloud, *DESCRIBE, "--dry-run").returncode == 252
    assert aws(cloud, "ec2", "describe-instances", "--output", "json").returncode == 252
    assert aws(cloud, "s3", "ls").returncode == 252


def test_aws_double_describes_by_tag_state_and_region_and_terminates(cloud: Path) -> None:
    found = aws(cloud, *DESCRIBE)
    assert (found.returncode, found.stdout) == (0, "i-1\n")
    missing = aws(cloud, "ec2", "terminate-instances", "--instance-ids", "i-3")   # other region
    assert missing.returncode == 254 and "InvalidInstanceID.NotFound" in missing.stderr
    done = aws(cloud, "ec2", "terminate-instances", "--instance-ids", "i-1")
    assert done.returncode == 0
    assert json.loads((cloud / "i-1.json").read_text())["state"] == "terminated"
    assert aws(cloud, *DESCRIBE).stdout == "\n"          # terminated: no longer listed
