"""The golden DMA model against a scalar, element-by-element reading of its contract."""

import itertools

import numpy as np
import pytest
from amaranth.hdl import Shape

from systolica.model import dma
from systolica.model.config import AcceleratorConfig
from systolica.model.dma import DmaError, TensorDescriptor

CONFIGS = [
    (AcceleratorConfig(rows=4, cols=4), "spad"),
    (AcceleratorConfig(rows=16, cols=8), "spad"),
    (AcceleratorConfig(rows=3, cols=5, acc_bits=20), "acc"),
    (AcceleratorConfig(rows=8, cols=8), "acc"),
    (AcceleratorConfig(rows=2, cols=6, acc_bits=48), "acc"),
    (AcceleratorConfig(rows=4, cols=4, acc_bits=64), "acc"),
    # FP8 partial sums with their flags: 54-bit elements in 8 bytes, 84-bit ones in 16
    (AcceleratorConfig(rows=2, cols=3, input_type="fp8_e4m3"), "acc"),
    (AcceleratorConfig(rows=3, cols=2, input_type="fp8_e5m2"), "acc"),
]
BUS_BITS = (32, 64, 128, 256, 512)


# -- the contract, read literally --------------------------------------------------------
def memory(cfg, target):
    """(rows, row elements, element bits) of an on-chip memory."""
    if target == "spad":
        return cfg.spad_rows, cfg.spad_row_elems, cfg.input_bits
    return cfg.acc_rows, cfg.cols, cfg.acc_elem_bits


def element_address(desc, i):
    return desc.base + sum(x * s for x, s in zip(i, desc.strides))


def elements(desc):
    """Every DRAM element index, row-major."""
    return itertools.product(*(range(n) for n in desc.sizes))


def ref_bytes(desc):
    return {element_address(desc, i) + k for i in elements(desc) for k in range(desc.elem_bytes)}


def ref_load(cfg, dram, desc, target):
    _, width, bits = memory(cfg, target)
    half = 1 << (bits - 1)
    p = [b + n + a for b, n, a in zip(desc.pad_before, desc.sizes, desc.pad_after)]

    def value(j):
        i = [jd - b for jd, b in zip(j, desc.pad_before)]
        if not all(0 <= x < n for x, n in zip(i, desc.sizes)):
            return desc.pad_value
        a = element_address(desc, i)
        return int.from_bytes(dram[a:a + desc.elem_bytes], "little", signed=True)

    rows = []
    if desc.transpose:
        for j0, j1, j3 in itertools.product(range(p[0]), range(p[1]), range(p[3])):
            rows.append([value((j0, j1, j2, j3)) for j2 in range(p[2])])
    else:
        for j0, j1, j2 in itertools.product(range(p[0]), range(p[1]), range(p[2])):
            rows.append([value((j0, j1, j2, j3)) for j3 in range(p[3])])
    return np.array([[((v + half) % (2 * half)) - half for v in r + [0] * (width - len(r))]
                     for r in rows], dtype=np.int64 if bits <= 64 else object).reshape(-1, width)


def ref_store(dram, source, desc, row):
    eb = desc.elem_bytes
    for i in elements(desc):
        r = row + (i[0] * desc.sizes[1] + i[1]) * desc.sizes[2] + i[2]
        a = element_address(desc, i)
        dram[a:a + eb] = (int(source[r][i[3]]) % (1 << 8 * eb)).to_bytes(eb, "little")


