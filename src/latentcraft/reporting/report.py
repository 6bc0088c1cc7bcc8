"""The `report` command: runs side by side in one self-contained HTML page (and Markdown).

Each run contributes its eval.json (evaluated now if missing) and its figures
folder (plotted now if missing). Each sweep folder contributes a section built
from its sweep_summary.json: mean ± std, min and max per setting and one
spread-over-seeds figure per summarised metric. The HTML embeds every figure
as base64, so the page is one file that opens anywhere; report.md beside it
links the figure files by relative path.

`load_run` and `load_sweep` are the one place that turns a folder into report
material, so a caller that finds folders some other way can reuse them.
"""

from __future__ import annotations

import base64
import html
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentcraft.data.shape import image_shape
from latentcraft.data.source import load_config_data
from latentcraft.errors import UsageError
from latentcraft.evaluation.evaluate import DEFAULT_FIT_LIMIT, evaluate_run, read_eval
from latentcraft.evaluation.registry import METRICS, format_value, metric_label
from latentcraft.sweeps.definition import is_sweep_dir
from latentcraft.sweeps.summary import markdown_table, read_sweep_summary, stat_cells, table_notes
from latentcraft.training import checkpoint as ckpt
from latentcraft.training.checkpoint import WEIGHTS_FILE

FIGURES_DIR = "figures"
FIGURE_SUFFIXES = {".png": "image/png", ".gif": "image/gif"}
DCI_FIGURE = "dci_importance.png"  # drawn from eval.json, so it exists even for runs plotted elsewhere
# Figures in the order the report shows them; others found in a folder follow alphabetically.
FIGURE_ORDER = ["reconstructions", "unit_vectors", "interpolation", "style_transfer", DCI_FIGURE.removesuffix(".png"),
                "traversal_z", "traversal_grid", "scatter", "latent_grid", "decision_regions"]


@dataclass
class RunMaterial:
    run_dir: Path
    title: str  # column header: config name and folder
    record: dict[str, Any]  # eval.json
    figures: list[Path]  # image files to show
    data: str = ""  # what it was trained on: the dataset or data.path, image size, colour and classes


@dataclass
class SweepMaterial:
    sweep_dir: Path
    title: str  # section heading: config name and folder
    summary: dict[str, Any]  # sweep_summary.json
    figures: list[tuple[str, Path]]  # (metric, its spread-over-seeds figure), one per summarised metric


def figures_dir(run_dir: Path) -> Path:
    return Path(run_dir) / FIGURES_DIR


def _figure_rank(path: Path) -> tuple[int, str]:
    for rank, prefix in enumerate(FIGURE_ORDER):
        if path.stem.startswith(prefix):
            return rank, path.name
    return len(FIGURE_ORDER), path.name


def list_figures(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.suffix in FIGURE_SUFFIXES), key=_figure_rank)


def load_run(
    run_dir: str | Path, samples: int = 0, fit_limit: int = DEFAULT_FIT_LIMIT, progress: bool = True,
    data_path: str | Path | None = None,
) -> RunMaterial:
    """Everything the report needs from one run folder, evaluating and plotting what is missing
    (reading the run's data from `data_path` if it moved)."""
    # A late import: matplotlib is slow to import.
    from latentcraft.reporting.charts import plot_dci_importance
    from latentcraft.reporting.plots import make_figures

    run_dir = Path(run_dir)
    record = read_eval(run_dir)
    if record is None:
        record = evaluate_run(run_dir, samples=samples, fit_limit=fit_limit, progress=progress, data_path=data_path)
    folder = figures_dir(run_dir)
    if not list_figures(folder):
        model = ckpt.load_model(run_dir, data_path=data_path)
        make_figures(model, load_config_data(model.config, "test"), folder)
    if "dci" in record and not (folder / DCI_FIGURE).is_file():
        plot_dci_importance(record["dci"]["importance"], folder / DCI_FIGURE, record["name"])
    config = ckpt.load_config(run_dir)
    data = f"{config.data.path or config.data.dataset}: {image_shape(config).describe()}"
    return RunMaterial(run_dir, f"{record['name']} ({run_dir.name})", record, list_figures(folder), data)


def load_sweep(sweep_dir: str | Path, figure_dir: str | Path) -> SweepMaterial:
    """A sweep folder's summary, with its spread figures drawn into figure_dir."""
    from latentcraft.reporting.charts import plot_spread  # late import: matplotlib is slow to import

    sweep_dir = Path(sweep_dir)
    summary = read_sweep_summary(sweep_dir)
    figures = [(m, plot_spread(summary, m, Path(figure_dir) / f"sweep_spread_{m.removeprefix('test_')}.png"))
               for m in summary["metrics"]]
    return SweepMaterial(sweep_dir, f"Sweep {summary['name']} ({sweep_dir})", summary, figures)


