"""gitops-ml: a DVC pipeline, a PR report and a serving image, configured by params.yaml."""

__version__ = "0.1.0"
