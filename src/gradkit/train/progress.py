"""`ProgressBar`: what `fit(verbose=...)` shows, a rich bar on a terminal or one line per
epoch elsewhere (Keras's habit for a script piped to a log)."""

from __future__ import annotations

import math
import sys
import time

from gradkit.train.callbacks import Callback


class ProgressBar(Callback):
    """A rich progress bar with loss, metrics and ETA on a terminal.

    Args:
        verbose: None (the default) is quiet when the output is not a terminal; 1 (what
            `fit(verbose=1)` uses) prints one line per epoch there instead, as Keras does for
            a script piped to a log; 2 prints one line per epoch, terminal or not.
        force: draw the bar even when the output is not a terminal.
        file: the stream (default sys.stdout).
    """

    def __init__(self, *, force=False, file=None, verbose=None):
        self.force, self.file, self.verbose = force, file, verbose

    def on_train_begin(self, logs=None):
        stream = self.file or sys.stdout
        terminal = hasattr(stream, "isatty") and stream.isatty()
        self.enabled = self.verbose != 2 and (self.force or terminal)
        self.lines = not self.enabled and self.verbose in (1, 2)
        self.progress = None
        self.epochs = (logs or {}).get("epochs", 0)
        self.steps = (logs or {}).get("steps", 0)
        self.started = time.monotonic()
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
            console=Console(file=stream, force_terminal=self.force or None), transient=False)
        self.progress.start()
        self.last = 0.0

    def on_batch_end(self, batch, logs=None):
        if self.progress is None:
            return
        now = time.monotonic()
        if now - self.last > 0.1 or batch + 1 == self.steps:   # redraw at most 10 times a second
            self.last = now
            self.progress.update(self.task, completed=batch + 1,
                                 info=f"loss {logs['loss']:.4f}")

    def on_epoch_begin(self, epoch, logs=None):
        if self.progress is not None:
            self.task = self.progress.add_task("", total=self.steps,
                                               epoch=f"{epoch + 1}/{self.epochs}", info="")
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if self.progress is not None:
            info = " ".join(f"{_short_key(k)} {v:.3f}" for k, v in logs.items()
                            if isinstance(v, float) and math.isfinite(v))
            self.progress.update(self.task, completed=self.steps, info=info)
        elif self.lines:
            seconds = time.monotonic() - getattr(self, "epoch_started", self.started)
            parts = [f"Epoch {epoch + 1}/{self.epochs}", f"{self.steps}/{self.steps}",
                     f"{seconds:.1f}s"]
            parts += [f"{k}: {v:.4f}" for k, v in logs.items() if isinstance(v, float)]
            print(" - ".join(parts), file=self.file or sys.stdout, flush=True)

    def on_train_end(self, logs=None):
        if self.progress is not None:
            self.progress.stop()


def _short_key(key):
    """Log names short enough that an epoch's line fits an 80-column terminal."""
    return key.replace("accuracy", "acc").replace("val_", "val ")
