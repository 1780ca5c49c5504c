"""``qemu-img bench`` figures as bars: one per format and preallocation mode.

The performance lab records its runs in a JSON file (kvmlab.labs.performance.write_results):
``{"count": 20000, "block": "4k", "cache": "none", "io": "native",
"runs": [{"format": "qcow2", "preallocation": "metadata", "seconds": 0.81, "image": ...}]}``.
Lower bars are faster; each bar is labelled with its seconds and the
writes per second they make.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kvmlab.errors import UsageError
from kvmlab.pictures import Plot, new_figure

FORMAT_COLOURS = {"raw": "tab:blue", "qcow2": "tab:orange"}


def read_results(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot read bench results from {path}: {err}", "record them first (step 1)") from err
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a JSON object", 'write {"count": ..., "runs": [...]}')
    return data


def plot_bench(results: Mapping[str, Any] | Sequence[Mapping[str, Any]] | str | Path) -> Plot:
    """Seconds per run (a results document, its "runs" list, or the JSON file holding it)."""
    doc: Mapping[str, Any]
    if isinstance(results, str | Path):
        doc = read_results(results)
    elif isinstance(results, Mapping):
        doc = results
    else:
        doc = {"runs": list(results)}
    listed = doc.get("runs")
    runs = [
        r
        for r in (listed if isinstance(listed, list) else [])
        if isinstance(r, Mapping) and isinstance(r.get("seconds"), int | float) and not isinstance(r["seconds"], bool)
    ]
    if not runs:
        raise UsageError("no bench run with a number of seconds", 'each run: {"format", "preallocation", "seconds"}')
    labels = [f"{r.get('format', '?')}\n{r.get('preallocation', 'off')}" for r in runs]
    seconds = [float(r["seconds"]) for r in runs]
    colours = [FORMAT_COLOURS.get(str(r.get("format")), "tab:grey") for r in runs]
    count = doc.get("count")
    figure = new_figure(max(5.0, 1.2 * len(runs) + 1.5), 4.0)
    axes = figure.subplots()
    bars = axes.bar(range(len(runs)), seconds, color=colours, tick_label=labels)
    if isinstance(count, int) and count > 0:
        notes = [f"{s:.3g} s\n{count / s:,.0f} IOPS" if s > 0 else f"{s:.3g} s" for s in seconds]
    else:
        notes = [f"{s:.3g} s" for s in seconds]
    axes.bar_label(bars, labels=notes, padding=2, fontsize=8)
    axes.set_ylabel("seconds (lower is faster)")
    axes.set_ylim(0, max(seconds) * 1.3 or 1)
    axes.grid(axis="y", alpha=0.3)
    what = [f"{count} x {doc.get('block')} writes" if count else None]
    what += [f"cache={doc['cache']}" if doc.get("cache") else None, f"aio={doc['io']}" if doc.get("io") else None]
    axes.set_title("qemu-img bench: " + ", ".join(w for w in what if w) if any(what) else "qemu-img bench")
    return Plot(figure)