# -- random descriptors ------------------------------------------------------------------
def random_descriptor(rng, cfg, target, *, store=False, transpose=False):
    """A descriptor this target accepts, based so that its lowest byte is address 0."""
    _, width, _ = memory(cfg, target)
    eb = 1 if target == "spad" or store else int(rng.choice([4, cfg.acc_elem_bytes]))
    ndim = int(rng.integers(1, 5))
    pad_b, pad_a = ([0] * 4, [0] * 4) if store else (
        rng.integers(0, 3, 4).tolist(), rng.integers(0, 3, 4).tolist())
    sizes = [1] * (4 - ndim) + rng.integers(1, 4, ndim).tolist()
    for d in (2, 3) if transpose else (3,):
        room = width - pad_b[d] - pad_a[d]
        if room < 1:
            pad_b[d] = pad_a[d] = 0
            room = width
        sizes[d] = int(rng.integers(1, room + 1))
    strides, step = [0] * 4, eb
    for d in (3, 2, 1, 0):
        kind = rng.integers(0, 4)
        strides[d] = [step, -step, 0, int(rng.integers(-3 * step - 5, 3 * step + 6))][kind]
        step = abs(strides[d]) * sizes[d] + int(rng.integers(0, 9)) or eb
    half = 1 << (min(8 * eb, 64) - 1)
    desc = TensorDescriptor(0, sizes, strides, eb, pad_b, pad_a,
                            int(rng.integers(-half, half)), transpose)
    low = min(element_address(desc, i) for i in elements(desc))
    return TensorDescriptor(-low, sizes, strides, eb, pad_b, pad_a, desc.pad_value, transpose)


def random_case(rng, cfg, target, **kw):
    """(descriptor, row, DRAM image with random bytes and a canary margin, window)."""
    desc = random_descriptor(rng, cfg, target, **kw)
    margin = int(rng.integers(1, 40))
    desc = TensorDescriptor(desc.base + margin, desc.sizes, desc.strides, desc.elem_bytes,
                            desc.pad_before, desc.pad_after, desc.pad_value, desc.transpose)
    top = max(ref_bytes(desc)) + 1
    dram = bytearray(rng.integers(0, 256, top + margin, dtype=np.uint8).tobytes())
    capacity = memory(cfg, target)[0]
    row = int(rng.integers(0, capacity - desc.onchip_shape[0] + 1))
    return desc, row, dram, (0, len(dram))


# -- loads and stores --------------------------------------------------------------------
@pytest.mark.parametrize("cfg, target", CONFIGS)
def test_load_equals_elementwise_reading_of_padded_strided_tensor(cfg, target, seed):
    rng = np.random.default_rng(seed)
    for n in range(40):
        transpose = target == "spad" and n % 3 == 0
        desc, row, dram, window = random_case(rng, cfg, target, transpose=transpose)
        got = dma.dma_load(cfg, bytes(dram), window, desc, row, target)
        assert got.error is DmaError.OK, desc
        assert np.array_equal(got.rows, ref_load(cfg, dram, desc, target)), desc


@pytest.mark.parametrize("cfg, target", CONFIGS)
def test_store_writes_exactly_the_elements_and_keeps_canaries(cfg, target, seed):
    rng = np.random.default_rng(seed)
    capacity, width, _ = memory(cfg, target)
    for _ in range(40):
        desc, row, dram, window = random_case(rng, cfg, target, store=True)
        source = rng.integers(-128, 256, (capacity, width))
        want = bytearray(dram)
        ref_store(want, source, desc, row)  # bytes outside the tensor keep their canary
        assert dma.dma_store(cfg, source, dram, window, desc, row, target) is DmaError.OK
        assert dram == want, desc


def test_transposed_load_puts_dram_column_k_in_row_k():
    cfg = AcceleratorConfig(rows=8, cols=8)
    w = np.arange(-20, 20, dtype=np.int8).reshape(5, 8)
    desc = TensorDescriptor.dense(0, (5, 8), transpose=True)
    got = dma.dma_load(cfg, w.tobytes(), (0, w.size), desc, 3)
    assert got.error is DmaError.OK
    assert np.array_equal(got.rows, np.pad(w.T, ((0, 0), (0, 3))))


def test_conv_border_is_padded_with_the_zero_point_without_reading_it():
    cfg = AcceleratorConfig(rows=8, cols=8)
    img = np.arange(2 * 3 * 4, dtype=np.int8).reshape(2, 3, 4)  # H, W, C
    desc = TensorDescriptor.dense(100, img.shape, pad_before=(1, 1, 0), pad_after=(1, 1, 0),
                                  pad_value=-7)
    dram = bytes(100) + img.tobytes()
    got = dma.dma_load(cfg, dram, (100, len(dram)), desc, 0)  # window: the image only
    want = np.pad(img, ((1, 1), (1, 1), (0, 0)), constant_values=-7).reshape(-1, 4)
    assert got.error is DmaError.OK
    assert np.array_equal(got.rows, np.pad(want, ((0, 0), (0, 4))))


