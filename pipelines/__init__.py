"""Entry points that CI workflows call and people run locally: `python -m pipelines.<name>`."""
