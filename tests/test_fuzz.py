"""The random-program fuzzer (sim/fuzz*.py): its programs are race free, machine == RTL
on a few hundred legal and illegal programs over two fixed random configurations, a
planted model bug is found, shrunk and replayed, and the CLI works as documented."""

import subprocess
import sys

import numpy as np
import pytest

from systolica.demo import demo_config
from systolica.model.config import AcceleratorConfig
from systolica.model.isa import Status
from systolica.model.machine import SCHEDULES, Machine, run
from systolica.sim.fuzz import FuzzTotals, run_cases, shrink
from systolica.sim.fuzz_cases import CaseSpec, build_case, case_spec, fuzz_config
from systolica.sim.fuzz_programs import legal_program, program_bytes

#: the fixed regression: a random configuration (fuzz_config(2): 2x6, 32-bit bus, 4
#: scratchpad banks, queues of 4) and the demo's 8x8 (built for other tests anyway); `make
#: fuzz` covers six random configurations (non-square, one or both dataflows, 16- to 64-bit
#: accumulators, 32- to 256-bit buses)
CONFIG_SEEDS = (2,)
CONFIGS = (None, demo_config())


@pytest.mark.parametrize("cfg", [AcceleratorConfig(rows=3, cols=5, spad_rows=64, acc_rows=32, queue_depth=2),
                                 AcceleratorConfig(rows=4, cols=2, spad_rows=64, acc_rows=32, dataflows=("os",))],
                         ids=["3x5", "4x2_os"])
def test_legal_programs_are_race_free(cfg, seed):
    """Every token-respecting schedule leaves the same DRAM image (and status OK)."""
    rng = np.random.default_rng(seed)
    for k in range(12):
        flood = 250 if k == 0 else 0      # below TOKEN_MAX: no deadlock
        prog = program_bytes(legal_program(rng, cfg, (0x10000, 0x12000), int(rng.integers(5, 60)), flood=flood))
        assert len(prog) <= 0x10000
        base = bytearray(rng.integers(0, 256, size=0x12000, dtype=np.uint8).tobytes())
        base[:len(prog)] = prog
        images = set()
        for schedule in SCHEDULES:
            dram = bytearray(base)
            r = run(cfg, dram, 0, (0, len(dram)), schedule=schedule)
            assert r.status is Status.OK, (k, schedule, r)
            images.add(bytes(dram))
        assert len(images) == 1, f"program {k}: schedules disagree"


def test_machine_equals_rtl_on_random_programs():
    """A few hundred programs on two configurations (the fixed seeds of `make test`;
    `make fuzz` runs ten thousand): every status of the contract shows up, and not one
    mismatch."""
    totals = FuzzTotals()
    found = []
    for cfg in CONFIGS:
        found += run_cases([case_spec(CONFIG_SEEDS[0], 7000 + i) for i in range(60)], totals, cfg)
    print(f"{totals.programs} programs, {totals.cases} cases, configurations {sorted(totals.configs)}, "
          f"statuses {totals.statuses}")
    assert not found, "\n".join(f"{m}\n  replay: systolica fuzz --replay '{m.spec}'" for m in found)
    assert totals.programs >= 300
    for status in ("OK", "DMA", "DEADLOCK", "NO_END", "FETCH_WINDOW", "ILLEGAL_TOKENS", "ABORTED"):
        assert totals.statuses.get(status), f"no program ended {status}: {totals.statuses}"


def test_a_planted_bug_is_found_shrunk_and_replayed(monkeypatch):
    """Break the golden model (tiles ignore ``accumulate``): the fuzzer reports a
    mismatch, the shrinker makes the case smaller, and its replay line reproduces it."""
    compute = Machine.compute

    def broken(self, c, counters=None):
        compute(self, dict(c, accumulate=0), counters)

    monkeypatch.setattr(Machine, "compute", broken)
    specs = [case_spec(CONFIG_SEEDS[0], 9000 + i) for i in range(20)]
    found = run_cases(specs)
    assert found, "the planted bug went unnoticed"
    first = found[0]
    small = shrink(first, budget=40)
    size = lambda s: (len(s.programs), sum(p.n for p in s.programs))  # noqa: E731
    assert size(small.spec) <= size(first.spec) and small.spec.faults == 0
    assert run_cases([CaseSpec.parse(str(small.spec))]), "the replay line does not reproduce it"


def test_cases_are_built_the_same_from_their_replay_line():
    spec = case_spec(5, 123)
    assert CaseSpec.parse(str(spec)) == spec
    a, b = build_case(spec), build_case(CaseSpec.parse(str(spec)))
    assert a.dram == b.dram and a.programs == b.programs and a.cfg == fuzz_config(5)
    fp8 = case_spec(5, 123, fp8=True)              # FP8: the line says so, the grid is the same
    assert str(fp8).endswith(":Tfp8") and CaseSpec.parse(str(fp8)) == fp8
    cfg = build_case(CaseSpec.parse(str(fp8))).cfg
    assert cfg == fuzz_config(5, fp8=True) and cfg.is_float and (cfg.rows, cfg.cols) == (a.cfg.rows, a.cfg.cols)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "systolica.cli", "fuzz", *args], capture_output=True,
                          text=True, timeout=1800)


def test_fuzz_cli_prints_totals_and_a_bad_replay_line_is_one_error():
    r = _cli("-n", "20", "--configs", "1", "--seed", str(CONFIG_SEEDS[0]), "--batch", "10")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    last = r.stdout.strip().splitlines()[-1]
    assert "programs/s" in last and last.endswith("0 mismatches"), last
    r = _cli("--replay", "C1:nonsense")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "replay spec" in r.stderr, r.stderr
    r = _cli("-n", "0")
    assert r.returncode == 2 and "--n=0" in r.stderr
    r = _cli("--fp8", "--config", "any.json")
    assert r.returncode == 2 and "--fp8 and --config: give one" in r.stderr and "Traceback" not in r.stderr
