"""Deployment formats: GGUF, zstd-compressed weights, ONNX Runtime at the edge."""