def shows_as_sweep(folder: str | Path) -> bool:
    """A sweep folder is reported as a sweep, unless it also holds a model (`train --seeds` keeps the
    best seed's run at its top): then it is reported as that run."""
    return is_sweep_dir(folder) and not (Path(folder) / WEIGHTS_FILE).is_file()


# ---- the metrics table ----------------------------------------------------------------------------


def metric_rows(runs: list[RunMaterial]) -> list[tuple[str, list[Any], set[int]]]:
    """(metric name, value per run, indices of the best runs) for every metric any run has."""
    names = [n for n in METRICS if any(n in r.record["metrics"] for r in runs)]
    names += sorted({n for r in runs for n in r.record["metrics"]} - set(names))
    rows = []
    for name in names:
        values = [r.record["metrics"].get(name) for r in runs]
        present = [v for v in values if isinstance(v, (int, float))]
        best: set[int] = set()
        if name in METRICS and METRICS[name].higher_is_better is not None and len(present) >= 2:
            target = max(present) if METRICS[name].higher_is_better else min(present)
            best = {i for i, v in enumerate(values) if v == target}
        rows.append((name, values, best))
    return rows


def _direction(name: str) -> str:
    if name not in METRICS or METRICS[name].higher_is_better is None:
        return ""
    return "↑" if METRICS[name].higher_is_better else "↓"


