"""`systolica run MODEL.onnx` and `systolica onnx-example` as a user runs them.

Outputs are compared with onnxruntime's exact result (the model with default graph
optimizations and session.x64quantprecision=1 for uint8 activations, so the result does
not depend on the CPU; see systolica.driver.onnx_import.ort_reference).
"""

import re
import subprocess
import sys

import numpy as np
import onnx
import pytest

from systolica.demo import demo_config
from systolica.driver.onnx_examples import op_float_model
from systolica.driver.onnx_import.ort_reference import run_exact

CLI = [sys.executable, "-m", "systolica.cli"]


def _cli(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """An MLP (QOperator, uint8) and a CNN (QDQ, int8), 16 digits, the demo configuration."""
    d = tmp_path_factory.mktemp("run")
    r = _cli("onnx-example", "mlp", "-o", "mlp.onnx", "--format", "qoperator", "--inputs", "x_mlp.npy",
             "--samples", 16, cwd=d)
    assert r.returncode == 0, r.stderr
    r = _cli("onnx-example", "cnn", "-o", "cnn.onnx", "--activations", "s8", "--inputs", "x_cnn.npy",
             "--samples", 16, cwd=d)
    assert r.returncode == 0, r.stderr
    (d / "demo.json").write_text(demo_config().to_json())
    return d


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_run_writes_what_onnxruntime_gives(work, name):
    r = _cli("run", f"{name}.onnx", "--input", f"x_{name}.npy", "--output", f"y_{name}.npy", "--config",
             "demo.json", "--batch", 8, "--check", cwd=work)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    y = np.load(work / f"y_{name}.npy")
    want = run_exact(onnx.load(str(work / f"{name}.onnx")), np.load(work / f"x_{name}.npy"))
    assert y.dtype == want.dtype and y.shape == want.shape and np.array_equal(y, want)
    assert "identical to onnxruntime: 16/16 samples, 160/160 output values" in r.stdout, r.stdout


def test_run_on_rtl_prints_per_layer_cycles_and_rtl_equals_golden(work):
    """The one RTL run here: 2 digits through the MLP on the generated 8x8 accelerator."""
    x = np.load(work / "x_mlp.npy")[:2]
    np.save(work / "x2.npy", x)
    r = _cli("run", "mlp.onnx", "--input", "x2.npy", "--output", "y_rtl.npy", "--backend", "rtl", "--config",
             "demo.json", "--check", cwd=work)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    layers = re.findall(r"^  (\S+) +QGemm .* ([\d,]+) +([\d.]+)%  True$", r.stdout, re.M)
    assert len(layers) == 3, r.stdout
    assert all(int(c.replace(",", "")) > 0 and 0 < float(u) <= 100 for _, c, u in layers), layers
    assert "RTL == golden: True" in r.stdout and "identical to onnxruntime: 2/2 samples" in r.stdout
    assert np.array_equal(np.load(work / "y_rtl.npy"), run_exact(onnx.load(str(work / "mlp.onnx")), x))


def test_run_estimate_prints_the_performance_model_per_layer(work):
    """--estimate: each layer's predicted cycles, the layer compiled alone per batch (8 + 8)."""
    from systolica.driver.compiler import compile_network
    from systolica.driver.onnx_import import load
    from systolica.driver.perf_model import estimate

    r = _cli("run", "mlp.onnx", "--input", "x_mlp.npy", "--output", "y_est.npy", "--config", "demo.json",
             "--batch", 8, "--estimate", cwd=work)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    got = [int(c.replace(",", "")) for c in re.findall(r"^  \S+ +QGemm .* ([\d,]+) +[\d.]+%$", r.stdout, re.M)]
    seg, = load(work / "mlp.onnx").segments
    cfg = demo_config()
    want = [2 * estimate(cfg, compile_network(cfg, seg.layer_net(j), 8).commands).cycles
            for j in range(len(seg.layers))]
    assert got == want, r.stdout
    assert f"estimate (performance model, each layer alone): {sum(want):,} cycles" in r.stdout


def _error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_run_errors_exit_2_with_one_line(work):
    onnx.save(op_float_model("conv"), str(work / "float.onnx"))
    np.save(work / "x_bad.npy", np.zeros((2, 8, 8), np.float32))
    args = ["--input", "x_cnn.npy", "--output", "y.npy", "--config", "demo.json"]
    msg = _error(_cli("run", "float.onnx", *args, cwd=work))
    assert msg.startswith("systolica run: node '") and "(Conv)" in msg and "float model" in msg, msg
    msg = _error(_cli("run", "missing.onnx", *args, cwd=work))
    assert "cannot read 'missing.onnx': no such file" in msg, msg
    msg = _error(_cli("run", "cnn.onnx", "--input", "nope.npy", "--output", "y.npy", cwd=work))
    assert "--input nope.npy: no such file" in msg, msg
    msg = _error(_cli("run", "cnn.onnx", "--input", "x_bad.npy", "--output", "y.npy", cwd=work))
    assert "input 'input': shape [2, 8, 8], the model takes ['N', 1, 8, 8]" in msg, msg
    msg = _error(_cli("run", "cnn.onnx", "--input", "x_cnn.npy", "--output", "y.npy", "--acc-bits", 16, cwd=work))
    assert re.match(r"systolica run: node '\w+' \(Conv\): does not fit the configuration .*acc_bits=16", msg), msg
    msg = _error(_cli("run", "cnn.onnx", "--input", "x_cnn.npy", "--output", "no/dir/y.npy", cwd=work))
    assert "folder no/dir does not exist" in msg, msg
    msg = _error(_cli("run", "cnn.onnx", *args[:4], "--rows", 0, cwd=work))
    assert "rows=0" in msg, msg
