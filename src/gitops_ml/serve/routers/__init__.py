"""One router per concern: the Open Inference Protocol (v2), the friendly /predict, /metrics."""
