"""``python -m systolica.cycle_trace``: the same random programs on two revisions' hardware,
cycle for cycle."""

import subprocess
import sys

import pytest

from systolica import cycle_trace


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "systolica.cycle_trace", *args], capture_output=True, text=True)


@pytest.mark.parametrize("args, names", [
    (["--configs", "fuzz:0"], "--configs 'fuzz:0'"),
    (["--configs", "board:0:1"], "--configs 'board:0:1'"),
    (["--configs", "fuzz:0:0"], "--configs 'fuzz:0:0'"),
    (["--against", "no-such-revision"], "--against no-such-revision"),
    (["--out", "/no/such/folder/trace.json"], "--out /no/such/folder/trace.json"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, names):
    p = _cli(*args)
    assert p.returncode == 2, p
    assert p.stderr.strip().startswith(names) and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_the_first_difference_names_the_program_and_the_field():
    row = {"config": "fuzz:0", "case": "C0", "program": 1, "timer": 10, "counters": {"cycles": 9}}
    assert cycle_trace._first_difference([row], [dict(row)]) is None
    late = dict(row, timer=11)
    assert cycle_trace._first_difference([row], [late]) == "fuzz:0 case C0 program 1: timer: 10 against 11"
    assert cycle_trace._first_difference([row], []) == "1 programs against 0"


@pytest.mark.slow
def test_this_tree_equals_its_own_commit():
    """Run where the tree is committed (CI's fresh clone): the trace of HEAD's hardware is
    this tree's."""
    p = _cli("--against", "HEAD", "--configs", "fuzz:0:1")
    assert p.returncode == 0, p.stdout + p.stderr[-3000:]
    assert "are the same on" in p.stdout
