"""benchmarks/bench_foundation.py keeps working: a quick run reports every timing with sane numbers."""

from pathlib import Path

import pytest

from conftest import load_script

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_foundation.py"


@pytest.fixture(scope="module")
def bench():
    return load_script(BENCH)


def test_quick_benchmark_reports_every_case(bench, mnist_dir):
    # One step case (the one that also times evaluation and checkpoints) keeps this test short.
    cases = [bench.STEP_CASES[0]]
    assert cases[0][0] == "routed10-original fp32"
    result = bench.run(quick=True, threads=1, cases=cases)
    names = [t["name"] for t in result["timings"]]
    assert any("train step: routed10-original fp32" in n for n in names)
    assert any(n.startswith("evaluate_split") for n in names) and "load_model" in names
    for t in result["timings"]:
        assert t["median_ms"] > 0 and t["per_second"] > 0, t
    table = bench.to_markdown(result)
    assert table.count("\n| ") == len(result["timings"]) + 2  # header, separator, one row per timing
    assert "s/epoch" in table
