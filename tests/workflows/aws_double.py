#!/usr/bin/env python3
"""`aws ec2 describe-instances` and `aws ec2 terminate-instances` against the harness's stand-in
cloud (the folder the setup-cml stand-in's `cml runner launch` writes instances to), as the AWS
CLI v2 preinstalled on GitHub's ubuntu-latest images answers them. Only what pipelines/runner.py
runs is modelled; any other command, option, query or output format is refused, never ignored.

Followed: https://docs.aws.amazon.com/cli/latest/reference/ec2/describe-instances.html
(`--filters Name=...,Values=a,b` repeated, ANDed; `tag:KEY` and `instance-state-name` filters;
`--query` JMESPath; `--output text` prints the values tab-separated),
https://docs.aws.amazon.com/cli/latest/reference/ec2/terminate-instances.html (an instance
becomes `shutting-down`, then `terminated`; an unknown ID is InvalidInstanceID.NotFound), and
https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html (credentials from
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_ROLE_ARN/AWS_WEB_IDENTITY_TOKEN_FILE; a region
from AWS_REGION or AWS_DEFAULT_REGION). Exit 253 and the CLI's messages when either is missing,
254 for a service error, 252 for a usage error.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

CLOUD = Path(os.environ.get("FAKE_CLOUD_DIR", "/opt/fake-cloud"))
QUERY = "Reservations[].Instances[].InstanceId"
# CML's generic regions, as the iterative Terraform provider maps them for AWS
# (https://registry.terraform.io/providers/iterative/iterative/latest/docs/resources/task#cloud-regions)
GENERIC_REGIONS = {"us-west": "us-west-1", "us-east": "us-east-1", "eu-west": "eu-west-1",
                   "eu-north": "eu-north-1"}


def usage(message: str) -> None:
    print(f"aws: error: {message}", file=sys.stderr)
    sys.exit(252)


def credentials_and_region() -> str:
    env = os.environ
    keys = env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")
    identity = env.get("AWS_ROLE_ARN") and env.get("AWS_WEB_IDENTITY_TOKEN_FILE")
    if identity and not Path(env["AWS_WEB_IDENTITY_TOKEN_FILE"]).is_file():
        identity = None
    if not (keys or identity):
        print('Unable to locate credentials. You can configure credentials by running '
              '"aws configure".', file=sys.stderr)
        sys.exit(253)
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        print('You must specify a region. You can also configure your region by running '
              '"aws configure".', file=sys.stderr)
        sys.exit(253)
    return region


def instances(region: str) -> list[tuple[Path, dict]]:
    found = []
    for path in sorted(CLOUD.glob("i-*.json")) if CLOUD.is_dir() else []:
        record = json.loads(path.read_text())
        if record["cloud"] == "aws" and \
                GENERIC_REGIONS.get(record["region"], record["region"]) == region:
            found.append((path, record))
    return found


def options(argv: list[str], known: dict[str, bool]) -> dict[str, list[str]]:
    """--name value... pairs; `known` says which options take several values."""
    out: dict[str, list[str]] = {}
    i = 0
    while i < len(argv):
        name = argv[i]
        if name not in known:
            usage(f"Unknown options: {name}")
        values = []
        i += 1
        while i < len(argv) and not argv[i].startswith("--"):
            values.append(argv[i])
            i += 1
            if not known[name]:
                break
        if not values:
            usage(f"argument {name}: expected one argument")
        out.setdefault(name, []).extend(values)
    return out


def describe(argv: list[str], region: str) -> int:
    opts = options(argv, {"--filters": True, "--query": False, "--output": False})
    if opts.get("--query") != [QUERY] or opts.get("--output") != ["text"]:
        usage(f"the double answers only --query {QUERY} --output text")
    wanted = []
    for spec in opts.get("--filters", []):
        parts = dict(part.split("=", 1) for part in spec.split(",", 1) if "=" in part)
        if set(parts) != {"Name", "Values"}:
            usage(f"--filters {spec}: expected Name=NAME,Values=V1,V2")
        wanted.append((parts["Name"], set(parts["Values"].split(","))))
    ids = []
    for _, record in instances(region):
        ok = True
        for name, values in wanted:
            if name.startswith("tag:"):
                ok &= record["tags"].get(name.removeprefix("tag:")) in values
            elif name == "instance-state-name":
                ok &= record["state"] in values
            else:
                usage(f"--filters Name={name}: not modelled by the double")
        if ok:
            ids.append(record["id"])
    print("\t".join(ids))
    return 0


def terminate(argv: list[str], region: str) -> int:
    opts = options(argv, {"--instance-ids": True})
    ids = opts.get("--instance-ids", [])
    if not ids:
        usage("the following arguments are required: --instance-ids")
    known = {record["id"]: (path, record) for path, record in instances(region)}
    missing = [i for i in ids if i not in known]
    if missing:
        print(f"An error occurred (InvalidInstanceID.NotFound) when calling the "
              f"TerminateInstances operation: The instance ID '{missing[0]}' does not exist",
              file=sys.stderr)
        return 254
    changes = []
    for i in ids:
        path, record = known[i]
        before = record["state"]
        record["state"] = "terminated"
        path.write_text(json.dumps(record))
        changes.append({"InstanceId": i, "PreviousState": {"Name": before},
                        "CurrentState": {"Name": "shutting-down"}})
    print(json.dumps({"TerminatingInstances": changes}, indent=4))
    return 0


def main(argv: list[str]) -> int:
    if argv[:2] == ["ec2", "describe-instances"]:
        return describe(argv[2:], credentials_and_region())
    if argv[:2] == ["ec2", "terminate-instances"]:
        return terminate(argv[2:], credentials_and_region())
    usage(f"the double models `aws ec2 describe-instances|terminate-instances` only, "
          f"not `aws {' '.join(argv[:2])}`")
    return 252


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
