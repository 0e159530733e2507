"""pipelines.runner: which runner the reproduce job gets, and the CML launch / teardown calls."""

from __future__ import annotations

import base64
import json
import os

import pytest

from pipelines import runner

CML = {"kind": "cml", "cloud": "aws", "type": "g4dn.xlarge", "region": "us-east-1",
       "max_minutes": 90}


def pick(setting, fork=False):
    text = setting if isinstance(setting, str) else json.dumps(setting)
    return runner.select(text, is_fork=fork, run_id="123", run_attempt="2")


@pytest.mark.parametrize("setting", ["", "  ", {"kind": "github"}])
def test_select_defaults_to_the_hosted_runner(setting):
    choice = pick(setting)
    assert (choice.runs_on, choice.launch, choice.timeout_minutes) == (["ubuntu-latest"], False,
                                                                       60)


def test_select_larger_hosted_runner_by_label():
    assert pick({"kind": "github", "label": "ubuntu-latest-8-cores"}).runs_on == [
        "ubuntu-latest-8-cores"]


def test_select_self_hosted_labels():
    choice = pick({"kind": "self-hosted", "labels": ["linux", "gpu"], "max_minutes": 240})
    assert (choice.runs_on, choice.timeout_minutes) == (["self-hosted", "linux", "gpu"], 240)


def test_select_cml_launches_a_runner_labelled_for_this_run_attempt():
    choice = pick(CML)
    assert choice.launch is True
    assert choice.runs_on == ["self-hosted", "cml-123-2"]
    assert choice.timeout_minutes == 90
    assert choice.cloud == {"cloud": "aws", "type": "g4dn.xlarge", "region": "us-east-1",
                            "spot": True, "idle_timeout": 300}


@pytest.mark.parametrize("setting", [CML, {"kind": "self-hosted", "labels": ["gpu"]},
                                     {"kind": "github", "label": "ubuntu-latest-64-cores"}])
def test_select_gives_a_fork_the_hosted_runner_and_no_launch(setting):
    choice = pick(setting, fork=True)
    assert (choice.runs_on, choice.launch, choice.label, choice.cloud) == (
        ["ubuntu-latest"], False, "", {})
    assert "fork" in choice.reason


def test_select_caps_a_forks_time_at_the_default():
    assert pick({**CML, "max_minutes": 600}, fork=True).timeout_minutes == 60


@pytest.mark.parametrize(("setting", "message"), [
    ("{nope", "TRAIN_RUNNER: not valid JSON"),
    ("[1]", "TRAIN_RUNNER: must be a JSON object"),
    ({"kind": "gpu"}, "TRAIN_RUNNER.kind: must be one of github, self-hosted, cml"),
    ({"kind": "github", "labels": ["x"]}, "TRAIN_RUNNER.labels: not a setting of kind 'github'"),
    ({"kind": "self-hosted"}, "TRAIN_RUNNER.labels: must be a non-empty list"),
    ({"kind": "self-hosted", "labels": ["a b"]}, "TRAIN_RUNNER.labels: must be a runner label"),
    ({**CML, "cloud": "ovh"}, "TRAIN_RUNNER.cloud: must be one of aws, gcp, azure, kubernetes"),
    ({**CML, "type": ""}, "TRAIN_RUNNER.type: must be a runner label"),
    ({**CML, "spot": "yes"}, "TRAIN_RUNNER.spot: must be true or false"),
    ({**CML, "spot_price": 0}, "TRAIN_RUNNER.spot_price: must be a positive number"),
    ({**CML, "idle_timeout": 10}, "TRAIN_RUNNER.idle_timeout: must be an integer >= 60"),
    ({**CML, "max_minutes": 0}, "TRAIN_RUNNER.max_minutes: must be an integer >= 1"),
    ({**CML, "max_minutes": True}, "TRAIN_RUNNER.max_minutes: must be an integer >= 1"),
    ({**CML, "instance": "x"}, "TRAIN_RUNNER.instance: not a setting of kind 'cml'"),
])
def test_select_names_the_bad_field(setting, message):
    with pytest.raises(runner.SettingError, match=f"^{message}".replace("(", r"\(")
                       .replace("[", r"\[")):
        pick(setting)


def test_select_rejects_a_bad_setting_for_forks_too():
    # a typo fails every pull request alike, not only those from the repository itself
    with pytest.raises(runner.SettingError, match="TRAIN_RUNNER.cloud"):
        pick({**CML, "cloud": "ovh"}, fork=True)


