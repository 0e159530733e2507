"""Monitoring: drift between training data and production batches or prediction logs."""
