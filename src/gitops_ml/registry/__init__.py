"""The GitOps model registry: GTO tags name versions and stages; tag messages hold the records."""
