"""`systolica verify`: the regression suite on a user's configuration, a pass/fail table,
JUnit XML; bad input is a one-line error (exit status 2)."""

import subprocess
import sys
import xml.etree.ElementTree as ET

from systolica.sim.fuzz_cases import fuzz_config

CFG = fuzz_config(2)        # built by tests/test_fuzz.py as well


def _verify(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "systolica.cli", "verify", *args], capture_output=True,
                          text=True, timeout=2400, cwd=cwd)


def test_verify_runs_benches_and_writes_junit(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(CFG.to_json())
    junit = tmp_path / "out.xml"
    r = _verify("--config", str(cfg), "--only", "csr,layers,fuzz", "--fuzz", "20", "--junit", str(junit))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for bench in ("csr", "layers", "fuzz"):
        assert f"| {bench} | PASS |" in r.stdout, r.stdout
        assert f"] {bench} ..." in r.stdout                      # progress
    assert "3 passed, 0 failed" in r.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "0"
    assert [c.get("name") for c in suite.iter("testcase")] == ["csr", "layers", "fuzz"]


def test_verify_bad_input_is_one_line(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(CFG.to_json())
    for args, needle in ((["--config", str(cfg), "--only", "nope"], "unknown bench"),
                         (["--config", str(tmp_path / "missing.json")], "cannot read --config"),
                         (["--config", str(cfg), "--fuzz", "-1"], "--fuzz=-1")):
        r = _verify(*args)
        assert r.returncode == 2 and needle in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": 0}')
    r = _verify("--config", str(bad))
    assert r.returncode == 2 and "rows=0" in r.stderr and "Traceback" not in r.stderr


def test_verify_an_fp8_configuration(tmp_path):
    """FP8: an FP8 net through the layers bench, FP8 random programs, the int8-only core
    bench skipped with its reason (the configuration is built by tests/test_fp8_rtl.py)."""
    from systolica.model.config import AcceleratorConfig

    cfg = tmp_path / "fp8.json"
    cfg.write_text(AcceleratorConfig(rows=2, cols=3, input_type="fp8_e4m3", bus_bits=64, spad_rows=256,
                                     acc_rows=64).to_json())
    r = _verify("--config", str(cfg), "--only", "core,layers,fuzz", "--fuzz", "20", "--junit",
                str(tmp_path / "out.xml"))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "| core | PASS | " in r.stdout and "skipped: systolica.sim.tb_core drives int8" in r.stdout
    assert "conv2d + linear, batch 3: RTL == golden" in r.stdout and "| fuzz | PASS |" in r.stdout
