"""Level 1 of truth: reference layer math == the machine running the compiled program.

Every program runs in all three schedules of the machine, which must leave the same
DRAM image (a missing token shows up as a difference), and the output must equal the
reference exactly.
"""

import dataclasses

import numpy as np
import pytest

from systolica.driver import compiler
from systolica.driver.compiler import (CompileError, DramLayout, Tiling, compile_conv2d, compile_linear,
                                       compile_network, fits, regions)
from systolica.driver.models import (QLinear, QuantizedNet, digits_models, quantize_input, run_integer,
                                     run_quantized, trace_integer)
from systolica.driver.runtime import Accelerator
from systolica.model.config import AcceleratorConfig
from systolica.model.isa import Opcode, encode_program
from systolica.model.machine import SCHEDULES, Status, run
from systolica.model.numerics import OUTPUT_TYPES, RequantParams, requantize
from systolica.model import reference
from systolica.model.reference import conv_integer, matmul_integer

CONFIGS = {
    "4x4": AcceleratorConfig(rows=4, cols=4, spad_rows=64, acc_rows=32),
    # tiles of 5 rows: M tiling and both halves of both memories in use
    "3x5": AcceleratorConfig(rows=3, cols=5, spad_rows=16, acc_rows=16, spad_banks=2, acc_banks=2),
    "8x8_small": AcceleratorConfig(rows=8, cols=8, spad_rows=32, acc_rows=16),
    # half the scratchpad cannot hold 8 weight rows + 1 input row: single buffered
    "8x4_single": AcceleratorConfig(rows=8, cols=4, spad_rows=16, acc_rows=16, spad_banks=1),
}


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _run_all_schedules(cfg, commands, layout: DramLayout, init):
    """Run ``commands`` in every schedule of the machine; assert OK and identical images;
    return the image and the counters."""
    program = encode_program(cfg, commands)
    preg = layout.alloc("program", len(program))
    images, counters = [], None
    for schedule in SCHEDULES:
        dram = bytearray(layout.size)
        for addr, data in [*init, (preg.addr, program)]:
            dram[addr:addr + len(data)] = data
        result = run(cfg, dram, preg.addr, (0, layout.size), schedule=schedule)
        assert result.status is Status.OK, (schedule, result)
        counters = result.counters
        images.append(bytes(dram))
    for schedule, image in zip(SCHEDULES[1:], images[1:]):
        assert image == images[0], f"schedule {schedule!r} leaves another DRAM image: a token is missing"
    return images[0], counters


def _read(image, region, shape, dtype=np.int8):
    return np.frombuffer(image[region.addr:region.end], dtype=dtype).reshape(shape)


def _requant(rng, scheme: str, n: int, k: int, out_dtype: str = "int8") -> RequantParams:
    """Per-channel parameters whose outputs are spread over the range (not all clamped)."""
    eff = rng.uniform(0.3, 2.0, size=n) * 20.0 / (10000.0 * np.sqrt(k))
    lo, hi, _ = OUTPUT_TYPES[out_dtype]
    zp = tuple(int(z) for z in rng.integers(lo + 100, hi - 100, size=n)) if rng.random() < 0.5 \
        else int(rng.integers(lo + 100, hi - 100))
    qmin = int(np.max(zp)) if rng.random() < 0.4 else None       # a fused ReLU
    if scheme == "tflite":
        return RequantParams.from_tflite_scale(eff, zp, out_dtype, qmin=qmin,
                                               rounding=str(rng.choice(["double", "single"])))
    return RequantParams.from_onnx_scale(eff, zp, out_dtype, qmin=qmin)


def _random_tile(cfg, rng):
    """None (the compiler's choice) or a random tiling that fits."""
    if rng.random() >= 0.6:
        return None
    for _ in range(20):
        t = Tiling(int(rng.integers(1, 2 * cfg.rows + 8)), int(rng.integers(1, 4)),
                   str(rng.choice(compiler.ORDERS)))
        if fits(cfg, t) is None:
            return t
    return None


