"""The doctor's report: one `StepResult` per step of the recipe, `doctor.md`, and its figures."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from gradkit import _atomic
from gradkit.practice.plots import _figures, _save, moving_average


@dataclass
class StepResult:
    """One step of the recipe: what was checked, the numbers, the verdict, the plots."""

    number: int
    title: str
    checked: str
    ok: bool = True
    verdict: str = ""
    numbers: dict = field(default_factory=dict)
    details: list = field(default_factory=list)
    plots: list = field(default_factory=list)
    table: str = ""

    def markdown(self):
        lines = [f"## Step {self.number}: {self.title}", "",
                 f"**What was checked.** {self.checked}", ""]
        if self.numbers:
            lines += ["| quantity | value |", "|---|---|"]
            lines += [f"| {k} | {_fmt(v)} |" for k, v in self.numbers.items()]
            lines.append("")
        lines += [f"**Verdict: {'fine' if self.ok else 'problem'}.** {_sentence(self.verdict)}",
                  ""]
        lines += [f"- {_sentence(d)}" for d in self.details]
        if self.details:
            lines.append("")
        if self.table:
            lines += [self.table, ""]
        for p in self.plots:
            lines += [f"![{p}]({p})", ""]
        return "\n".join(lines)


def _fmt(v):
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return str(v)


def _sentence(text):
    text = str(text).strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")")) else text + "."


@dataclass
class DoctorReport:
    """What `doctor` found: the steps, the recommended config, where the report went."""

    steps: list
    recommended: object
    out: str | None
    seconds: float
    context: str = ""

    def step(self, number):
        return next(s for s in self.steps if s.number == number)

    @property
    def ok(self):
        return all(s.ok for s in self.steps)

    @property
    def problems(self):
        """"step N: verdict" for every step that found a problem."""
        return [f"step {s.number}: {s.verdict}" for s in self.steps if not s.ok]

    def text(self):
        """Every step's verdict and details as plain text (what `print(report)` shows)."""
        lines = []
        for s in self.steps:
            lines.append(f"step {s.number} ({s.title.lower()}): {'fine' if s.ok else 'PROBLEM'}"
                         f" - {s.verdict}")
            lines += [f"    {d}" for d in s.details]
        return "\n".join(lines)

    def __str__(self):
        return self.text()

    def recommended_json(self):
        if self.recommended is None:
            return None
        return json.dumps({"run": self.recommended.to_dict()}, indent=2) + "\n"

    def markdown(self):
        lines = ["# gradkit doctor", "",
                 "The recipe of the lecture notes (\"Learning with NNs in practice\"), run step "
                 f"by step in {self.seconds:.1f} s. {_sentence(self.context)}", "",
                 "| step | check | verdict |", "|---|---|---|"]
        for s in self.steps:
            lines.append(f"| {s.number} | {s.title} | {'fine' if s.ok else '**problem**'} |")
        lines.append("")
        for s in self.steps:
            lines += [s.markdown(), ""]
        lines += ["## Recommended configuration", ""]
        rec = self.recommended_json()
        if rec is None:
            lines.append("The model is not one `gradkit train` can build from flags (only "
                         "Dense, Dropout, BatchNorm, Activation and Normalization layers are), "
                         "so there is no recommended.json; use the learning rate and L2 of "
                         "step 5.")
        else:
            lines += ["`recommended.json` runs as it is: "
                      "`gradkit train --config recommended.json`. It is what step 8 chose: "
                      "the doctor's setting (the learning rate and L2 of step 5, the remedies "
                      "later passes kept, early stopping where the validation loss rose) if "
                      "it beat your configuration on the validation data, else your "
                      "configuration as it is.", "",
                      "```json", rec.rstrip(), "```", ""]
            if self.recommended.data == "arrays":
                lines.append("The data came as arrays: set `data` to the file they came from.")
        return "\n".join(lines).rstrip() + "\n"

    def write(self, out):
        """doctor.md and recommended.json into `out` (the PNGs are there already)."""
        os.makedirs(out, exist_ok=True)
        _atomic.atomic_write_text(os.path.join(out, "doctor.md"), self.markdown())
        rec = self.recommended_json()
        if rec is not None:
            _atomic.atomic_write_text(os.path.join(out, "recommended.json"), rec)


def plot_overfit(runs, path, n):
    """Step 2: the mini-batch loss against the step, one line per attempt (log y axis)."""
    plt = _figures()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    positive = True
    for (name, res), color in zip(runs.items(), ("tab:blue", "tab:orange", "tab:green",
                                                 "tab:red")):
        losses = np.asarray(res["losses"], dtype=np.float64)
        losses = losses[np.isfinite(losses)]
        if not len(losses):
            ax.plot([], [], color=color, label=f"{name}: no finite loss")
            continue
        positive &= bool(np.all(losses > 0))
        steps = np.arange(1, len(losses) + 1)
        ax.plot(steps, losses, ".", ms=2, alpha=0.3, color=color)
        tail = "reached the goal" if res["reached"] else \
            ("exploded" if res["diverged"] else "did not reach the goal")
        ax.plot(steps, moving_average(losses, 5), color=color, lw=1.5,
                label=f"{name}: {tail} ({res['steps']} steps)")
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("training step (mini-batch)")
    ax.set_ylabel("training loss" + (" (log scale)" if positive else ""))
    ax.set_title(f"Step 2: overfitting {n} training samples")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_search(coarse, fine, best, score_name, path, epochs=None):
    """Steps 4-5: every trial in the (learning rate, L2) plane, coloured by its score."""
    plt = _figures()
    fig, ax = plt.subplots(figsize=(7.2, 5.2))
    trials = [t for t in coarse + fine if not t["diverged"]]
    scores = [t["score"] for t in trials]
    vmin, vmax = (min(scores), max(scores)) if scores else (0.0, 1.0)
    if vmax <= vmin:
        vmin, vmax = vmin - 1e-3, vmax + 1e-3
    sc = None
    for group, marker, label in ((coarse, "o", "step 4 (coarse)"), (fine, "s", "step 5 (fine)")):
        ok = [t for t in group if not t["diverged"]]
        if ok:
            sc = ax.scatter([t["lr"] for t in ok], [t["l2"] for t in ok],
                            c=[t["score"] for t in ok], cmap="viridis", vmin=vmin, vmax=vmax,
                            marker=marker, s=70, edgecolors="k", linewidths=0.5, label=label)
        bad = [t for t in group if t["diverged"]]
        if bad:
            ax.scatter([t["lr"] for t in bad], [t["l2"] for t in bad], marker="x", s=60,
                       color="tab:red", label=f"{label}: diverged")
    ax.scatter([best["lr"]], [best["l2"]], marker="*", s=320, facecolors="none",
               edgecolors="tab:red", linewidths=1.5, label="best")
    if sc is not None:
        when = f" (after {epochs[0]} and {epochs[1]} epochs)" if epochs else ""
        fig.colorbar(sc, ax=ax, label=f"validation {score_name}{when}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("L2 weight decay (log scale)")
    ax.set_title("Steps 4-5: random search")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
    _save(fig, path)
