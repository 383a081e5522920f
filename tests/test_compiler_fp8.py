"""FP8 layers compiled for FP8 configurations, run on the golden machine, equal the FP8
golden numerics written out directly: the exact sum of FP8 products (model.fp8, Fractions)
and one requantization per output (model.requant_fp8.requantize_fp8). Every format pair,
non-square arrays, linear and conv2d, per-tensor and per-channel scales, and the digits
MLP/CNN quantized to FP8 through the runtime (Accelerator.run_network)."""

import numpy as np
import pytest

from systolica.driver.compiler import (CompileError, DramLayout, compile_conv2d, compile_linear, conv2d_weight_image,
                                       from_device, linear_weight_image, to_device)
from systolica.driver.models import CALIBRATION_SIZE, _trained, digits_split
from systolica.driver.models_fp8 import (FP8_SCHEMES, Fp8Layer, Fp8Net, quantize_fp8, quantize_input_fp8,
                                         run_fp8_layer)
from systolica.driver.runtime import Accelerator, linear_image
from systolica.model import accum, fp8
from systolica.model.config import AcceleratorConfig
from systolica.model.isa import encode_program
from systolica.model.machine import SCHEDULES, Status, run
from systolica.model.numerics import RequantParams
from systolica.model.requant_fp8 import OUT_TYPES, Fp8RequantParams, requantize_fp8

PAIRS = list(FP8_SCHEMES.values())


def _cfg(a, w, **kw):
    base = dict(rows=3, cols=5, spad_rows=64, acc_rows=32)
    return AcceleratorConfig(input_type=a, weight_type=w, **{**base, **kw})


def _codes(rng, shape, specials: bool):
    """Random FP8 codes: mostly finite and moderate, every code (NaN, inf) when ``specials``."""
    if specials:
        return rng.integers(0, 256, shape).astype(np.uint8)
    mag = rng.integers(0x20, 0x48, shape)                 # exponents around 1 in both formats
    return (mag | (rng.integers(0, 2, shape) << 7)).astype(np.uint8)


def _expected(cfg, x, w, params: Fp8RequantParams, bias):
    """requantize_fp8 of the exact sum, per element (channel c: scale c, bias c)."""
    exact = accum.matmul(cfg, x, w)
    out = np.empty(exact.shape, np.uint8)
    for (i, c), e in np.ndenumerate(exact):
        scale = params.lane_scale(c)
        out[i, c] = requantize_fp8(cfg, int(e), params.out_type, scale, bias=int(bias[c]), relu=params.relu,
                                   zero_point=params.zero_point, qmin=params.qmin, qmax=params.qmax)
    return out


def _scales(rng, n, per_channel):
    v = [float(np.float32(2.0 ** rng.uniform(-4, 1))) for _ in range(n if per_channel else 1)]
    return tuple(v) if per_channel else v[0]


@pytest.mark.parametrize("a, w", PAIRS, ids=["_".join(p) for p in PAIRS])
@pytest.mark.parametrize("out_type", ["fp8_e4m3", "fp8_e5m2", "uint8"])
def test_fp8_linear_equals_exact_sum_then_one_rounding(a, w, out_type, seed):
    rng = np.random.default_rng(seed)
    cfg = _cfg(a, w)
    for case in range(3):
        m, k, n = (int(v) for v in rng.integers(1, 12, 3))
        x, wt = _codes(rng, (m, k), case == 2), _codes(rng, (k, n), case == 2)
        per_channel = case != 1
        params = Fp8RequantParams(out_type, _scales(rng, n, per_channel), relu=bool(case % 2),
                                  zero_point=7 if out_type == "uint8" else 0)
        unit = 1 << cfg.acc_format.frac_bits
        bias = np.array([int(b) for b in rng.integers(-4 * unit, 4 * unit, n)], dtype=object)
        image, base, window = linear_image(cfg, x, wt, bias, params)
        want = _expected(cfg, x, wt, params, bias)
        images = []
        for schedule in SCHEDULES:
            dram = bytearray(image)
            assert run(cfg, dram, base, window, schedule=schedule).status is Status.OK
            images.append(bytes(dram))
        assert all(i == images[0] for i in images), "schedules disagree: a token is missing"
        layout = DramLayout(cfg)          # linear_image's regions: x, w, y, program
        layout.alloc("x", x.size), layout.alloc("w", len(linear_weight_image(cfg, wt)))
        y = layout.alloc("y", m * n)
        got = np.frombuffer(images[0][y.addr:y.end], np.uint8).reshape(m, n)
        assert np.array_equal(got, want), (case, got, want)


