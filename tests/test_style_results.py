"""benchmarks/style_results.py: per-seed training and evaluate metrics of a sweep, as mean ± std."""

import json
from pathlib import Path

from conftest import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "style_results.py"


def _seed(sweep: Path, seed: int, argmax: float, probe: float | None) -> None:
    run = sweep / "trials" / "00_base" / f"seed-{seed}"
    run.mkdir(parents=True)
    final = {"test_argmax_accuracy": argmax, "test_recon_sq": 10.0 + seed, "test_elbo": -100.0}
    (run / "summary.json").write_text(json.dumps({"final": final, "wall_time_s": 60.0}))
    if probe is not None:
        (run / "eval.json").write_text(json.dumps({"metrics": {"style_probe_accuracy": probe, "test_elbo": -101.0}}))


def test_the_table_aggregates_every_seed_and_counts_the_evaluated_ones(tmp_path, capsys):
    script = load_script(SCRIPT)
    _seed(tmp_path, 0, 0.97, 0.5)
    _seed(tmp_path, 1, 0.98, 0.3)
    _seed(tmp_path, 2, 0.99, None)  # not evaluated yet
    records = script.seed_records(tmp_path)
    assert [r["test_argmax_accuracy"] for r in records] == [0.97, 0.98, 0.99]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in script.table(records).splitlines()[2:]}
    assert rows["test_argmax_accuracy"] == "| test_argmax_accuracy | 0.9800 ± 0.0100 | 0.9700 | 0.9900 | 3 |"
    assert rows["eval style_probe_accuracy"].endswith("| 0.3000 | 0.5000 | 2 |")
    assert script.main([str(tmp_path), str(tmp_path / "missing")]) == 0
    out, err = capsys.readouterr()
    assert "eval test_elbo" in out and "no finished seed" in err