def test_negative_stride_walks_backwards():
    cfg = AcceleratorConfig(rows=4, cols=4)
    got = dma.dma_load(cfg, bytes(range(10)), (0, 10), TensorDescriptor(9, (2, 3), (-3, -1)), 0)
    assert got.rows.tolist() == [[9, 8, 7, 0], [6, 5, 4, 0]]


def test_accumulator_load_sign_extends_int32_and_wraps_to_acc_bits():
    dram = np.array([-1, 2**31 - 1, 0x12345], dtype="<i4").tobytes()
    desc = TensorDescriptor.dense(0, (3,), 4)
    for acc_bits, want in ((48, [-1, 2**31 - 1, 0x12345]), (16, [-1, -1, 0x2345])):
        cfg = AcceleratorConfig(rows=4, cols=4, acc_bits=acc_bits)
        assert dma.dma_load(cfg, dram, (0, 12), desc, 0, "acc").rows.tolist() == [want + [0]]


# -- checks ------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg, target", CONFIGS)
def test_out_of_window_returns_window_and_touches_nothing(cfg, target, seed):
    rng = np.random.default_rng(seed)
    capacity, width, _ = memory(cfg, target)
    source = np.zeros((capacity, width), dtype=np.int64)
    for n in range(30):
        store = n % 2 == 1
        desc, row, dram, _ = random_case(rng, cfg, target, store=store)
        touched = ref_bytes(desc)
        first, stop = min(touched), max(touched) + 1
        assert desc.extent == (first, stop)
        for window, status in (((first, stop), DmaError.OK), ((first + 1, stop), DmaError.WINDOW),
                               ((first, stop - 1), DmaError.WINDOW), ((stop, first), DmaError.WINDOW)):
            assert dma.check(cfg, window, desc, row, target, store=store) is status
            if status is DmaError.OK:
                continue
            before = bytes(dram)
            if store:
                assert dma.dma_store(cfg, source, dram, window, desc, row, target) is status
            else:
                got = dma.dma_load(cfg, dram, window, desc, row, target)
                assert got.error is status and got.rows.shape == (0, width)
            assert bytes(dram) == before


def _bad(cfg, desc, target="spad", store=False):
    return dma.check(cfg, (0, 1 << 20), desc, 0, target, store=store)


def test_descriptors_the_target_cannot_take_are_bad():
    cfg = AcceleratorConfig(rows=4, cols=6)  # spad rows of 6, acc rows of 6
    bad = DmaError.BAD_DESCRIPTOR
    assert _bad(cfg, TensorDescriptor.dense(0, (6,))) is DmaError.OK
    assert _bad(cfg, TensorDescriptor.dense(0, (7,))) is bad
    assert _bad(cfg, TensorDescriptor.dense(0, (5,), pad_after=(2,))) is bad
    assert _bad(cfg, TensorDescriptor.dense(0, (2,), 2)) is bad                  # spad: 1-byte
    assert _bad(cfg, TensorDescriptor.dense(0, (2,), 1), "acc") is bad          # acc: 4 or native
    assert _bad(cfg, TensorDescriptor.dense(0, (2,), 8), "acc") is bad
    assert _bad(cfg.replace(acc_bits=40), TensorDescriptor.dense(0, (2,), 8), "acc") is DmaError.OK
    assert _bad(cfg, TensorDescriptor.dense(0, (2,), 4), "acc") is DmaError.OK
    assert _bad(cfg, TensorDescriptor.dense(0, (2,), 4), "acc", store=True) is bad  # stores: 8-bit
    assert _bad(cfg, TensorDescriptor.dense(0, (2,), 1), "acc", store=True) is DmaError.OK
    assert _bad(cfg, TensorDescriptor.dense(0, (2,), pad_before=(1,)), store=True) is bad
    assert _bad(cfg, TensorDescriptor.dense(0, (2, 2), transpose=True), store=True) is bad
    assert _bad(cfg, TensorDescriptor.dense(0, (2, 2), 4, transpose=True), "acc") is bad
    assert _bad(cfg, TensorDescriptor.dense(0, (6, 6), transpose=True)) is DmaError.OK
    assert _bad(cfg, TensorDescriptor.dense(0, (6, 7), transpose=True)) is bad  # block > row
    assert _bad(cfg, TensorDescriptor.dense(0, (7, 6), transpose=True)) is bad