@pytest.mark.parametrize("a, w", PAIRS, ids=["_".join(p) for p in PAIRS])
def test_fp8_conv2d_equals_run_fp8_layer(a, w, seed):
    """Convolution (channels last in DRAM) with +0 padding (the DMA's pad_value 0 is FP8 +0),
    stride 1 and 2."""
    rng = np.random.default_rng(seed)
    cfg = _cfg(a, w)
    for stride, pad, c, m in ((1, 1, 2, 4), (2, 1, 4, 7), (1, 0, 1, 3)):
        h = wd = int(rng.integers(3, 7))
        k = 3 if h >= 3 else 1
        x = _codes(rng, (2, c, h, wd), False)
        wc = _codes(rng, (m, c, k, k), False)
        oh = (h + 2 * pad - k) // stride + 1
        ow = (wd + 2 * pad - k) // stride + 1
        scale = np.array([np.float32(2.0 ** rng.uniform(-4, 0)) for _ in range(m)], np.float32)
        unit = 1 << cfg.acc_format.frac_bits
        bias = np.array([int(b) for b in rng.integers(-4 * unit, 4 * unit, m)], dtype=object)
        layer = Fp8Layer("conv2d", wc.reshape(m, -1), scale, bias, True, (c, h, wd), (m, oh, ow), k, stride, pad)
        want = run_fp8_layer(Fp8Net(cfg, 1.0, (layer,), 1.0), layer, x)
        layout = DramLayout(cfg)
        xr, wr = layout.alloc("x", x.size), layout.alloc("w", len(conv2d_weight_image(cfg, wc, 0)))
        yr = layout.alloc("y", want.size)
        params = Fp8RequantParams(a, tuple(float(s) for s in scale), relu=True)
        lp = compile_conv2d(cfg, wc, bias, params, batch=2, in_shape=(c, h, wd), x_addr=xr.addr,
                            w_addr=wr.addr, out_addr=yr.addr, stride=stride, pads=pad)
        program = encode_program(cfg, lp.commands)
        pr = layout.alloc("program", len(program))
        dram = bytearray(layout.size)
        for r, data in ((xr, to_device(x, "nhwc").tobytes()), (wr, lp.weight_image), (pr, program)):
            dram[r.addr:r.addr + len(data)] = data
        assert run(cfg, dram, pr.addr, (0, layout.size)).status is Status.OK
        got = from_device(np.frombuffer(bytes(dram[yr.addr:yr.end]), np.uint8), want.shape, "nhwc")
        assert np.array_equal(got, want), (stride, pad, c, m)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("label", list(FP8_SCHEMES))
def test_fp8_digits_network_on_the_machine_equals_golden_numerics(arch, label):
    a, w = FP8_SCHEMES[label]
    data = digits_split()
    net = quantize_fp8(_trained(arch, 0), data.x_train[:CALIBRATION_SIZE], a, w)
    x = data.x_test[:4]
    codes, stats = Accelerator(_cfg(a, w, spad_rows=512, acc_rows=256)).run_network(net, x)
    want = quantize_input_fp8(net, x)
    for layer in net.layers:
        want = run_fp8_layer(net, layer, want)
    assert codes.dtype == np.uint8 and np.array_equal(codes, want.reshape(codes.shape))
    assert stats.layer_macs > 0 and len(stats.activations) == len(net.layers)


def test_fp8_layer_errors_name_the_problem_before_anything_runs():
    cfg = _cfg("fp8_e4m3", "fp8_e4m3")
    x_w = np.zeros((4, 3), np.uint8)
    ok = Fp8RequantParams("fp8_e4m3", 0.5)
    kw = dict(batch=2, x_addr=0, w_addr=64, out_addr=128)
    with pytest.raises(CompileError, match="need uint8 FP8 codes"):
        compile_linear(cfg, x_w.astype(np.int8), None, ok, **kw)
    with pytest.raises(CompileError, match="need an Fp8RequantParams"):
        compile_linear(cfg, x_w, None, RequantParams.for_layer("onnx", 0.1, 0.1, 0.1), **kw)
    with pytest.raises(CompileError, match="fp32"):
        compile_linear(cfg, x_w, None, Fp8RequantParams("fp32", 0.5), **kw)
    with pytest.raises(CompileError, match="x_zp=3: FP8 inputs have no zero point"):
        compile_linear(cfg, x_w, None, ok, x_zp=3, **kw)
    with pytest.raises(CompileError, match="bias=.*out of range"):
        compile_linear(cfg, x_w, [1 << cfg.acc_bits] * 3, ok, **kw)
    narrow = _cfg("fp8_e4m3", "fp8_e4m3", acc_bits=cfg.product_bits + 1)
    with pytest.raises(CompileError, match="K=4 FP8 products can wrap"):
        compile_linear(narrow, x_w, None, ok, **kw)
    int8 = AcceleratorConfig(rows=3, cols=5, spad_rows=64, acc_rows=32)
    with pytest.raises(CompileError, match="need int8"):
        compile_linear(int8, x_w, None, RequantParams.for_layer("onnx", 0.1, 0.1, 0.1), **kw)
    data = digits_split()
    net = quantize_fp8(_trained("mlp", 0), data.x_train[:CALIBRATION_SIZE], "fp8_e5m2")
    with pytest.raises(ValueError, match="FP8 formats fp8_e5m2 x fp8_e5m2, the configuration has"):
        Accelerator(cfg).run_network(net, data.x_test[:1])
    assert set(OUT_TYPES) == {"fp8_e4m3", "fp8_e5m2", "int8", "uint8"}
