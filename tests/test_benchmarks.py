"""The benchmark scripts run, on samples small enough for the test suite.

Only that they run and report what they claim to report: the numbers they
print are machine-dependent and never asserted on.
"""

import json
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).parents[1] / "benchmarks"


def _run(script, *arguments):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("machine: ")
    assert "torch" in lines[0] and "hidden form" in lines[0]
    return lines


def _records(lines):
    return {
        line.split(": ", 1)[0]: json.loads(line.split(": ", 1)[1])
        for line in lines
        if line.split(": ", 1)[-1].startswith("{")
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("suite", "expected"),
    [
        ("punzi-epoch", {"punzi-skpunzi", "punzi-sparse", "punzi-index-add"}),
        ("bce-epoch", {"bce-skpunzi", "bce-dataloader"}),
        ("predict", {"predict"}),
        ("hidden-forms", {"hidden-forms"}),
    ],
)
def test_bench_training_suites_report_every_measurement(suite, expected):
    lines = _run("bench_training.py", suite, "--events", "20000", "--repeat", "1")
    records = _records(lines)
    assert set(records) == expected
    for record in records.values():
        times = [value for key, value in record.items() if key.endswith(("_s", "_us"))]
        assert times and all(value > 0 for value in times)


@pytest.mark.slow
def test_bench_training_bce_loss_and_fit():
    records = _records(
        _run("bench_training.py", "bce-loss", "--events", "20000", "--repeat", "1")
    )
    result = records["bce-to-loss"]
    assert len(result["reference_curve"]) == result["reference_epochs"]
    assert result["skpunzi_defaults"]["seconds"] > 0

    records = _records(
        _run("bench_training.py", "fit", "--events", "5000", "--repeat", "1")
    )
    assert records["fit"]["punzi_epochs"] > 0 and records["fit"]["fit_s"] > 0


@pytest.mark.slow
def test_bench_training_scaling_writes_its_plot(tmp_path):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "scaling.png"
    lines = _run(
        "bench_training.py",
        "scaling",
        "--events",
        "30000",
        "--repeat",
        "1",
        "--plot",
        str(plot),
    )
    rows = [json.loads(line) for line in lines if line.startswith("{")]
    assert [row["series"] for row in rows] == ["events"] * 3 + ["pairs"] * 4 + [
        "hypotheses"
    ] * 4
    assert [row["events"] for row in rows[:3]] == [3333, 10000, 30000]
    assert {row["events"] for row in rows[3:]} == {10000}
    assert plot.stat().st_size > 0


@pytest.mark.slow
def test_bench_fom_runs():
    lines = _run("bench_fom.py", "20000", "8")
    assert any("threshold='optimal'" in line for line in lines)
    assert sum("mean FOM" in line for line in lines) == 3
