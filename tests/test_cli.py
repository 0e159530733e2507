from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from gitops_ml import cli

# Print the thresholds the command's process runs with, from inside it (main replaced).
PROBE = """
import gc, sys
from gitops_ml import cli
cli.main = lambda: print(gc.get_threshold()) or 0
sys.argv = ["gitops-ml", *sys.argv[1:]]
cli.run()
"""


def _thresholds_in_process(*argv: str) -> tuple[int, ...]:
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                         check=True)
    return tuple(int(n) for n in out.stdout.strip("()\n").split(","))


@pytest.mark.parametrize("argv", [["split", "--params", "p.yaml"],
                                  ["--timings", "t.json", "evaluate"], ["predict", "x.csv"]])
def test_run_collects_garbage_in_larger_batches_in_a_batch_command(argv):
    assert _thresholds_in_process(*argv) == cli.BATCH_GC_THRESHOLDS
    assert cli.BATCH_GC_THRESHOLDS[0] > _interpreter_default()[0]


def _interpreter_default() -> tuple[int, ...]:
    out = subprocess.run([sys.executable, "-c", "import gc; print(gc.get_threshold())"],
                         capture_output=True, text=True, check=True)
    return tuple(int(n) for n in out.stdout.strip("()\n").split(","))


def test_run_keeps_the_default_collection_for_the_server():
    assert _thresholds_in_process("serve") == _interpreter_default()


def test_main_leaves_the_callers_collection_alone(tmp_path):
    # a caller that imports the command (the tests) keeps its own thresholds
    before = gc.get_threshold()
    assert cli.main(["split", "--params", str(tmp_path / "none.yaml"), "--data", "d",
                     "--train", "t", "--test", "u"]) == 2
    assert gc.get_threshold() == before
