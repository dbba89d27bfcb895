"""Model files (safetensors + JSON config) and ONNX export. No pickle anywhere, ever."""

from gradkit.io.model_file import load, read_config, save

load_model = load       # Keras's name: keras.models.load_model / keras.saving.load_model


def export_onnx(model, path, **kwargs):
    """Export a Sequential to ONNX; see `gradkit.io.onnx_export`."""
    from gradkit.io.onnx_export import export_onnx as _export
    return _export(model, path, **kwargs)


__all__ = ["save", "load", "load_model", "read_config", "export_onnx"]
