"""PyTorch's `torch.accelerator` questions, answered for gradkit: it runs on the CPU only."""


def is_available():
    """False: gradkit has no accelerator (GPU) backend."""
    return False


def current_accelerator():
    """None, as PyTorch answers when no accelerator is available."""
    return None
