"""What a search shows: its trials ranked, as a table and as a score-per-parameter figure."""

from __future__ import annotations

import math
import sys

import numpy as np

from gradkit.practice.plots import _figures, _save


def ranked_rows(study, direction):
    """One dict per trial of `study`: COMPLETE ones best first, then the others by number."""
    rows = []
    trials = study.get_trials(deepcopy=False)
    reruns = {t.user_attrs["rerun_of"]: t.number for t in trials if "rerun_of" in t.user_attrs}
    for t in trials:
        if t.state.name == "WAITING":         # queued, never asked: not a trial of the search
            continue
        result = t.user_attrs.get("result") or {}
        rows.append({**{k: v for k, v in result.items() if k not in ("state", "value")},
                     "number": t.number, "state": t.state.name, "value": t.value,
                     "params": dict(t.params), "config": t.user_attrs.get("config"),
                     "phase": t.user_attrs.get("phase"), "reason": t.user_attrs.get("reason")})
        if t.number in reruns:
            rows[-1]["reason"] = (f"interrupted: the search stopped while it ran; run again as "
                                  f"trial {reruns[t.number]}")
    done = sorted((r for r in rows if r["state"] == "COMPLETE"),
                  key=lambda r: (*rank_key(r["value"], r.get("val_loss"), direction),
                                 r["number"]))
    rest = sorted((r for r in rows if r["state"] != "COMPLETE"), key=lambda r: r["number"])
    for rank, row in enumerate(done, 1):
        row["rank"] = rank
    return done + rest


def rank_key(value, val_loss, direction):
    """Sort key, best first: the score, then (accuracy ties are common on small validation
    splits) the validation loss."""
    sign = -1.0 if direction == "maximize" else 1.0
    return sign * value, val_loss if val_loss is not None else math.inf