def test_rows_beyond_capacity_are_row_range_and_checks_run_in_order():
    cfg = AcceleratorConfig(rows=4, cols=4, spad_rows=64, spad_banks=1)
    desc = TensorDescriptor.dense(0, (2, 3, 4), pad_before=(0, 1, 0))  # 8 rows
    assert dma.check(cfg, (0, 24), desc, 56) is DmaError.OK
    assert dma.check(cfg, (0, 24), desc, 57) is DmaError.ROW_RANGE
    assert dma.check(cfg, (0, 23), desc, 57) is DmaError.ROW_RANGE     # before WINDOW
    wide = TensorDescriptor.dense(0, (2, 3, 5))
    assert dma.check(cfg, (0, 23), wide, 57) is DmaError.BAD_DESCRIPTOR  # before both


def test_dma_error_is_a_three_bit_hardware_enum():
    assert Shape.cast(DmaError).width == 3
    assert [e.value for e in DmaError] == list(range(6))
    assert DmaError.OK.value == 0


@pytest.mark.parametrize("fields, needle", [
    (dict(base=-1), "base=-1: out of range, allowed 0..18446744073709551615"),
    (dict(sizes=(0, 3)), r"sizes\[2\]=0: out of range, allowed 1..65535"),
    (dict(sizes=(65536,)), r"sizes\[3\]=65536: out of range, allowed 1..65535"),
    (dict(sizes=(1, 1, 1, 1, 1)), "sizes=.*: must be 1..4 integers"),
    (dict(sizes=()), "sizes=.*: must be 1..4 integers"),
    (dict(strides=(2**31,)), r"strides\[3\]=2147483648: out of range, allowed -2147483648..2147483647"),
    (dict(strides=(1.5,)), r"strides\[3\]=1.5: must be an integer"),
    (dict(elem_bytes=3), r"elem_bytes=3: allowed one of \[1, 2, 4, 8, 16\]"),
    (dict(elem_bytes=4.0), r"elem_bytes=4.0: allowed one of"),
    (dict(pad_before=(256,)), r"pad_before\[3\]=256: out of range, allowed 0..255"),
    (dict(pad_after=(-1, 0)), r"pad_after\[2\]=-1: out of range, allowed 0..255"),
    (dict(pad_value=128), "pad_value=128: out of range, allowed -128..127"),
    (dict(pad_value=-(2**31), elem_bytes=2), "pad_value=-2147483648: out of range, allowed -32768..32767"),
    (dict(transpose=1), "transpose=1: must be a bool"),
])
def test_impossible_descriptor_names_field_and_range(fields, needle):
    args = dict(base=0, sizes=(4,), strides=(1,)) | fields
    with pytest.raises(dma.DescriptorError, match=needle):
        TensorDescriptor(**args)


def test_descriptor_is_normalised_to_four_dimensions():
    d = TensorDescriptor.dense(5, (3, 4), 2, pad_after=(1,))
    assert (d.sizes, d.strides, d.pad_before, d.pad_after) == ((1, 1, 3, 4), (0, 0, 8, 2), (0,) * 4, (0, 0, 0, 1))
    assert d.onchip_shape == (3, 5)


def test_unencodable_command_arguments_raise():
    cfg = AcceleratorConfig(rows=4, cols=4, addr_bits=32)
    desc = TensorDescriptor.dense(0, (4,))
    with pytest.raises(dma.DescriptorError, match="base=4294967296: out of range, allowed 0..4294967295"):
        dma.check(cfg, (0, 16), TensorDescriptor.dense(1 << 32, (4,)), 0)
    with pytest.raises(dma.DescriptorError, match="window hi=4294967296"):
        dma.check(cfg, (0, 1 << 32), desc, 0)
    with pytest.raises(dma.DescriptorError, match="row=-1"):
        dma.check(cfg, (0, 16), desc, -1)
    with pytest.raises(dma.DescriptorError, match="target='dram'"):
        dma.check(cfg, (0, 16), desc, 0, "dram")
    with pytest.raises(ValueError, match="expected the whole spad"):
        dma.dma_store(cfg, np.zeros((4, 4)), bytearray(16), (0, 16), desc, 0)


