"""``bench report``: the benchmark results in a folder (``<name>.json``, as every benchmark writes
them) as one markdown page with a table per benchmark, its goals and checks, and PNG plots.

The plots: events/s per case (bars) for every benchmark whose rows carry ``events_per_s``, and
p50/p95/p99 against the offered rate for ``latency``. Values are the JSON's, rounded for reading.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display here
import matplotlib.pyplot as plt

from streamwise.bench.exceptions import BenchError

REPORT = "report.md"
LABELS = ("case", "scenario")  # the row key that names a case, when a benchmark has one


def render(folder: Path) -> Path:
    """Write ``folder/report.md`` (and its PNGs) from the results in ``folder``; return its path."""
    results = sorted(p for p in folder.glob("*.json") if _is_result(p))
    if not results:
        raise BenchError(
            f"no benchmark results (<name>.json) in {folder}",
            hint="run one first, e.g. `streamwise bench overhead --output DIR`",
        )
    lines = ["# streamwise benchmarks", ""]
    for path in results:
        lines += section(json.loads(path.read_text()), folder)
    report = folder / REPORT
    report.write_text("\n".join(lines) + "\n")
    return report


def _is_result(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"benchmark", "results"} <= data.keys()


def section(data: dict[str, Any], folder: Path) -> list[str]:
    """One benchmark's part of the page."""
    name, rows = data["benchmark"], data["results"]
    machine = data.get("machine", {})
    lines = [
        f"## {name}",
        "",
        f"{data.get('created', '')} · {machine.get('cpus', '?')} CPUs · {machine.get('platform', '')}",
        "",
    ]
    lines += table(rows)
    for goal, result in data.get("goals", {}).items():
        sign = "≤" if result.get("at_most") else "≥"
        lines.append(
            f"- {'✓' if result['met'] else '✗'} {goal}: {result['value']:,.2f} (goal {sign} {result['target']:,})"
        )
    for check, result in data.get("checks", {}).items():
        lines.append(f"- {'✓' if result['passed'] else '✗'} {check}: {result['detail']}")
    lines += [f"- {note}" for note in data.get("notes", [])]
    for plot in plots(name, rows, folder):
        lines += ["", f"![{name}]({plot.name})"]
    return [*lines, ""]


def table(rows: list[dict[str, Any]]) -> list[str]:
    """A markdown table of the rows' plain values (lists and mappings stay in the JSON)."""
    columns = [k for k in dict.fromkeys(k for row in rows for k in row) if all(_plain(row.get(k)) for row in rows)]
    head = [f"| {' | '.join(columns)} |", f"|{'---|' * len(columns)}"]
    return [*head, *(f"| {' | '.join(_cell(row.get(c)) for c in columns)} |" for row in rows), ""]


def _plain(value: Any) -> bool:
    return not isinstance(value, list | dict | tuple)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "–" if value is None else str(value)


def plots(name: str, rows: list[dict[str, Any]], folder: Path) -> list[Path]:
    """The PNGs for one benchmark (none when its rows have nothing to plot)."""
    made = []
    if name == "latency" and rows and "rate" in rows[0]:
        figure, axes = plt.subplots(figsize=(6, 3.5))
        rates = [row["rate"] for row in rows]
        for quantile in ("p50_s", "p95_s", "p99_s"):
            axes.plot(rates, [row[quantile] for row in rows], marker="o", label=quantile.removesuffix("_s"))
        axes.set(xscale="log", xlabel="offered events/s", ylabel="seconds, Kafka → sink", title="end-to-end latency")
        axes.legend()
        made.append(_save(figure, folder / f"{name}.png"))
    elif rows and all("events_per_s" in row for row in rows):
        figure, axes = plt.subplots(figsize=(6, 3.5))
        labels = [_label(row) for row in rows]
        axes.barh(labels, [row["events_per_s"] for row in rows])
        axes.set(xlabel="events/s", title=f"bench {name}")
        axes.invert_yaxis()
        made.append(_save(figure, folder / f"{name}.png"))
    return made


def _label(row: dict[str, Any]) -> str:
    for key in LABELS:
        if key in row:
            return str(row[key])
    return ", ".join(f"{k} {row[k]}" for k in ("cores", "partitions", "rate") if k in row) or "?"


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
