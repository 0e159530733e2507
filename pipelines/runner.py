"""Where the reproduce job runs, chosen by the repository variable TRAIN_RUNNER.

    python -m pipelines.runner select      # writes runs-on, launch, label, timeout, ...
                                           # to $GITHUB_OUTPUT (and prints them)
    python -m pipelines.runner launch      # `cml runner launch ...` for the selected cloud
    python -m pipelines.runner teardown    # terminate this run's cloud instance(s), if any

TRAIN_RUNNER is JSON (unset or empty: the GitHub-hosted `ubuntu-latest`):
    {"kind": "github", "label": "ubuntu-latest-8-cores"}     a larger GitHub-hosted runner
    {"kind": "self-hosted", "labels": ["linux", "gpu"]}      your own runners
    {"kind": "cml", "cloud": "aws", "type": "g4dn.xlarge",   an ephemeral cloud runner started
     "region": "us-east-1", "spot": true, "idle_timeout": 300,   by `cml runner launch` for
     "max_minutes": 60, "hdd_size": 50, "gpu": "nogpu"}      this run only, then terminated
A pull request from a fork always gets `ubuntu-latest`: GitHub runs fork code on whatever runner
the job names, and a self-hosted or cloud runner would hand it our machines and credentials.
Cost guards for `cml`: spot unless {"spot": false}, a single job per instance (--single), an
idle timeout, a hard limit (`max_minutes`: the job's timeout and an instance-side shutdown), and
a teardown job that runs even when the job fails or is cancelled.
https://cml.dev/doc/ref/runner
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

HOSTED = "ubuntu-latest"
KINDS = ("github", "self-hosted", "cml")
CLOUDS = ("aws", "gcp", "azure", "kubernetes")
# Instance tag/label naming the workflow run, so teardown finds exactly this run's machines.
RUN_TAG = "gitops-ml-run"
DEFAULT_MAX_MINUTES = 60
DEFAULT_IDLE_TIMEOUT = 300


class SettingError(ValueError):
    """TRAIN_RUNNER is not a valid setting; the message names the field."""


@dataclass(frozen=True)
class Choice:
    """What the workflow needs: the job's runs-on labels, and how to start and stop a runner."""

    runs_on: list[str]
    timeout_minutes: int
    launch: bool = False
    label: str = ""
    cloud: dict[str, object] = field(default_factory=dict)
    reason: str = ""


def _positive_int(raw: Mapping[str, object], key: str, default: int, low: int = 1) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise SettingError(f"TRAIN_RUNNER.{key}: must be an integer >= {low}, got {value!r}")
    return value


def _label(value: object, key: str) -> str:
    # GitHub runner labels: no spaces or commas (commas separate labels for `cml --labels`).
    if not isinstance(value, str) or not value or any(c in value for c in " ,\t\n"):
        raise SettingError(f"TRAIN_RUNNER.{key}: must be a runner label (no spaces or commas), "
                           f"got {value!r}")
    return value


