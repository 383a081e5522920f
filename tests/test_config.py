import json

import pytest

from systolica.model.config import AcceleratorConfig, ConfigError


@pytest.mark.parametrize("field, value, needle", [
    ("rows", 0, "rows=0: out of range, allowed 1..128"),
    ("rows", 129, "rows=129: out of range, allowed 1..128"),
    ("cols", -3, "cols=-3: out of range, allowed 1..128"),
    ("rows", 2.5, "rows=2.5: must be an integer in 1..128"),
    ("cols", True, "cols=True: must be an integer in 1..128"),
    ("acc_bits", 8, "acc_bits=8: out of range, allowed 16..64"),
    ("acc_bits", 65, "acc_bits=65: out of range, allowed 16..64"),
    ("input_type", "int4", "input_type='int4': unknown"),
    ("weight_type", "fp8_e4m3", "weight_type='fp8_e4m3': cannot multiply input_type='int8', allowed one of ['int8']"),
    ("weight_type", "e4m3", "weight_type='e4m3': unknown, allowed one of ['fp8_e4m3', 'fp8_e5m2', 'int8']"),
    ("dataflows", ("ws", "is"), "dataflows=['ws', 'is']: must be a non-empty subset of ['ws', 'os']"),
    ("dataflows", (), "must be a non-empty subset"),
    ("dataflows", ("os", "os"), "without repeats"),
    ("dataflows", "ws", "must be a non-empty subset"),
    ("spad_rows", 1000, "spad_rows=1000: must be a power of two in 16..1048576"),
    ("spad_rows", 8, "spad_rows=8: out of range, allowed 16..1048576"),
    ("spad_banks", 3, "spad_banks=3: must be a power of two in 1..16"),
    ("acc_rows", 1 << 21, "acc_rows=2097152: out of range, allowed 16..1048576"),
    ("acc_banks", 0, "acc_banks=0: out of range, allowed 1..16"),
    ("bus_bits", 48, "bus_bits=48: allowed one of [32, 64, 128, 256, 512]"),
    ("addr_bits", 16, "addr_bits=16: out of range, allowed 32..64"),
    ("queue_depth", 1, "queue_depth=1: out of range, allowed 2..256"),
    ("board_dram_bytes", 3 << 12, "board_dram_bytes=12288: must be a power of two in 4096..67108864"),
])
def test_invalid_fields_name_the_field_and_range(field, value, needle):
    with pytest.raises(ConfigError) as e:
        AcceleratorConfig(**{field: value})
    assert needle in str(e.value)


@pytest.mark.parametrize("rows, cols", [(1, 1), (2, 3), (16, 4), (128, 128)])
def test_json_round_trip_and_hash(rows, cols):
    cfg = AcceleratorConfig(rows=rows, cols=cols, dataflows=("os", "ws"))
    assert cfg.dataflows == ("ws", "os")  # canonical order
    again = AcceleratorConfig.from_json(cfg.to_json())
    assert again == cfg and again.config_hash() == cfg.config_hash()
    assert json.loads(cfg.to_json())["dataflows"] == ["ws", "os"]


def test_hash_is_stable_and_content_addressed():
    a, b = AcceleratorConfig(rows=4, cols=8), AcceleratorConfig(rows=4, cols=8)
    assert a.config_hash() == b.config_hash()
    assert a.config_hash() != AcceleratorConfig(rows=8, cols=4).config_hash()
    assert a.config_hash() != a.replace(acc_bits=24).config_hash()
    # Fixed by the canonical JSON of the fields, not by Python's per-process hash seed.
    import hashlib
    canonical = ('{"acc_banks":2,"acc_bits":32,"acc_rows":1024,"addr_bits":32,"board_dram_bytes":65536,"bus_bits":64,'
                 '"cols":8,"dataflows":["ws","os"],"input_type":"int8","queue_depth":8,"rows":4,'
                 '"spad_banks":2,"spad_rows":4096,"weight_type":"int8"}')
    assert a.config_hash() == hashlib.sha256(canonical.encode()).hexdigest()[:16]