def _linear_case(cfg, rng, m, k, n, scheme, *, x_zp=None, bias=None, out_dtype="int8"):
    x = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    w = rng.integers(-127, 128, size=(k, n), dtype=np.int8)
    x_zp = int(rng.integers(-128, 128)) if x_zp is None else x_zp
    lim = int(3000 * np.sqrt(k))
    bias = rng.integers(-lim, lim + 1, size=n).astype(np.int32) if bias is None else bias
    params = _requant(rng, scheme, n, k, out_dtype)
    layout = DramLayout(cfg)
    img = compiler.linear_weight_image(cfg, w)
    xr, wr, yr = layout.alloc("x", x.size), layout.alloc("w", len(img)), layout.alloc("y", m * n)
    lp = compile_linear(cfg, w, bias, params, batch=m, x_addr=xr.addr, w_addr=wr.addr,
                        out_addr=yr.addr, x_zp=x_zp, tile=_random_tile(cfg, rng))
    assert lp.weight_image == img
    image, counters = _run_all_schedules(cfg, lp.commands, layout,
                                         [(xr.addr, x.tobytes()), (wr.addr, lp.weight_image)])
    got = _read(image, yr, (m, n), OUTPUT_TYPES[out_dtype][2])
    want = requantize(matmul_integer(x, w, np.int8(x_zp)), params, bias=bias)
    assert np.array_equal(want, reference.linear(x, w, bias, x_zp, 0, params))    # the layer API agrees
    return got, want, lp, counters


def _check_tokens(commands):
    """Executed in program order, no pop finds its counter empty (every pop's push comes
    earlier: finite queues cannot deadlock), and every push is popped."""
    tokens = {}
    chain = {Opcode.LOAD: 0, Opcode.COMPUTE: 1, Opcode.STORE: 2, Opcode.REQUANT: 2}
    for i, c in enumerate(commands):
        q = chain[c.opcode]
        for bit, other in (("pop_prev", q - 1), ("pop_next", q + 1)):
            if getattr(c, bit):
                assert tokens.get((other, q), 0) > 0, f"command {i} pops a token pushed later"
                tokens[(other, q)] -= 1
        for bit, other in (("push_prev", q - 1), ("push_next", q + 1)):
            if getattr(c, bit):
                tokens[(q, other)] = tokens.get((q, other), 0) + 1
    assert not any(tokens.values()), f"tokens pushed and never popped: {tokens}"


