"""Model files (safetensors + JSON config) and ONNX export. No pickle anywhere, ever."""

from gradkit.io.model_file import load, read_config, save
from gradkit.io.onnx_export import export_onnx

load_model = load       # Keras's name: keras.models.load_model / keras.saving.load_model

__all__ = ["save", "load", "load_model", "read_config", "export_onnx"]