# -- AXI bursts --------------------------------------------------------------------------
def strobe_span(mask, bus_bytes):
    """The lanes [lo, hi) of a strobe, which must be one contiguous, non-empty group."""
    assert 0 < mask < (1 << bus_bytes)
    lo = (mask & -mask).bit_length() - 1
    hi = mask.bit_length()
    assert mask == (1 << hi) - (1 << lo), bin(mask)
    return lo, hi


def burst_bytes(b, bus_bytes):
    """[start, stop) of the bytes a burst moves, checked against AXI4's rules."""
    word = b.addr - b.addr % bus_bytes
    last_word = word + (b.beats - 1) * bus_bytes
    lo, hi = strobe_span(b.first_strobe, bus_bytes)
    llo, lhi = strobe_span(b.last_strobe, bus_bytes)
    assert lo == b.addr - word
    if b.beats == 1:
        assert b.first_strobe == b.last_strobe
    else:
        assert hi == bus_bytes and llo == 0
    assert 1 <= b.beats <= 256
    assert word // 4096 == (last_word + bus_bytes - 1) // 4096, "crosses a 4 KiB boundary"
    return b.addr, last_word + lhi


@pytest.mark.parametrize("bus_bits", BUS_BITS)
def test_bursts_cover_a_run_exactly_and_are_greedy(bus_bits, seed):
    cfg = AcceleratorConfig(bus_bits=bus_bits)
    bb = cfg.bus_bytes
    rng = np.random.default_rng(seed)
    for _ in range(300):
        addr = int(rng.integers(0, 1 << 20)) * 4096 + int(rng.integers(-80, 80)) + 4096
        n = int(rng.choice([rng.integers(1, 2 * bb + 1), rng.integers(1, 20000)]))
        out = dma.axi_bursts(cfg, addr, n)
        at = addr
        for i, b in enumerate(out):
            start, stop = burst_bytes(b, bb)
            assert start == at
            at = stop
            if i < len(out) - 1:  # only the run's end stops a burst early
                assert stop % 4096 == 0 or b.beats == 256
        assert at == addr + n


@pytest.mark.parametrize("bus_bits", BUS_BITS)
def test_descriptor_bursts_cover_exactly_the_touched_bytes(bus_bits, seed):
    rng = np.random.default_rng(seed)
    for cfg, target in CONFIGS:
        cfg = cfg.replace(bus_bits=bus_bits)
        for _ in range(8):
            desc, *_ = random_case(rng, cfg, target, transpose=target == "spad")
            covered = set()
            for b in dma.bursts(cfg, desc):
                covered |= set(range(*burst_bytes(b, cfg.bus_bytes)))
            want = ref_bytes(desc)
            assert covered == want
            assert set().union(*(range(a, z) for a, z in dma.touched_bytes(desc))) == want


def test_dense_rows_are_one_run_each_and_strided_elements_one_run_each():
    rows = TensorDescriptor(4090, (2, 20), (30, 1), pad_before=(1, 1))
    assert list(dma.runs(rows)) == [(4090, 20), (4120, 20)]
    cols = TensorDescriptor(0, (2, 3), (1, 8), 2)
    assert list(dma.runs(cols)) == [(0, 2), (8, 2), (16, 2), (1, 2), (9, 2), (17, 2)]
    cfg = AcceleratorConfig(bus_bits=64)
    assert dma.bursts(cfg, rows) == [
        dma.Burst(4090, 1, 0b11111100, 0b11111100),  # up to the 4 KiB boundary
        dma.Burst(4096, 2, 0xFF, 0b00111111),
        dma.Burst(4120, 3, 0xFF, 0b00001111),
    ]