def format_value(name, value):
    """A parameter value as the table prints it: 3 significant digits, e for small floats."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e4):
            return f"{value:.2e}"
        return f"{value:.3g}"
    return str(value)


def print_table(result, *, top=20, file=None):
    """The ranked trials of `result` (a SearchResult): rank, trial, score, parameters, time."""
    from rich.console import Console
    from rich.table import Table

    file = file or sys.stdout
    names = sorted({k for r in result.rows for k in r["params"]})
    table = Table(title=f"{result.metric} ({result.direction}d), {len(result.rows)} trials",
                  title_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("trial", justify="right")
    table.add_column(result.metric, justify="right", style="bold")
    show_loss = result.metric != "val_loss"
    if show_loss:
        table.add_column("val_loss", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("s", justify="right")
    done = [r for r in result.rows if r["state"] == "COMPLETE"]
    failed = [r for r in result.rows if r["state"] != "COMPLETE"]
    for row in done[:top] if top else done:
        cells = [str(row["rank"]), str(row["number"]), f"{row['value']:.4f}"]
        if show_loss:
            cells.append(format_value("val_loss", row.get("val_loss")))
        cells += [format_value(n, row["params"].get(n)) for n in names]
        cells.append(f"{row['seconds']:.1f}" if row.get("seconds") is not None else "-")
        table.add_row(*cells)
    for row in failed:
        cells = ["-", str(row["number"]), row["state"]]
        if show_loss:
            cells.append("-")
        cells += [format_value(n, row["params"].get(n)) for n in names]
        cells.append(f"{row['seconds']:.1f}" if row.get("seconds") is not None else "-")
        table.add_row(*cells, style="red")
    console = Console(file=file, width=None if file.isatty() else 160, highlight=False)
    console.print(table)
    hidden = len(done) - top if top else 0
    if hidden > 0:
        console.print(f"... and {hidden} more completed trials")
    for row in failed:
        reason = (row.get("reason") or row["state"]).splitlines()[0]
        console.print(_shorten(f"trial {row['number']} {row['state']}: {reason}", 155),
                      style="red", markup=False, no_wrap=True, overflow="ellipsis")


def _shorten(text, n):
    return text if len(text) <= n else text[:n - 3] + "..."


def plot_search(rows, distributions, metric, path, *, title="gradkit search"):
    """Score against each searched parameter: one panel each, log x where the range is log,
    points coloured by trial number, the best starred, failed trials as red crosses below."""
    from optuna.distributions import CategoricalDistribution

    plt = _figures()
    names = list(distributions)
    done = [r for r in rows if r["state"] == "COMPLETE"]
    failed = [r for r in rows if r["state"] == "FAIL"]
    best = done[0] if done else None
    ncols = min(4, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.0 * nrows + 0.6),
                             squeeze=False, sharey=True, constrained_layout=True)
    numbers = [r["number"] for r in rows] or [0]
    norm = plt.Normalize(min(numbers), max(max(numbers), min(numbers) + 1))
    cmap = plt.get_cmap("viridis")
    scatter = None
    for ax, name in zip(axes.flat, names):
        dist = distributions[name]
        categorical = isinstance(dist, CategoricalDistribution)
        choices = [str(c) for c in dist.choices] if categorical else None

        def x_of(rs, jitter=0.0):
            vals = [r["params"].get(name) for r in rs]
            if not categorical:
                return np.array([np.nan if v is None else float(v) for v in vals])
            pos = np.array([choices.index(str(v)) if str(v) in choices else np.nan for v in vals],
                           dtype=float)
            # Spread the points of one choice a little, deterministically, so they do not hide
            # each other.
            return pos + jitter * np.sin(np.arange(len(pos)) * 2.399)

        scatter = ax.scatter(x_of(done, 0.15), [r["value"] for r in done],
                             c=[r["number"] for r in done], cmap=cmap, norm=norm, s=28,
                             edgecolors="black", linewidths=0.3, zorder=3)
        if best is not None:
            ax.scatter(x_of([best]), [best["value"]], marker="*", s=220, facecolors="none",
                       edgecolors="red", linewidths=1.4, zorder=4,
                       label=f"best (trial {best['number']})")
        if failed:
            # Failed trials have no score: crosses along the bottom edge show where they were.
            ax.scatter(x_of(failed, 0.15), np.full(len(failed), 0.03), marker="x", color="red",
                       s=30, transform=ax.get_xaxis_transform(), zorder=4, clip_on=False,
                       label="failed")
        if categorical:
            ax.set_xticks(range(len(choices)), choices)
            ax.set_xlim(-0.6, len(choices) - 0.4)
        else:
            _numeric_axis(ax, dist)
        ax.set_xlabel(name + (" (log scale)" if not categorical and dist.log else ""))
        ax.grid(alpha=0.3)
    if failed and done:
        # Room below the lowest score for the crosses of the failed trials (the y axis is shared).
        lo, hi = axes[0, 0].get_ylim()
        axes[0, 0].set_ylim(lo - 0.12 * (hi - lo), hi)
    for ax in axes[:, 0]:
        ax.set_ylabel(metric)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=len(handles), fontsize=9,
                   frameon=False)
    if scatter is not None and len(done) > 1:
        fig.colorbar(scatter, ax=axes, shrink=0.8, pad=0.01, label="trial number")
    n_failed = f", {len(failed)} failed" if failed else ""
    fig.suptitle(f"{title}: {metric} per hyper-parameter ({len(done)} trials{n_failed})")
    _save(fig, path)


def _numeric_axis(ax, dist):
    """x spans the whole searched range (is the best at its edge? widen it); log where the
    range is, integers labelled as integers."""
    from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter, ScalarFormatter
    from optuna.distributions import IntDistribution

    integer = isinstance(dist, IntDistribution)
    lo, hi = float(dist.low), float(dist.high)
    if dist.log:
        ax.set_xscale("log", base=2 if integer else 10)
        ax.xaxis.set_minor_formatter(NullFormatter())
        if integer:
            ax.xaxis.set_major_locator(LogLocator(base=2))
            ax.xaxis.set_major_formatter(ScalarFormatter())
        margin = (hi / lo) ** 0.04 if hi > lo else 1.5
        ax.set_xlim(lo / margin, hi * margin)
    else:
        if integer:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        margin = 0.04 * (hi - lo) if hi > lo else 0.5
        ax.set_xlim(lo - margin, hi + margin)
