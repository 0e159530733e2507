"""Allow `python -m gitops_ml`."""

from gitops_ml.cli import run

run()
