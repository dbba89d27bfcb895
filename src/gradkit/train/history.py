"""What `fit` returns: per-epoch losses and metrics, and the loss of every batch."""

from __future__ import annotations


class History:
    """`history["loss"]`, `history["val_accuracy"]`, ... per epoch; `batch_loss` per batch."""

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.batch_loss: list[float] = []

    def record_epoch(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def to_dict(self):
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()},
                "batch_loss": list(self.batch_loss)}

    @classmethod
    def from_dict(cls, d):
        h = cls()
        h.epoch = list(d.get("epoch", []))
        h.history = {k: list(v) for k, v in d.get("history", {}).items()}
        h.batch_loss = list(d.get("batch_loss", []))
        return h

    def __repr__(self):
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"