# --------------------------------------------------------------------------------------
# linear
# --------------------------------------------------------------------------------------
def _loaded_bound(cfg, lp, m, k, n):
    """DRAM bytes a streaming schedule would load: every input chunk once per channel
    block, every weight block once per box. The operand cache never loads more."""
    kt, nt = -(-k // cfg.rows), -(-n // cfg.cols)
    boxes = len(compiler.linear.balanced(m, lp.tiling.rows))
    nblocks = -(-nt // lp.tiling.n_tiles)
    return nblocks * m * k + boxes * kt * nt * cfg.rows * cfg.cols


@pytest.mark.parametrize("scheme", ["tflite", "onnx"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_linear_random_shapes_equal_reference(name, scheme, seed):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(seed)
    half = cfg.spad_rows // 2
    dims = np.array([half, cfg.rows, cfg.cols])
    shapes = [tuple(int(v) for v in rng.integers(1, 3 * dims + 1)) for _ in range(3)]
    # every edge at once: a partial last tile in M, K (stale weight rows) and N
    shapes.append((2 * half + 1, 2 * cfg.rows + 1, cfg.cols + 1))
    for m, k, n in shapes:
        out_dtype = "uint8" if rng.random() < 0.25 else "int8"
        got, want, lp, counters = _linear_case(cfg, rng, m, k, n, scheme, out_dtype=out_dtype)
        assert np.array_equal(got, want), (m, k, n, lp.tiling)
        _check_tokens(lp.commands)
        kt, nt = -(-k // cfg.rows), -(-n // cfg.cols)
        boxes = len(compiler.linear.balanced(m, lp.tiling.rows))
        assert counters.commands["execute"] == kt * nt * boxes
        assert counters.array_beats == m * kt * nt
        assert counters.useful_macs == m * k * n          # the tiles declare their real rows/cols
        assert counters.dma_bytes_stored == m * n
        assert m * k + k * n <= counters.dma_bytes_loaded <= _loaded_bound(cfg, lp, m, k, n)
        assert counters.dma_bytes_loaded + counters.dma_bytes_stored == lp.estimate.dram_bytes


def test_linear_image_holds_the_padded_weight_tiles():
    """runtime.linear_image leaves room for the weight image (chunks x channel tiles of
    rows x cols bytes, more than K x N): on this shape a ``w.size`` region overlapped the
    output, and a store overwrote weights a later load read (found on the native harness)."""
    from systolica.driver.runtime import linear_image

    cfg = AcceleratorConfig(rows=4, cols=4, bus_bits=256, addr_bits=40, spad_rows=128, acc_rows=64)
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, size=(9, 18), dtype=np.int8)
    w = rng.integers(-128, 128, size=(18, 10), dtype=np.int8)
    params = RequantParams.for_layer("tflite", 0.02, np.full(10, 0.01, np.float32), 0.5)
    image, base, window = linear_image(cfg, x, w, None, params)
    assert len(compiler.linear_weight_image(cfg, w)) > w.size
    images = []
    for schedule in SCHEDULES:
        dram = bytearray(image)
        assert run(cfg, dram, base, window, schedule=schedule).status is Status.OK
        images.append(bytes(dram))
    assert images[1:] == images[:1] * (len(SCHEDULES) - 1)
    y = np.frombuffer(images[0], np.int8)
    out = DramLayout(cfg)
    out.alloc("x", x.size), out.alloc("w", len(compiler.linear_weight_image(cfg, w)))
    yr = out.alloc("y", 90)
    assert np.array_equal(y[yr.addr:yr.end].reshape(9, 10), requantize(matmul_integer(x, w, np.int8(0)), params))


def test_linear_zero_point_fold_wraps_like_int32(seed):
    """Extreme zero point, weights and biases: the folded bias wraps, the result is exact."""
    cfg = CONFIGS["4x4"]
    rng = np.random.default_rng(seed)
    bias = np.array([2**31 - 1, -2**31, 2**31 - 7, -2**31 + 3, 0, 12345], dtype=np.int32)
    got, want, _, _ = _linear_case(cfg, rng, 7, 37, 6, "tflite", x_zp=-128, bias=bias)
    assert np.array_equal(got, want)
    got, want, _, _ = _linear_case(cfg, rng, 5, 9, 6, "onnx", x_zp=127, bias=bias)
    assert np.array_equal(got, want)


def test_weights_and_inputs_live_in_different_banks():
    """Every tile reads its weights from one bank and its input rows from the other, so the
    array's two read ports never meet; with one bank they share it."""
    cfg = AcceleratorConfig(rows=8, cols=8, spad_rows=256, acc_rows=64)
    lp = compile_linear(cfg, np.ones((40, 20), np.int8), None, RequantParams.from_tflite_scale(0.01),
                        batch=50, x_addr=0, w_addr=0x1000, out_addr=0x2000)
    half = cfg.spad_rows // 2
    tiles = [c.body for c in lp.commands if c.opcode is Opcode.COMPUTE]
    assert all(b["b_row"] < half <= b["a_row"] for b in tiles)
    assert regions(dataclasses.replace(cfg, spad_banks=1), lp.tiling).inputs[0] < half


@pytest.mark.parametrize("order", compiler.ORDERS)
def test_operands_are_loaded_once_when_they_fit(order):
    """A GEMM whose operands all fit the scratchpad loads each byte of them once, whatever
    the loop order: the input panel stays while the channel blocks go by, the weights
    while the boxes go by."""
    cfg = AcceleratorConfig(rows=8, cols=8, spad_rows=1024, acc_rows=64)
    m, k, n = 64, 40, 24
    lp = compile_linear(cfg, np.ones((k, n), np.int8), None, RequantParams.from_tflite_scale(0.01),
                        batch=m, x_addr=0, w_addr=0x1000, out_addr=0x2000, tile=Tiling(16, 1, order))
    loaded = sum(int(np.prod(c.body["desc"].sizes)) for c in lp.commands if c.opcode is Opcode.LOAD)
    assert loaded == m * k + len(lp.weight_image)
    _check_tokens(lp.commands)


def test_accumulator_slots_rotate_and_stores_overlap_computes():
    """Tiles take accumulator slots in turn, consecutive ones in different banks; a tile's
    first compute waits for the store of the tile that last used its slot (not for every
    store), and loads run ahead."""
    cfg = CONFIGS["3x5"]
    lp = compile_linear(cfg, np.ones((7, 30), np.int8), None, RequantParams.from_tflite_scale(0.01),
                        batch=11, x_addr=0, w_addr=0x100, out_addr=0x400, tile=Tiling(4, 1))
    firsts = [c for c in lp.commands if c.opcode is Opcode.COMPUTE and not c.body["accumulate"]]
    slots = cfg.acc_rows // 4
    rows = [c.body["c_row"] for c in firsts[:slots + 1]]
    assert len(set(rows[:slots])) == slots and rows[slots] == rows[0]
    half = cfg.acc_rows // 2
    assert all((a < half) != (b < half) for a, b in zip(rows, rows[1:]))
    assert not any(c.pop_next for c in firsts[:slots]) and firsts[slots].pop_next
    assert not lp.commands[1].pop_next          # the second load does not wait for a compute


def test_large_gemm_reuses_its_panels():
    """A 256x256x256 GEMM on 16x16 loads no more than the streaming bound (every input
    chunk once per channel block, every weight block once per box) and at most four
    passes over each operand."""
    cfg = AcceleratorConfig(rows=16, cols=16, bus_bits=128)
    lp = compile_linear(cfg, np.zeros((256, 256), np.int8), None, RequantParams.from_tflite_scale(0.01),
                        batch=256, x_addr=0, w_addr=1 << 16, out_addr=1 << 17)
    loads = sum(int(np.prod(c.body["desc"].sizes)) for c in lp.commands if c.opcode is Opcode.LOAD)
    assert loads <= _loaded_bound(cfg, lp, 256, 256, 256)
    assert loads <= 4 * 2 * 65536


def test_dropped_buffer_tokens_are_caught_by_the_schedules(seed):
    """Without the 'buffer free' tokens, loads run ahead over data not yet computed."""
    cfg = CONFIGS["4x4"]
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(6, 64), dtype=np.int8)       # 16 chunks: more than the slots
    w = rng.integers(-127, 128, size=(64, 4), dtype=np.int8)
    layout = DramLayout(cfg)
    img = compiler.linear_weight_image(cfg, w)
    xr, wr, yr = layout.alloc("x", x.size), layout.alloc("w", len(img)), layout.alloc("y", 24)
    lp = compile_linear(cfg, w, None, RequantParams.from_tflite_scale(0.0005), batch=6, x_addr=xr.addr,
                        w_addr=wr.addr, out_addr=yr.addr)
    assert any(c.pop_next for c in lp.commands if c.opcode is Opcode.LOAD)
    broken = [dataclasses.replace(c, pop_next=False) if c.opcode is Opcode.LOAD else
              dataclasses.replace(c, push_prev=False) if c.opcode is Opcode.COMPUTE else c
              for c in lp.commands]
    with pytest.raises(AssertionError, match="token is missing"):
        _run_all_schedules(cfg, broken, layout, [(xr.addr, x.tobytes()), (wr.addr, img)])


# --------------------------------------------------------------------------------------
# conv2d
# --------------------------------------------------------------------------------------
def _conv_case(cfg, rng, *, n, c, h, w, m, kernel, stride, pads, dilation, groups, scheme):
    x = rng.integers(-128, 128, size=(n, c, h, w), dtype=np.int8)
    wt = rng.integers(-127, 128, size=(m, c // groups, *kernel), dtype=np.int8)
    bias = rng.integers(-3000, 3001, size=m).astype(np.int32)
    x_zp = int(rng.integers(-128, 128))
    params = _requant(rng, scheme, m, c // groups * kernel[0] * kernel[1])
    oh, ow = compiler.conv2d_output_shape((h, w), kernel, stride, pads, dilation)
    layout = DramLayout(cfg)
    img = compiler.conv2d_weight_image(cfg, wt, x_zp, groups, dilation)
    xr, wr, yr = layout.alloc("x", x.size), layout.alloc("w", len(img)), layout.alloc("y", n * m * oh * ow)
    lp = compile_conv2d(cfg, wt, bias, params, batch=n, in_shape=(c, h, w), x_addr=xr.addr,
                        w_addr=wr.addr, out_addr=yr.addr, x_zp=x_zp, stride=stride, pads=pads,
                        dilation=dilation, groups=groups, tile=_random_tile(cfg, rng))
    assert lp.weight_image == img and lp.out_shape == (n, m, oh, ow)
    image, counters = _run_all_schedules(cfg, lp.commands, layout,
                                         [(xr.addr, compiler.to_device(x, "nhwc").tobytes()), (wr.addr, img)])
    _check_tokens(lp.commands)
    assert counters.useful_macs == lp.macs and counters.dma_bytes_stored == n * m * oh * ow
    got = compiler.from_device(_read(image, yr, (n * m * oh * ow,)), (n, m, oh, ow), "nhwc")
    pt, pl, pb, pr = pads
    acc = conv_integer(x, wt, np.int8(x_zp), group=groups, strides=list(stride), dilations=list(dilation),
                       pads=[pt, pl, pb, pr])
    want = requantize(acc, params, bias=bias, axis=1)
    assert np.array_equal(want, reference.conv2d(x, wt, bias, x_zp, 0, params, stride, ((pt, pb), (pl, pr)),
                                                 dilation, groups))                 # the layer API agrees
    return got, want


@pytest.mark.parametrize("name", list(CONFIGS))
def test_conv2d_random_geometry_equals_reference(name, seed):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(seed)
    for case in range(3):
        while True:
            kernel = tuple(int(v) for v in rng.integers(1, 4, size=2))
            stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
            dilation = tuple(int(v) for v in rng.integers(1, 3, size=2))
            pads = tuple(int(v) for v in rng.integers(0, 3, size=4))
            h, w = (int(v) for v in rng.integers(1, 9, size=2))
            try:
                compiler.conv2d_output_shape((h, w), kernel, stride, pads, dilation)
                break
            except CompileError:
                continue
        if case == 2:                                   # depthwise, channel multiplier 1..2
            c = int(rng.integers(1, 2 * cfg.cols + 1))
            groups, m = c, c * int(rng.integers(1, 3))
        else:
            c = int(rng.integers(1, 2 * cfg.rows + 2))
            groups, m = 1, int(rng.integers(1, 2 * cfg.cols + 2))
        geo = dict(n=int(rng.integers(1, 3)), c=c, h=h, w=w, m=m, kernel=kernel, stride=stride,
                   pads=pads, dilation=dilation, groups=groups)
        got, want = _conv_case(cfg, rng, scheme=str(rng.choice(["tflite", "onnx"])), **geo)
        assert np.array_equal(got, want), geo


@pytest.mark.parametrize("geo", [
    # taps wholly in the padding for whole boxes (constant zero-point input), row boxes
    dict(n=2, c=3, h=2, w=3, m=5, kernel=(3, 3), stride=(1, 1), pads=(3, 2, 3, 2), dilation=(1, 1)),
    # output rows wider than a tile: boxes are runs of one row
    dict(n=1, c=5, h=3, w=40, m=6, kernel=(2, 3), stride=(1, 1), pads=(1, 1, 1, 1), dilation=(1, 2)),
    # 1x1, stride 2, several whole images per tile
    dict(n=3, c=9, h=4, w=4, m=9, kernel=(1, 1), stride=(2, 2), pads=(0, 0, 0, 0), dilation=(1, 1)),
    # narrow inputs: several taps per chunk, border columns with some taps in the padding
    dict(n=2, c=1, h=5, w=6, m=3, kernel=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1), dilation=(1, 1)),
    dict(n=1, c=2, h=7, w=9, m=5, kernel=(3, 5), stride=(2, 2), pads=(2, 2, 1, 2), dilation=(1, 1)),
])
def test_conv2d_borders_and_box_shapes(geo, seed):
    cfg = CONFIGS["4x4"]
    rng = np.random.default_rng(seed)
    got, want = _conv_case(cfg, rng, groups=1, scheme="tflite", **geo)
    assert np.array_equal(got, want)


# --------------------------------------------------------------------------------------
# networks through the runtime
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    return {scheme: digits_models(0, scheme) for scheme in ("tflite", "onnx")}


@pytest.mark.parametrize("scheme", ["tflite", "onnx"])
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_digits_network_equals_run_integer(digits, arch, scheme, seed):
    demo = digits[scheme][arch]
    net = demo.quantized_net
    rng = np.random.default_rng(seed)
    x = demo.test[0][rng.choice(len(demo.test[0]), size=21, replace=False)]
    x_q = quantize_input(net, x)
    cfg = AcceleratorConfig(rows=8, cols=8, spad_rows=128, acc_rows=64)    # tiles of <= 32 rows
    acc = Accelerator(cfg, "golden")
    prog = compile_network(cfg, net, len(x_q))
    _check_tokens(prog.commands)
    images = []
    for schedule in SCHEDULES:
        dram = acc.image(prog, x_q)
        acc.schedule = schedule
        acc.execute(prog, dram)
        images.append(bytes(dram))
    assert images[1:] == images[:1] * (len(SCHEDULES) - 1)
    logits, stats = Accelerator(cfg).run_network(net, x_q)
    assert np.array_equal(logits, run_integer(net, x_q))
    for got, want in zip(stats.activations, trace_integer(net, x_q)):
        assert np.array_equal(got, want)
    barriers = len(net.layers) - 1                      # one MAC each
    assert stats.layer_macs == prog.macs and stats.useful_macs == stats.layer_macs + barriers
    assert stats.dma_bytes_stored == sum(a.size for a in stats.activations)
    computes = sum(c.opcode is Opcode.COMPUTE for lp in prog.layers for c in lp.commands)
    assert stats.commands["execute"] == computes + len(net.layers) - 1

def test_flattened_linear_after_conv_reads_channels_last(digits, seed):
    """A linear layer whose input was flattened (flat ``in_shape``, as an ONNX Flatten
    gives) after a convolution still reads the NHWC output in the right feature order."""
    import dataclasses

    net = original = digits["onnx"]["cnn"].quantized_net
    i = next(j for j, layer in enumerate(net.layers) if layer.kind == "linear")
    assert net.layers[i - 1].kind == "conv2d" and len(net.layers[i].in_shape) == 3
    flat = dataclasses.replace(net.layers[i], in_shape=(int(np.prod(net.layers[i].in_shape)),))
    net = dataclasses.replace(net, layers=net.layers[:i] + (flat,) + net.layers[i + 1:])
    x_q = np.random.default_rng(seed).integers(-128, 128, size=(3, *net.input_shape), dtype=np.int8)
    logits, _ = Accelerator(AcceleratorConfig(rows=8, cols=8)).run_network(net, x_q)
    assert np.array_equal(logits, run_integer(original, x_q))



def test_float_input_is_quantized_first(digits):
    demo = digits["tflite"]["mlp"]
    x = demo.test[0][:5]
    logits, _ = Accelerator(AcceleratorConfig(rows=16, cols=16)).run_network(demo.quantized_net, x)
    assert np.array_equal(logits, run_quantized(demo.quantized_net, x))


# --------------------------------------------------------------------------------------
# compile errors name the limit, before anything runs
# --------------------------------------------------------------------------------------
def _params():
    return RequantParams.from_tflite_scale(0.01)


def test_scratchpad_too_small_for_one_tile():
    cfg = AcceleratorConfig(rows=32, cols=4, spad_rows=16, acc_rows=16)
    with pytest.raises(CompileError, match=r"spad_rows=16: one tile needs 33 scratchpad rows"):
        compile_linear(cfg, np.zeros((4, 4), np.int8), None, _params(), batch=1, x_addr=0, w_addr=64,
                       out_addr=128)
    with pytest.raises(CompileError, match=r"needs 36 accumulator rows, acc_rows=32"):
        compile_linear(CONFIGS["4x4"], np.zeros((4, 16), np.int8), None, _params(), batch=9, x_addr=0,
                       w_addr=64, out_addr=128, tile=Tiling(9, 4))


def test_dram_beyond_addr_bits():
    cfg = CONFIGS["4x4"]
    with pytest.raises(CompileError, match="addr_bits=32"):
        compile_linear(cfg, np.zeros((4, 4), np.int8), None, _params(), batch=8, x_addr=0, w_addr=64,
                       out_addr=(1 << 32) - 16)
    layout = DramLayout(cfg, base=(1 << 32) - 256)
    with pytest.raises(CompileError, match="addr_bits=32"):
        layout.alloc("big", 1024)


def test_narrow_accumulator_that_could_wrap():
    cfg = AcceleratorConfig(rows=4, cols=4, acc_bits=16)
    compile_linear(cfg, np.zeros((1, 4), np.int8), None, _params(), batch=1, x_addr=0, w_addr=64,
                   out_addr=128)
    with pytest.raises(CompileError, match="acc_bits=16"):
        compile_linear(cfg, np.zeros((2, 4), np.int8), None, _params(), batch=1, x_addr=0, w_addr=64,
                       out_addr=128)


def test_asymmetric_weights_and_bad_shapes_are_rejected():
    cfg = CONFIGS["4x4"]
    w = np.zeros((4, 3), np.int8)
    with pytest.raises(CompileError, match="weight_zero_point"):
        compile_linear(cfg, w, None, _params(), batch=1, x_addr=0, w_addr=64, out_addr=128, w_zp=[0, 1, 0])
    with pytest.raises(CompileError, match="requant: 2 channels"):
        compile_linear(cfg, w, None, RequantParams.from_tflite_scale([0.1, 0.2]), batch=1, x_addr=0,
                       w_addr=64, out_addr=128)
    with pytest.raises(CompileError, match="groups=2"):
        compile_conv2d(cfg, np.zeros((3, 2, 1, 1), np.int8), None, _params(), batch=1, in_shape=(4, 2, 2),
                       x_addr=0, w_addr=64, out_addr=128, groups=2)


def test_layers_that_do_not_chain(digits):
    net = digits["tflite"]["mlp"].quantized_net
    l0, l1 = net.layers[0], net.layers[1]
    bad = dataclasses.replace(l1, weight=np.zeros((32, 32), np.int8), in_shape=(32,))
    broken = dataclasses.replace(net, layers=(l0, bad, net.layers[2]))
    assert isinstance(bad, QLinear) and isinstance(broken, QuantizedNet)
    with pytest.raises(CompileError, match=r"layer 1 \(linear\): takes input \(32,\).*\(64,\).*do not chain"):
        Accelerator(AcceleratorConfig(), "rtl").run_network(broken, np.zeros((2, 64), np.int8))


def test_backends_are_named_and_compile_errors_come_first(digits):
    """An unknown backend is refused; a layer that cannot fit fails to compile before the
    RTL backend builds or runs anything (the RTL backend itself: tests/test_top_rtl.py)."""
    net = digits["tflite"]["mlp"].quantized_net
    with pytest.raises(ValueError, match="backend='tpu'"):
        Accelerator(AcceleratorConfig(), "tpu")
    tiny = AcceleratorConfig(rows=16, cols=8, spad_rows=16, acc_rows=16)   # 16 weight rows + 1 input row
    with pytest.raises(CompileError, match="spad_rows=16: one tile needs 17"):
        Accelerator(tiny, "rtl").run_network(net, np.zeros((2, 64), np.int8))
