"""`nfcore train`: trains, prints the summary, saves a forest another process can load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from forest.datasets import load_dataset
from forest.io import load_forest
from nfcore.cli import main

LOAD_AND_PREDICT = """
import sys, numpy as np
from forest.datasets import load_dataset
from forest.io import load_forest
forest = load_forest(sys.argv[1])
np.save(sys.argv[2], forest.predict(load_dataset("iris").x_test).probs.numpy())
"""


def test_cli_trains_summarises_and_the_forest_loads_in_a_fresh_process(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "forests" / "iris"
    code = main(["train", "--dataset", "iris", "--trees", "3", "--top-k", "2", "--epochs", "60",
                 "-o", str(out), "-q"])
    assert code == 0
    text = capsys.readouterr().out
    for needle in ("forest (top-2)", "mlp trees only (top-2)", "monolith (mlp, ",
                   "monolith ladder (width x depth", "params touched/request",
                   "touched per request, forest / monolith", "specialization:",
                   f"saved to {out}"):
        assert needle in text, needle
    forest = load_forest(out)
    assert forest.n_trees == 3 and forest.top_k == 2
    assert forest.meta["monolith"]["accuracy"] >= 0
    # the row printed for the forest is the accuracy of the forest that was saved
    acc = forest.accuracy(load_dataset("iris").x_test, load_dataset("iris").y_test)
    assert "forest (top-2)" in text and f"{acc:.4f}" in text.split("forest (top-2)")[1][:30]
    subprocess.run([sys.executable, "-c", LOAD_AND_PREDICT, str(out), str(tmp_path / "p.npy")],
                   check=True, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"),
                                  forest.predict(load_dataset("iris").x_test).probs.numpy())


@pytest.mark.parametrize(("args", "message"), [
    (["--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["--dataset", "wine", "--trees", "3", "--kinds", "mlp,cnn"],
     "--trees 3 must be a positive multiple of the 2 tree kinds"),
    (["--dataset", "wine", "--trees", "2", "--top-k", "3"], "--top-k 3 must be between 1"),
])
def test_cli_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            args: list[str], message: str) -> None:
    assert main(["train", *args, "-o", str(tmp_path / "f"), "-q", "--no-monolith"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nfcore: error: ") and message in err and "\n" not in err


def test_trees_on_a_task_dataset_make_one_task_per_region(tmp_path: Path) -> None:
    from forest.command import run_train

    result = run_train("multitask", tmp_path / "f", trees=40, epochs=1, monolith=False,
                       quiet=True)
    assert result.data.n_tasks == 40 and result.forest.n_trees == 40
    assert result.forest.meta["partition_mode"] == "task"