# ---- HTML -----------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
td.best { background: #d9f2d9; font-weight: bold; }
td.figure { text-align: center; }
img { max-width: 100%; }
.note { color: #666; font-size: 0.9em; }
"""


def _data_uri(path: Path) -> str:
    return f"data:{FIGURE_SUFFIXES[path.suffix]};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _figure_names(runs: list[RunMaterial]) -> list[str]:
    names = {p.name for r in runs for p in r.figures}
    return sorted(names, key=lambda n: _figure_rank(Path(n)))


def render_html(runs: list[RunMaterial], sweeps: Sequence[SweepMaterial] = ()) -> str:
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>latentcraft report</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>latentcraft report</h1>",
    ]
    if runs:
        parts += _runs_html(runs)
    parts += [_sweep_html(s) for s in sweeps]
    parts.append("</body></html>")
    return "\n".join(parts)


def _runs_html(runs: list[RunMaterial]) -> list[str]:
    e = html.escape
    head = "".join(f"<th>{e(r.title)}</th>" for r in runs)
    parts = [
        '<p class="note">Metrics on each run\'s test split (eval.json). Best value per row is highlighted '
        "(↑ higher is better, ↓ lower). DCI follows Eastwood &amp; Williams (ICLR 2018) with gradient-boosted "
        "trees, the classes as one-vs-rest factors, fitted on training codes and scored on test codes; "
        "the shortcut rows are the write-up's single-factor formula, fitted and scored on the same test codes.</p>",
        "<h2>Metrics</h2>", f"<table><tr><th>metric</th>{head}</tr>",
    ]
    for name, values, best in metric_rows(runs):
        cells = "".join(
            f'<td class="best">{e(format_value(v))}</td>' if i in best else f"<td>{e(format_value(v))}</td>"
            for i, v in enumerate(values)
        )
        parts.append(f"<tr><td>{e(metric_label(name))} {_direction(name)}</td>{cells}</tr>")
    parts.append("</table>")
    parts.append("<h2>Runs</h2><table><tr><th>run</th><th>folder</th><th>data</th><th>techniques</th>"
                 "<th>latent</th><th>test images</th></tr>")
    for r in runs:
        rec = r.record
        parts.append(f"<tr><td>{e(r.title)}</td><td>{e(str(r.run_dir))}</td><td>{e(r.data)}</td>"
                     f"<td>{e(', '.join(rec.get('techniques', [])) or 'none')}</td>"
                     f"<td>{rec.get('latent_dim', '')}</td><td>{rec.get('n_test', '')}</td></tr>")
    parts.append("</table>")
    parts.append(f"<h2>Figures</h2><table><tr><th>figure</th>{head}</tr>")
    for figure in _figure_names(runs):
        figure_cells = []
        for r in runs:
            match = [p for p in r.figures if p.name == figure]
            image = f'<img alt="{e(figure)} of {e(r.title)}" src="{_data_uri(match[0])}">' if match else "—"
            figure_cells.append(f'<td class="figure">{image}</td>')
        parts.append(f"<tr><td>{e(Path(figure).stem)}</td>{''.join(figure_cells)}</tr>")
    parts.append("</table>")
    return parts


def _sweep_html(sweep: SweepMaterial) -> str:
    e = html.escape
    summary = sweep.summary
    head = "".join(f"<th>{e(m.removeprefix('test_'))} mean ± std</th><th>min</th><th>max</th>"
                   for m in summary["metrics"])
    rows = []
    for s in summary["settings"]:
        cells = "".join(f"<td>{e(c)}</td>" for m in summary["metrics"] for c in stat_cells(s["metrics"].get(m)))
        rows.append(f"<tr><td>{e(s['label'])}</td><td>{s['runs_done']}/{s['runs_total']}</td>{cells}</tr>")
    notes = "<br>".join(e(line) for line in table_notes(summary))
    images = "".join(f'<img alt="{e(metric)} over seeds" src="{_data_uri(path)}">' for metric, path in sweep.figures)
    return (f"<h2>{e(sweep.title)}</h2><table><tr><th>setting</th><th>runs</th>{head}</tr>{''.join(rows)}</table>"
            f'<p class="note">{notes}</p>{images}')


# ---- Markdown -------------------------------------------------------------------------------------------


def _link(path: Path, relative_to: Path) -> str:
    return Path(os.path.relpath(path.resolve(), relative_to.resolve())).as_posix()


def render_markdown(runs: list[RunMaterial], relative_to: Path, sweeps: Sequence[SweepMaterial] = ()) -> str:
    lines = ["# latentcraft report", ""]
    if runs:
        lines += _runs_markdown(runs, relative_to)
    for sweep in sweeps:
        links = [f"![{m} over seeds]({_link(p, relative_to)})" for m, p in sweep.figures]
        lines += [f"## {sweep.title}", "", markdown_table(sweep.summary), *links, ""]
    return "\n".join(lines)


def _runs_markdown(runs: list[RunMaterial], relative_to: Path) -> list[str]:
    def cell(v: Any, is_best: bool) -> str:
        text = format_value(v)
        return f"**{text}**" if is_best else text

    lines = ["Best value per row in **bold** (↑ higher is better, ↓ lower). DCI: Eastwood & Williams (ICLR 2018), "
             "gradient-boosted trees, classes as one-vs-rest factors, held-out test codes. Shortcut rows: the "
             "write-up's single-factor formula on the same test codes.", "",
             "| metric | " + " | ".join(r.title for r in runs) + " |",
             "|---|" + "---:|" * len(runs)]
    for name, values, best in metric_rows(runs):
        cells = " | ".join(cell(v, i in best) for i, v in enumerate(values))
        lines.append(f"| {metric_label(name)} {_direction(name)} | {cells} |")
    lines += ["", "## Figures", ""]
    for r in runs:
        lines += [f"### {r.title}", ""] + ([f"Data: {r.data}", ""] if r.data else [])
        lines += [f"![{path.stem}]({_link(path, relative_to)})" for path in r.figures]
        lines.append("")
    return lines


def check_report_out(out: str | Path) -> Path:
    """The --out file, refused before any work (evaluating, plotting) if the report could not be written there."""
    if not str(out).strip():
        raise UsageError("--out: is empty; give the HTML file to write, e.g. report.html")
    out = Path(out)
    for path in (out, out.with_suffix(".md")):
        if path.is_dir() or (path.exists() and not path.is_file()):
            raise UsageError(f"--out {out}: {path} is a folder or not a regular file; give a file path such as "
                             f"{out / 'report.html' if path.is_dir() else 'report.html'}")
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {out}: must end in .html (its Markdown twin goes beside it, "
                         f"{out.with_suffix('.md').name})")
    folder = out.parent
    while not folder.exists():  # the report creates missing folders: the nearest existing one must take them
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"--out {out}: {folder} is a file, not a folder; choose another path")
    try:  # a trial file, gone at once: permissions, read-only disks and special folders all show here
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise UsageError(f"--out {out}: cannot write in {folder} ({err.strerror or err}); "
                         "check its permissions or choose another path") from None
    return out


def write_report(
    run_dirs: list[str | Path], out: str | Path, samples: int = 0, fit_limit: int = DEFAULT_FIT_LIMIT,
    progress: bool = True, data_path: str | Path | None = None,
) -> tuple[Path, Path]:
    """Write the HTML report to `out` and its Markdown twin beside it (same name, .md); returns both paths."""
    if not run_dirs:
        raise ValueError("report needs at least one run folder")
    out = check_report_out(out)
    runs = [load_run(d, samples, fit_limit, progress, data_path) for d in run_dirs if not shows_as_sweep(d)]
    # A sweep's figures go beside the report, in <report name>_sweeps/<sweep folder name>/.
    sweeps = [load_sweep(d, out.parent / f"{out.stem}_sweeps" / Path(d).resolve().name)
              for d in run_dirs if shows_as_sweep(d)]
    out.parent.mkdir(parents=True, exist_ok=True)
    markdown = out.with_suffix(".md")
    out.write_text(render_html(runs, sweeps))
    markdown.write_text(render_markdown(runs, out.parent, sweeps))
    return out, markdown