def test_launch_command_sets_every_cost_guard():
    argv = runner.launch_command(pick({**CML, "spot_price": 0.4, "hdd_size": 40}))
    assert argv[:3] == ["cml", "runner", "launch"]
    flags = dict(a.split("=", 1) for a in argv[3:] if "=" in a)
    assert flags["--cloud"] == "aws" and flags["--cloud-type"] == "g4dn.xlarge"
    assert flags["--labels"] == flags["--name"] == "cml-123-2"
    assert flags["--idle-timeout"] == "300"
    assert flags["--cloud-spot-price"] == "0.4" and "--cloud-spot" in argv
    assert flags["--cloud-region"] == "us-east-1" and flags["--cloud-hdd-size"] == "40"
    assert flags["--cloud-metadata"] == "gitops-ml-run=cml-123-2"
    assert "--single" in argv
    script = base64.b64decode(flags["--cloud-startup-script"]).decode()
    assert script == "#!/bin/sh\nshutdown -h +95\n"          # max_minutes + 5


def test_launch_command_on_demand_when_spot_is_off():
    argv = runner.launch_command(pick({**CML, "spot": False}))
    assert not [a for a in argv if a.startswith("--cloud-spot")]


def test_teardown_finds_instances_by_this_runs_tag():
    query, terminate = runner.teardown_commands("aws", "cml-123-2")
    assert "Name=tag:gitops-ml-run,Values=cml-123-2" in query
    assert terminate[:2] == ["xargs", "-r"]     # nothing found: nothing to terminate, success
    assert terminate[-2:] == ["terminate-instances", "--instance-ids"]
    gcp_query, _ = runner.teardown_commands("gcp", "cml-123-2")
    assert "--filter=labels.gitops-ml-run=cml-123-2" in gcp_query
    assert runner.teardown_commands("azure", "cml-123-2") == []


def test_main_select_writes_the_job_outputs(tmp_path, monkeypatch, capsys):
    out = tmp_path / "github_output"
    for key, value in {"TRAIN_RUNNER": json.dumps(CML), "GITHUB_RUN_ID": "9",
                       "GITHUB_RUN_ATTEMPT": "1", "GITHUB_REPOSITORY": "acme/churn",
                       "PR_HEAD_REPO": "acme/churn", "GITHUB_OUTPUT": str(out)}.items():
        monkeypatch.setenv(key, value)
    assert runner.main(["select"]) == 0
    lines = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert json.loads(lines["runs-on"]) == ["self-hosted", "cml-9-1"]
    assert (lines["launch"], lines["cloud"], lines["timeout-minutes"]) == ("true", "aws", "90")


def test_main_select_for_a_fork_writes_the_hosted_runner(tmp_path, monkeypatch):
    out = tmp_path / "github_output"
    monkeypatch.setenv("TRAIN_RUNNER", json.dumps(CML))
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/churn")
    monkeypatch.setenv("PR_HEAD_REPO", "mallory/churn")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert runner.main(["select"]) == 0
    lines = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert (json.loads(lines["runs-on"]), lines["launch"]) == (["ubuntu-latest"], "false")


def test_main_bad_setting_exits_2_naming_the_field(monkeypatch, capsys):
    monkeypatch.setenv("TRAIN_RUNNER", '{"kind": "cml", "cloud": "aws"}')
    assert runner.main(["select"]) == 2
    assert "runner: error: TRAIN_RUNNER.type" in capsys.readouterr().err


def test_main_teardown_without_a_launch_does_nothing(monkeypatch, capsys):
    monkeypatch.delenv("TRAIN_RUNNER", raising=False)
    assert runner.main(["teardown"]) == 0
    assert "nothing to teardown" in capsys.readouterr().out


def fake_aws(tmp_path, found):
    """An `aws` on PATH that answers describe-instances like the real CLI with --output text
    (IDs separated by tabs; nothing when none match) and logs terminate-instances calls.
    https://docs.aws.amazon.com/cli/latest/reference/ec2/describe-instances.html"""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "terminated"
    script = bin_dir / "aws"
    script.write_text(f"""#!/bin/sh
case "$2" in
  describe-instances) printf '{found}' ;;
  terminate-instances) shift 3; echo "$@" >> {log} ;;
  *) exit 252 ;;
esac
""")
    script.chmod(0o755)
    return bin_dir, log


@pytest.mark.parametrize(("found", "terminated"), [("i-0a\\ti-0b\\n", "i-0a i-0b\n"),
                                                  ("", None)])
def test_main_teardown_terminates_what_the_run_launched(tmp_path, monkeypatch, found,
                                                        terminated):
    bin_dir, log = fake_aws(tmp_path, found)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("TRAIN_RUNNER", json.dumps(CML))
    monkeypatch.setenv("GITHUB_RUN_ID", "9")
    assert runner.main(["teardown"]) == 0
    assert (log.read_text() if log.exists() else None) == terminated