def test_frozen_and_unknown_json_fields():
    cfg = AcceleratorConfig()
    with pytest.raises(Exception):
        cfg.rows = 4  # type: ignore[misc]
    with pytest.raises(ConfigError, match=r"unknown configuration field\(s\) \['depth'\]"):
        AcceleratorConfig.from_json('{"rows": 4, "depth": 3}')
    with pytest.raises(ConfigError, match="not valid JSON"):
        AcceleratorConfig.from_json("{rows: 4")


def test_banks_must_leave_rows_per_bank():
    with pytest.raises(ConfigError, match=r"spad_banks=4: too many banks for 16 rows, allowed 1..2"):
        AcceleratorConfig(spad_rows=16, spad_banks=4)
    cfg = AcceleratorConfig(rows=4, cols=16, acc_bits=40)
    assert (cfg.spad_row_elems, cfg.spad_row_bytes, cfg.acc_row_bytes) == (16, 16, 128)


# -- FP8 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("a, w, product_bits, frac_bits, flags, elem_bytes", [
    # products: max|a*b| * 2**frac in two's complement; E4M3: 448**2 * 2**18 < 2**36
    ("int8", None, 16, 0, (), 4),
    ("fp8_e4m3", None, 37, 18, ("nan",), 8),
    ("fp8_e5m2", None, 65, 32, ("nan", "pos_inf", "neg_inf"), 16),
    ("fp8_e4m3", "fp8_e5m2", 51, 25, ("nan", "pos_inf", "neg_inf"), 16),
    ("fp8_e5m2", "fp8_e4m3", 51, 25, ("nan", "pos_inf", "neg_inf"), 16),
])
def test_accumulator_format_follows_the_operand_formats(a, w, product_bits, frac_bits, flags, elem_bytes):
    cfg = AcceleratorConfig(input_type=a, weight_type=w)
    assert cfg.weight_type == (w or a)
    assert (cfg.product_bits, cfg.product_frac_bits, cfg.acc_format.flag_names) == (product_bits, frac_bits, flags)
    # default width: 32 for int8, one product plus 16 guard bits for FP8
    assert cfg.acc_bits == (32 if a == "int8" else product_bits + 16)
    assert cfg.acc_elem_bits == cfg.acc_bits + len(flags) and cfg.acc_elem_bytes == elem_bytes
    assert cfg.exact_terms == 1 << (cfg.acc_bits - product_bits)
    again = AcceleratorConfig.from_json(cfg.to_json())
    assert again == cfg and again.config_hash() == cfg.config_hash()


def test_format_facts_match_ml_dtypes():
    import ml_dtypes
    import numpy as np

    from systolica.model.config import INPUT_TYPES
    for name in ("fp8_e4m3", "fp8_e5m2"):
        t = INPUT_TYPES[name]
        info = ml_dtypes.finfo(getattr(ml_dtypes, t.np_name))
        assert t.max_magnitude == float(info.max)
        assert 2.0 ** t.lsb_exp == float(info.smallest_subnormal)
        assert (t.exp_bits, t.man_bits, t.has_inf) == (info.nexp, info.nmant, bool(np.isinf(
            np.array(np.inf, np.float32).astype(info.dtype).astype(np.float32))))


@pytest.mark.parametrize("fields, needle", [
    (dict(input_type="fp8_e4m3", acc_bits=36), "acc_bits=36: out of range, allowed 37..128"),
    (dict(input_type="fp8_e5m2", acc_bits=64), "acc_bits=64: out of range, allowed 65..128"),
    (dict(input_type="fp8_e4m3", acc_bits=129), "acc_bits=129: out of range, allowed 37..128"),
    (dict(input_type="fp8_e4m3", weight_type="fp8_e5m2", acc_bits=50), "allowed 51..128"),
    (dict(input_type="fp8_e4m3", weight_type="int8"),
     "weight_type='int8': cannot multiply input_type='fp8_e4m3', allowed one of ['fp8_e4m3', 'fp8_e5m2']"),
    (dict(input_type="int8", acc_bits=65), "acc_bits=65: out of range, allowed 16..64"),
])
def test_fp8_accumulator_width_is_validated(fields, needle):
    with pytest.raises(ConfigError) as e:
        AcceleratorConfig(**fields)
    assert needle in str(e.value)
