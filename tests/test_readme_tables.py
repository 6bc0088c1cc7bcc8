"""benchmarks/readme_tables.py: the README's generated tables come from sweep folders and only from them."""

import json
from pathlib import Path

import pytest

from latentcraft.config.run_config import resolve_config

from conftest import load_script

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
LABELS = ["slant →", "wider", "mixed (width, height)", "little effect", "bolder", "taller", "slant ←", "thinner",
          "narrower", "shorter"]


@pytest.fixture
def script(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return load_script(BENCHMARKS / "readme_tables.py")


def _seed(sweep: Path, seed: int, final: dict, wall: float, metrics: dict | None = None, trial: str = "00_base",
          overrides: tuple[str, ...] = ()):
    run = sweep / "trials" / trial / f"seed-{seed}"
    run.mkdir(parents=True)
    config = resolve_config("routed10", overrides=[*overrides, f"train.seed={seed}", "train.threads=1"])
    (sweep / "sweep.json").write_text(json.dumps({"base": {"name": config.name}}))
    config.name = f"{config.name} {trial}"  # as a sweep names its trials' runs
    config.save(run / "config.json")
    (run / "summary.json").write_text(json.dumps({"final": final, "wall_time_s": wall}))
    if metrics is not None:
        report = {"metrics": metrics, "style": {"labels": [{"label": label} for label in LABELS]}}
        (run / "eval.json").write_text(json.dumps(report))


def _sweeps(root: Path) -> None:
    for seed, argmax in enumerate([0.986, 0.990]):
        robust = {"argmax_accuracy_rotate_ccw": 0.96, "argmax_accuracy_rotate_cw": 0.94 + seed / 100,
                  "argmax_accuracy_thicker": 0.97, "argmax_accuracy_thinner": 0.99}
        _seed(root / "routed-style", seed, {"test_argmax_accuracy": argmax, "test_recon_sq": 10.0 + seed}, 200.0,
              {"test_elbo": -100.0 - seed, "handwriting_accuracy": 0.9, "handwriting_judge_accuracy": 0.86,
               "style_probe_accuracy": 0.3, "style_transfer_accuracy": 0.98, **robust})
        _seed(root / "routed-style-previous", seed, {"test_argmax_accuracy": 0.97, "test_recon_sq": 12.0}, 150.0,
              {"test_elbo": -104.0})  # no few-label sweeps of it
        _seed(root / "plain-style", seed, {"test_recon_sq": 8.0}, 100.0, {"test_elbo": -98.0})
        _seed(root / "routed10", seed, {"test_argmax_accuracy": 0.97}, 50.0 + 50 * seed)
        _seed(root / "routed-style-10-per-class", seed, {"test_argmax_accuracy": 0.9}, 200.0)
        _seed(root / "routed-style-1pct", seed, {"test_argmax_accuracy": 0.95}, 200.0)
    for trial, argmax in (("00_routing.consistency=0", 0.7), ("01_routing.consistency=1", 0.8)):
        weight = trial.split("=")[1]
        _seed(root / "tries-few-labels", 0, {"test_argmax_accuracy": argmax, "test_recon_sq": 30.0}, 60.0,
              trial=trial, overrides=("data.augment=true", f"routing.consistency={weight}"))


def test_the_targets_table_is_computed_from_the_sweeps_and_says_what_is_missed(script, tmp_path):
    _sweeps(tmp_path)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in script.TABLES["robust-axes"](tmp_path).splitlines()}
    assert rows["test argmax of the routed coordinates"] == (  # the verdict judges the last column
        "| test argmax of the routed coordinates | 97.00 ± 0.00% (97.00 to 97.00, 2 seeds) "
        "| 98.80 ± 0.28% (98.60 to 99.00, 2 seeds) | ≥ 98.5%, min seed ≥ 98% | met |")
    assert rows["squared error / image"].endswith("| ≤ 11 | met |")  # 10.5 on average
    assert "| 2.50 ± 0.71 (2.00 to 3.00, 2 seeds) | ≤ 3 | met |" in rows["ELBO (1 sample), nats behind `plain-style`"]
    assert "| 94.50 ± 0.71% (94.00 to 95.00, 2 seeds) | ≥ 95% | missed by 0.50 points |" in rows[
        "worst of rotations ±15°, thicker, thinner"]
    assert rows["10 labels per class"].endswith(
        "| – | 90.00 ± 0.00% (90.00 to 90.00, 2 seeds) | ≥ 97% | missed by 7.00 points |")
    assert "| 6.00 ± 0.00 (6.00 to 6.00, 2 seeds) | 2.50 ± 0.71" in rows["ELBO (1 sample), nats behind `plain-style`"]
    assert "| 8.00 ± 0.00 (8.00 to 8.00, 2 seeds) | all 10 | missed by 2.00 |" in rows[
        "style sliders with a measured meaning (of 10)"]
    assert "| 2.67 ± 0.00 (2.67 to 2.67, 2 seeds) | ≤ 2.5× | missed by 0.17 |" in rows[
        "training time, × `routed10`'s whole run"]  # 200 s against routed10's median of 50 and 100 s


def test_the_presets_table_lists_each_presets_seeds_and_median_time(script, tmp_path):
    _sweeps(tmp_path)
    lines = script.TABLES["presets"](tmp_path).splitlines()
    assert lines[2] == "| `routed10` | 97.00 ± 0.00% (97.00 to 97.00, 2 seeds) | – | – | – | 75 s |"
    assert lines[3].startswith(
        "| `routed-style` | 98.80 ± 0.28% (98.60 to 99.00, 2 seeds) | 10.50 ± 0.71 (10.00 to 11.00, 2 seeds) |")


def test_the_readme_blocks_are_rewritten_and_nothing_else(script, tmp_path):
    _sweeps(tmp_path / "sweeps")
    readme = tmp_path / "README.md"
    text = ("# Title\nhand-written prose\n<!-- table: tries -->\n| old |\n<!-- /table -->\nmore prose\n"
            "<!-- table: robust-axes -->\nold\n<!-- /table -->\n")
    readme.write_text(text)
    args = ["--sweeps", str(tmp_path / "sweeps"), "--readme", str(readme)]
    assert script.main([*args, "--check"]) == 1  # out of date, nothing written
    assert readme.read_text() == text
    assert script.main(args) == 0
    after = readme.read_text()
    assert after.startswith("# Title\nhand-written prose\n<!-- table: tries -->\n| sweep |")
    assert ("| tries-few-labels | `routed10` data.augment=True routing.consistency=1.0 | 1 | 80.00% (1 seed) | "
            "30.00 (1 seed) | – | – | – |") in after
    assert "\nmore prose\n<!-- table: robust-axes -->\n| | `routed-style` before" in after
    assert script.main([*args, "--check"]) == 0


def test_a_table_whose_sweeps_are_missing_is_left_as_it_was_and_the_commands_are_named(script, tmp_path, capsys):
    readme = tmp_path / "README.md"
    text = "<!-- table: robust-axes -->\nold\n<!-- /table -->\n"
    readme.write_text(text)
    assert script.main(["--sweeps", str(tmp_path / "none"), "--readme", str(readme)]) == 1
    assert readme.read_text() == text
    err = capsys.readouterr().err
    assert "left as it was: robust-axes" in err and "--preset plain-style --out sweeps/plain-style" in err
