"""`gitops-ml init`: make the template a team's own project in one step."""
