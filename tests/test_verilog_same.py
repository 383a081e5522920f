"""``python -m systolica.verilog_same``: two revisions' generated Verilog, byte for byte."""

import json
import subprocess
import sys

import pytest

from systolica import tree_snapshot


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "systolica.verilog_same", *args], capture_output=True, text=True,
                          env=env)


@pytest.mark.parametrize("args, names", [
    (["--configs", "fuzz"], "--configs 'fuzz'"),
    (["--configs", "demo,board:1"], "--configs 'board:1'"),
    (["--units", "top,chip"], "--units 'chip'"),
    (["--targets", "xilinx"], "--targets 'xilinx'"),
    (["--against", "no-such-revision"], "--against no-such-revision"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, names):
    p = _cli(*args)
    assert p.returncode == 2, p
    assert p.stderr.strip().startswith(names) and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_the_snapshot_is_what_the_process_generates(tmp_path):
    """The hashes come from the snapshot's hardware, not this tree's: a copy of this tree
    whose PE names one register differently generates other Verilog (were the snapshot
    not imported, both would be this tree's and every comparison would pass)."""
    import os

    tree = tmp_path / "tree"
    tree.mkdir()
    tree_snapshot.snapshot(None, tree)
    pe = tree / "hw" / "pe.py"
    source = pe.read_text()
    assert source.count('reg_name="ctrl_pass"') == 1
    pe.write_text(source.replace('reg_name="ctrl_pass"', 'reg_name="ctrl_passed"'))
    args = ["--configs", "fuzz:0", "--units", "array", "--targets", "generic"]
    runs = {}
    for name, env in (("tree", None), ("changed", dict(os.environ, **{tree_snapshot.TREE_ENV: str(tree)}))):
        out = tmp_path / f"{name}.json"
        p = _cli(*args, "--out", str(out), env=env)
        assert p.returncode == 0, p.stderr[-3000:]
        runs[name] = json.loads(out.read_text())
    assert runs["tree"].keys() == runs["changed"].keys() and len(runs["tree"]) == 1
    assert runs["tree"] != runs["changed"]


@pytest.mark.slow
def test_this_tree_equals_its_own_commit():
    """Run where the tree is committed (CI's fresh clone): HEAD's Verilog is this tree's."""
    p = _cli("--against", "HEAD", "--configs", "fuzz:0,fp8:0", "--units", "array,top", "--targets", "generic")
    assert p.returncode == 0, p.stdout + p.stderr[-3000:]
    assert "generate the same Verilog, byte for byte, for 4 files" in p.stdout
