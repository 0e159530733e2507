"""The serving app: ONNX Runtime behind FastAPI, with no scikit-learn, pandas or pickle in reach."""
