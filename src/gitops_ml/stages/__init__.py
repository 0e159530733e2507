"""Pipeline stages: one module per `dvc.yaml` stage, each a pure core and a thin `main`."""
