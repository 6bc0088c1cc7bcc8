"""Where an export lands: built beside its target and renamed into place, never over what it did not write.

Uses the routed10 run shipped in the package, so nothing trains.
"""

import json
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from latentcraft.cli.main import main
from latentcraft.explorer import export as explorer
from latentcraft.explorer import onnx_graphs, site_bundle
from latentcraft.explorer.pretrained import DEFAULT_MODEL, pretrained_run
from latentcraft.training.checkpoint import WEIGHTS_FILE

DIGITS = 32  # test digits per exported site: enough to check, quick to write


def snapshot(folder):
    """Every file under `folder` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def working_folders(parent):
    """What an export may leave beside its target: its build folder or the site it replaced."""
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, mnist_dir):
    """A site of the shipped model, exported once; tests copy it."""
    site = tmp_path_factory.mktemp("exported") / "site"
    explorer.export_site(pretrained_run(), site, max_digits=DIGITS)
    return site


@pytest.fixture
def old_site(exported, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(exported, site)
    (site / "left-by-the-old-export.txt").write_text("old")
    return site


def export_cli(capsys, *args):
    code = main(["export", *map(str, args)])
    err = capsys.readouterr().err.strip()
    return code, err


def test_a_users_own_folder_is_refused_and_left_untouched(tmp_path, capsys, mnist_dir):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("<h1>my page</h1>")
    (mine / "style.css").write_text("h1 { color: red }")
    before = snapshot(mine)
    code, err = export_cli(capsys, pretrained_run(), "--out", mine)
    assert code == 1 and len(err.splitlines()) == 1
    assert str(mine) in err and "--force" in err and "--out" in err
    assert snapshot(mine) == before and working_folders(tmp_path) == []


def test_force_replaces_a_users_folder_with_the_site(tmp_path, capsys, mnist_dir):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("<h1>my page</h1>")
    (mine / "notes.txt").write_text("mine")
    assert main(["export", str(pretrained_run()), "--out", str(mine), "--force"]) == 0
    assert explorer.is_site(mine) and not (mine / "notes.txt").exists()
    assert (mine / "index.html").read_bytes() != b"<h1>my page</h1>"
    assert working_folders(tmp_path) == []


def test_a_manifest_that_is_not_ours_does_not_make_a_site(tmp_path, capsys, mnist_dir):
    app = tmp_path / "app"  # e.g. a web app's own manifest.json
    app.mkdir()
    (app / explorer.MANIFEST_FILE).write_text('{"name": "My app", "start_url": "/"}')
    code, err = export_cli(capsys, pretrained_run(), "--out", app)
    assert code == 1 and "not a site latentcraft exported" in err
    assert json.loads((app / explorer.MANIFEST_FILE).read_text())["name"] == "My app"


def test_an_empty_or_missing_folder_takes_the_site(tmp_path, mnist_dir):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "new" / "deeper"):
        manifest = explorer.export_site(pretrained_run(), out, max_digits=DIGITS)
        assert json.loads((out / explorer.MANIFEST_FILE).read_text()) == manifest
    assert working_folders(tmp_path) == [] and working_folders(tmp_path / "new") == []


def test_a_re_export_replaces_the_old_site_completely(old_site, tmp_path):
    manifest = explorer.export_site(pretrained_run(), old_site, max_digits=DIGITS // 2)
    assert manifest["digits"] == DIGITS // 2
    assert not (old_site / "left-by-the-old-export.txt").exists()
    assert (old_site / explorer.LABELS_FILE).stat().st_size == DIGITS // 2
    assert working_folders(tmp_path) == []


def test_several_models_over_a_one_model_site_leave_no_old_root_graphs(old_site, tmp_path):
    root = explorer.export_sites([pretrained_run(), pretrained_run()], old_site, max_digits=DIGITS)
    assert [m["name"] for m in root["models"]] == [DEFAULT_MODEL, f"{DEFAULT_MODEL}-2"]
    for stale in (explorer.ENCODER_FILE, explorer.DECODER_FILE, explorer.DIGITS_FILE, "left-by-the-old-export.txt"):
        assert not (old_site / stale).exists(), stale
    assert json.loads((old_site / explorer.MANIFEST_FILE).read_text()) == root
    assert working_folders(tmp_path) == []


def _failing_check(*args, **kwargs):
    raise onnx_graphs.ExportError("onnxruntime and torch disagree on output 'mu' (made to fail)")


def test_a_failing_self_check_leaves_the_old_site_as_it_was(old_site, tmp_path, monkeypatch):
    before = snapshot(old_site)
    monkeypatch.setattr(onnx_graphs, "check_graph", _failing_check)
    with pytest.raises(explorer.ExportError, match="made to fail"):
        explorer.export_site(pretrained_run(), old_site, max_digits=DIGITS)
    assert snapshot(old_site) == before and working_folders(tmp_path) == []


def test_a_failing_several_model_export_leaves_the_old_site_as_it_was(old_site, tmp_path, monkeypatch):
    before = snapshot(old_site)
    monkeypatch.setattr(onnx_graphs, "check_graph", _failing_check)
    with pytest.raises(explorer.ExportError, match="made to fail"):
        explorer.export_sites([pretrained_run(), pretrained_run()], old_site, max_digits=DIGITS)
    assert snapshot(old_site) == before and working_folders(tmp_path) == []


def test_nan_weights_leave_the_old_site_as_it_was(old_site, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(pretrained_run(), run)
    tensors = load_file(str(run / WEIGHTS_FILE))
    name = next(k for k, t in tensors.items() if t.is_floating_point())
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    save_file(tensors, str(run / WEIGHTS_FILE))
    before = snapshot(old_site)
    code, err = export_cli(capsys, run, "--out", old_site)
    assert code == 1 and WEIGHTS_FILE in err and "NaN" in err
    assert snapshot(old_site) == before and working_folders(tmp_path) == []


def test_ctrl_c_mid_export_leaves_the_old_site_and_no_build_folder(old_site, tmp_path, monkeypatch, capsys):
    def interrupted(*args):
        raise KeyboardInterrupt

    before = snapshot(old_site)
    monkeypatch.setattr(site_bundle, "copy_pages", interrupted)
    assert main(["export", str(pretrained_run()), "--out", str(old_site)]) == 130
    assert snapshot(old_site) == before and working_folders(tmp_path) == []


def test_a_build_folder_left_by_a_killed_export_is_removed_next_time(old_site, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    for kind in ("export", "replaced"):
        leftover = tmp_path / f".site.{kind}-{pid}-0123abcd"
        leftover.mkdir()
        (leftover / explorer.ENCODER_FILE).write_bytes(b"half written")
    someone_elses = tmp_path / ".other.export-1-0123abcd"  # another target's: not ours to remove
    someone_elses.mkdir()
    explorer.export_site(pretrained_run(), old_site, max_digits=DIGITS)
    assert working_folders(tmp_path) == [someone_elses.name]


@pytest.mark.parametrize("out", ["run itself", "a folder holding the run"])
def test_the_run_folder_is_never_the_site_even_with_force(tmp_path, capsys, out):
    run = tmp_path / "runs" / "routed10"
    shutil.copytree(pretrained_run(), run)
    target = run if out == "run itself" else run.parent
    before = snapshot(run)
    code, err = export_cli(capsys, run, "--out", target, "--force")
    assert code == 1 and "holds the run folder" in err
    assert snapshot(run) == before


def test_a_file_in_the_way_is_refused(tmp_path, capsys):
    (tmp_path / "site").write_text("a file")
    code, err = export_cli(capsys, pretrained_run(), "--out", tmp_path / "site", "--force")
    assert code == 2 and "is a file" in err  # a usage error: --out names a file
    assert (tmp_path / "site").read_text() == "a file"


def test_export_through_a_symlink_keeps_the_link(old_site, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(old_site)
    explorer.export_site(pretrained_run(), link, max_digits=DIGITS)
    assert link.is_symlink() and explorer.is_site(old_site)
    assert not (old_site / "left-by-the-old-export.txt").exists()
