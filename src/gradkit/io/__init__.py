"""Model files (safetensors + JSON config) and ONNX export. No pickle anywhere, ever."""

from gradkit.io.model_file import load, read_config, save
from gradkit.io.onnx_export import export_onnx

__all__ = ["save", "load", "read_config", "export_onnx"]
