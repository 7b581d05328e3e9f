"""`nfcore plan` (`nfcore.sweep.capacity`): a higher rate never needs fewer chips, a forest
that fits no count tried is refused naming --max-chips, and bad options are one line naming
the option and its range."""

from __future__ import annotations

import dataclasses
import math

import pytest

from nfcore.cli import main
from nfcore.config import CoreConfig, MeshConfig, NFCoreConfig
from nfcore.errors import ConfigError, NFCoreError
from nfcore.sim.system.workload import SystemWorkload, synthetic_workload
from nfcore.sweep.capacity import plan_chips, with_chips
from nfcore.sweep.executors import LocalExecutor

SMALL = dataclasses.replace(NFCoreConfig(), mesh=MeshConfig(rows=2, cols=2),
                            core=CoreConfig(weight_sram_bytes=16384))


def _forest(cfg: NFCoreConfig, chips: int) -> SystemWorkload:
    return synthetic_workload(with_chips(cfg, chips), 24, 300, 2, seed=0, paged_fraction=0.3,
                              input_dims=(16, 48), hidden_dims=(16, 48), output_dims=(4, 8))


def test_a_higher_rate_never_needs_fewer_chips() -> None:
    one, spread = _forest(SMALL, 1), _forest(SMALL, 2)
    answers = []
    for rate_rps in (1e4, 1e5, 1e6, 3e6):
        plan = plan_chips(SMALL, one, spread, rate_rps, 2.5e-6, 3)
        assert [p.chips for p in plan.points] == [1, 2, 3]
        answers.append(plan.answer or math.inf)
    assert answers == sorted(answers)
    assert len(set(answers)) > 1  # the rates span more than one answer: the test can fail


def test_a_forest_that_fits_no_count_names_max_chips() -> None:
    tiny = dataclasses.replace(SMALL, core=CoreConfig(weight_sram_bytes=1024))
    with pytest.raises(NFCoreError) as one:
        _forest(tiny, 1)
    with pytest.raises(NFCoreError, match=r"--max-chips = 2: the forest fits none of 1 to 2"):
        plan_chips(tiny, one.value, _forest(tiny, 2), 1e5, 1e-3, 2)


@pytest.mark.parametrize(("rate", "p99", "max_chips", "message"), [
    (0.0, 10e-6, 4, "--rate-rps = 0 is out of range; allowed > 0 requests/s"),
    (1e5, -1e-6, 4, "--p99-us = -1 is out of range; allowed > 0 µs"),
    (1e5, 10e-6, 65, "--max-chips = 65 is out of range; allowed 1 to 64 chips"),
])
def test_bad_options_name_the_option_and_its_range(rate: float, p99: float, max_chips: int,
                                                   message: str) -> None:
    one = _forest(SMALL, 1)
    with pytest.raises(ConfigError) as err:
        plan_chips(SMALL, one, one, rate, p99, max_chips)
    assert message in str(err.value)


@pytest.mark.parametrize(("args", "message"), [
    (["--rate-rps", "-5", "--p99-ms", "1"], "--rate-rps = -5 is out of range"),
    (["--rate-rps", "1e5", "--p99-us", "10", "--topology", "ring"],
     "--topology = 'ring' is not allowed; choose one of star, chain"),
])
def test_the_command_answers_bad_input_in_one_line(args: list[str], message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_worker_processes_give_the_same_plan() -> None:
    one, spread = _forest(SMALL, 1), _forest(SMALL, 2)
    executor = LocalExecutor(2)
    try:
        parallel = plan_chips(SMALL, one, spread, 1e6, 2.5e-6, 2, executor=executor)
    finally:
        executor.close()
    assert parallel == plan_chips(SMALL, one, spread, 1e6, 2.5e-6, 2)
