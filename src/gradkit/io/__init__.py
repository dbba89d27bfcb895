"""Model files (safetensors + JSON config) and ONNX export. No pickle anywhere, ever."""

from gradkit.io.model_file import load, read_config, save


def export_onnx(model, path, **kwargs):
    """Export a Sequential to ONNX; see `gradkit.io.onnx_export`."""
    from gradkit.io.onnx_export import export_onnx as _export
    return _export(model, path, **kwargs)


__all__ = ["save", "load", "read_config", "export_onnx"]
