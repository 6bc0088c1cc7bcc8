"""report.py and `latentcraft report`: every run's metrics and figures end up in one self-contained page."""

import base64
import json

import pytest
import torch

from latentcraft.cli.main import main
from latentcraft.config.run_config import resolve_config
from latentcraft.evaluation.evaluate import EVAL_FILE, evaluate_run
from latentcraft.evaluation.registry import format_value
from latentcraft.reporting.report import RunMaterial, list_figures, load_run, metric_rows
from latentcraft.techniques.registry import build_model
from latentcraft.training.checkpoint import save_model

SMALL = ["model.encoder_hidden=[32]", "model.decoder_hidden=[32]", "data.test_limit=150"]
FIT = 200  # training codes for probes and DCI trees: enough for a test, fast


def _save_run(folder, *overrides):
    torch.manual_seed(len(overrides))
    save_model(build_model(resolve_config(overrides=[*SMALL, *overrides])), folder)
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory, mnist_dir):
    root = tmp_path_factory.mktemp("runs")
    routed = _save_run(root / "routed", "name=routed", "routing.enabled=true", "model.relu_latent=true")
    ae = _save_run(root / "ae", "name=ae", "model.deterministic=true", "model.latent_dim=16", "classifier.enabled=true")
    evaluate_run(routed, fit_limit=FIT, progress=False)  # the other one is evaluated by the report itself
    return routed, ae


def test_report_has_every_metric_and_embeds_every_figure(runs, tmp_path, capsys):
    routed, ae = runs
    out = tmp_path / "out" / "report.html"
    assert main(["report", str(routed), str(ae), "--out", str(out), "--fit-limit", str(FIT), "--no-progress"]) == 0
    assert "report.html" in capsys.readouterr().out
    page = out.read_text()
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert (ae / EVAL_FILE).is_file()  # evaluated because it was missing
    for run in (routed, ae):
        record = json.loads((run / EVAL_FILE).read_text())
        assert f"{record['name']} ({run.name})" in page
        for value in record["metrics"].values():
            assert format_value(value) in page
            assert format_value(value) in markdown
        figures = list_figures(run / "figures")
        assert {p.name for p in figures} >= {"reconstructions.png", "unit_vectors.png", "dci_importance.png"}
        for path in figures:
            assert base64.b64encode(path.read_bytes()).decode() in page  # embedded, not linked
            assert f"{run.name}/figures/{path.name}" in markdown  # linked relative to report.md
    assert {"interpolation.gif", "style_transfer.png"} <= {p.name for p in list_figures(routed / "figures")}
    assert "style transfer: digit judge reads the digit asked for" in page  # labelled through the registry
    assert "data:image/gif;base64," in page
    assert 'src="/' not in page and "src='http" not in page  # self-contained
    assert 'class="best"' in page and "**" in markdown


def test_best_value_per_row_follows_the_metric_direction(tmp_path):
    def run(name, **metrics):
        return RunMaterial(tmp_path, name, {"name": name, "metrics": metrics}, [])

    rows = {name: best for name, _, best in metric_rows([
        run("a", test_recon_bce=100.0, dci_disentanglement=0.9, knn_probe_accuracy=0.5, test_loss=1.0),
        run("b", test_recon_bce=90.0, dci_disentanglement=0.1, knn_probe_accuracy=0.5, test_loss=2.0),
        run("c", test_recon_bce=95.0),
    ])}
    assert rows["test_recon_bce"] == {1}  # lower is better
    assert rows["dci_disentanglement"] == {0}  # higher is better
    assert rows["knn_probe_accuracy"] == {0, 1}  # ties are all marked
    assert rows["test_loss"] == set()  # each run's own objective: not comparable


def test_load_run_reuses_existing_eval_and_figures(runs):
    routed, _ = runs
    before = (routed / EVAL_FILE).stat().st_mtime_ns
    material = load_run(routed, fit_limit=FIT, progress=False)
    assert (routed / EVAL_FILE).stat().st_mtime_ns == before
    assert material.record["metrics"] == json.loads((routed / EVAL_FILE).read_text())["metrics"]
    assert material.figures == list_figures(routed / "figures")