def parse(setting: str) -> dict[str, object]:
    """The variable's JSON object; empty means the default runner."""
    if not setting.strip():
        return {"kind": "github"}
    try:
        raw = json.loads(setting)
    except json.JSONDecodeError as exc:
        raise SettingError(f"TRAIN_RUNNER: not valid JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(raw, dict):
        raise SettingError("TRAIN_RUNNER: must be a JSON object such as {\"kind\": \"github\"}")
    if raw.get("kind") not in KINDS:
        raise SettingError(f"TRAIN_RUNNER.kind: must be one of {', '.join(KINDS)}, "
                           f"got {raw.get('kind')!r}")
    return raw


def select(setting: str, *, is_fork: bool, run_id: str, run_attempt: str) -> Choice:
    """Pure decision from the variable and the event; raises SettingError on a bad setting."""
    raw = parse(setting)   # validated even for forks: a typo should fail on every PR alike
    kind = raw["kind"]
    max_minutes = _positive_int(raw, "max_minutes", DEFAULT_MAX_MINUTES)
    if kind == "github":
        allowed = {"kind", "label", "max_minutes"}
        runs_on = [_label(raw.get("label", HOSTED), "label")]
    elif kind == "self-hosted":
        allowed = {"kind", "labels", "max_minutes"}
        labels = raw.get("labels")
        if not isinstance(labels, list) or not labels:
            raise SettingError("TRAIN_RUNNER.labels: must be a non-empty list of runner labels")
        runs_on = ["self-hosted", *(_label(v, "labels") for v in labels if v != "self-hosted")]
    else:
        allowed = {"kind", "cloud", "type", "region", "spot", "spot_price", "idle_timeout",
                   "max_minutes", "hdd_size", "gpu", "permission_set"}
        cloud = _cml_options(raw)
        label = f"cml-{run_id}-{run_attempt}"
        runs_on = ["self-hosted", label]
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise SettingError(f"TRAIN_RUNNER.{unknown[0]}: not a setting of kind {kind!r} "
                           f"(allowed: {', '.join(sorted(allowed))})")
    if is_fork:
        return Choice([HOSTED], min(max_minutes, DEFAULT_MAX_MINUTES),
                      reason="pull request from a fork: GitHub-hosted runner, no credentials")
    if kind == "cml":
        return Choice(runs_on, max_minutes, launch=True, label=label, cloud=cloud,
                      reason=f"ephemeral {cloud['cloud']} runner {cloud['type']}")
    return Choice(runs_on, max_minutes, reason=f"{kind} runner")


def _cml_options(raw: Mapping[str, object]) -> dict[str, object]:
    cloud = raw.get("cloud")
    if cloud not in CLOUDS:
        raise SettingError(f"TRAIN_RUNNER.cloud: must be one of {', '.join(CLOUDS)}, "
                           f"got {cloud!r}")
    out: dict[str, object] = {"cloud": cloud, "type": _label(raw.get("type"), "type")}
    for key in ("region", "gpu", "permission_set"):
        if key in raw:
            out[key] = _label(raw[key], key)
    spot = raw.get("spot", True)
    if not isinstance(spot, bool):
        raise SettingError(f"TRAIN_RUNNER.spot: must be true or false, got {spot!r}")
    out["spot"] = spot
    if "spot_price" in raw:
        price = raw["spot_price"]
        if not isinstance(price, int | float) or isinstance(price, bool) or price <= 0:
            raise SettingError(f"TRAIN_RUNNER.spot_price: must be a positive number of USD "
                               f"per hour, got {price!r}")
        out["spot_price"] = price
    out["idle_timeout"] = _positive_int(raw, "idle_timeout", DEFAULT_IDLE_TIMEOUT, low=60)
    if "hdd_size" in raw:
        out["hdd_size"] = _positive_int(raw, "hdd_size", 0)
    return out


def shutdown_script(max_minutes: int) -> str:
    """Base64 startup script: the instance powers itself off after the hard limit (+5 min for
    boot and teardown), whatever happens to the workflow or the teardown job."""
    script = f"#!/bin/sh\nshutdown -h +{max_minutes + 5}\n"
    return base64.b64encode(script.encode()).decode()


def launch_command(choice: Choice) -> list[str]:
    """`cml runner launch` arguments for a `cml` choice."""
    c = choice.cloud
    argv = ["cml", "runner", "launch", f"--cloud={c['cloud']}", f"--cloud-type={c['type']}",
            f"--labels={choice.label}", f"--name={choice.label}", "--single",
            f"--idle-timeout={c['idle_timeout']}",
            f"--cloud-metadata={RUN_TAG}={choice.label}",
            f"--cloud-startup-script={shutdown_script(choice.timeout_minutes)}"]
    if c["spot"]:
        argv.append("--cloud-spot")
        if "spot_price" in c:
            argv.append(f"--cloud-spot-price={c['spot_price']}")
    for key, flag in (("region", "--cloud-region"), ("gpu", "--cloud-gpu"),
                      ("hdd_size", "--cloud-hdd-size"),
                      ("permission_set", "--cloud-permission-set")):
        if key in c:
            argv.append(f"{flag}={c[key]}")
    return argv


def teardown_commands(cloud: str, label: str) -> list[list[str]]:
    """Commands that delete every instance tagged with this run's label (idempotent: none
    found is success). Azure and Kubernetes rely on CML's own idle timeout and --single."""
    if cloud == "aws":
        query = ["aws", "ec2", "describe-instances", "--filters",
                 f"Name=tag:{RUN_TAG},Values={label}",
                 "Name=instance-state-name,Values=pending,running,stopping,stopped",
                 "--query", "Reservations[].Instances[].InstanceId", "--output", "text"]
        return [query, ["xargs", "-r", "aws", "ec2", "terminate-instances", "--instance-ids"]]
    if cloud == "gcp":
        query = ["gcloud", "compute", "instances", "list",
                 f"--filter=labels.{RUN_TAG}={label}", "--format=value(name,zone)"]
        return [query, ["xargs", "-r", "-n", "2", "sh", "-c",
                        'gcloud compute instances delete "$0" --zone "$1" --quiet']]
    return []


def is_fork(env: Mapping[str, str]) -> bool:
    """A pull request whose head repository is not this one (both from the event, not the PR)."""
    head = env.get("PR_HEAD_REPO", "")
    return bool(head) and head != env.get("GITHUB_REPOSITORY", "")


def choose(env: Mapping[str, str]) -> Choice:
    return select(env.get("TRAIN_RUNNER", ""), is_fork=is_fork(env),
                  run_id=env.get("GITHUB_RUN_ID", "0"),
                  run_attempt=env.get("GITHUB_RUN_ATTEMPT", "1"))


def outputs(choice: Choice) -> dict[str, str]:
    return {"runs-on": json.dumps(choice.runs_on), "launch": str(choice.launch).lower(),
            "label": choice.label, "cloud": str(choice.cloud.get("cloud", "")),
            "timeout-minutes": str(choice.timeout_minutes)}


def _pipe(commands: list[list[str]]) -> int:
    """Run commands as a shell-free pipeline: each one's stdout feeds the next one's stdin."""
    data = b""
    for argv in commands:
        done = subprocess.run(argv, input=data, capture_output=True, timeout=600)
        sys.stderr.write(done.stderr.decode(errors="replace"))
        if done.returncode != 0:
            print(f"runner: {' '.join(argv[:3])} failed ({done.returncode})", file=sys.stderr)
            return done.returncode
        data = done.stdout
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.runner", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["select", "launch", "teardown"])
    args = parser.parse_args(argv)
    try:
        choice = choose(os.environ)
    except SettingError as exc:
        print(f"runner: error: {exc}", file=sys.stderr)
        return 2
    if args.command == "select":
        lines = [f"{k}={v}" for k, v in outputs(choice).items()]
        print(f"runner: {choice.reason}\n" + "\n".join(lines))
        if os.environ.get("GITHUB_OUTPUT"):
            with open(os.environ["GITHUB_OUTPUT"], "a") as out:
                out.write("\n".join(lines) + "\n")
        return 0
    if not choice.launch:
        print(f"runner: nothing to {args.command} ({choice.reason})")
        return 0
    if args.command == "launch":
        return subprocess.run(launch_command(choice), timeout=1800).returncode
    return _pipe(teardown_commands(str(choice.cloud["cloud"]), choice.label))


if __name__ == "__main__":
    sys.exit(main())
