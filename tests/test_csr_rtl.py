"""The register map (model/csr.py) and the generated CSR block under Verilator.

The table itself: offsets unique, aligned, inside the 4 KiB space; helpers name what is
allowed. The block: ``sim/tb_csr.py`` drives it with cocotbext-axi's AxiLiteMaster (random
pauses on every channel) against a Python model of the map: every RW register with
strobes, RO registers ignoring writes, SLVERR off the map, the doorbell, the interrupt,
and 64-bit counter reads while the counters move, at 32- and 48-bit addresses.
"""

import os
import subprocess

import pytest

from systolica.hw.generate import UNITS, generate_verilog
from systolica.model.config import AcceleratorConfig
from systolica.model.csr import (COUNTER_NAMES, CSR_ADDR_BITS, REGISTER, REGISTERS, STATUS_LAYOUT,
                                 counter_register, decode_status, offset)
from systolica.model.bits import pack
from systolica.model.dma import DmaError
from systolica.model.machine import Status
from systolica.sim.runner import WAIVERS, build, run_bench, verilator_env

CONFIGS = [dict(addr_bits=32), dict(addr_bits=48)]
IDS = [f"addr_bits{f['addr_bits']}" for f in CONFIGS]


def test_register_offsets_are_unique_aligned_and_inside_the_csr_space():
    offsets = [r.offset for r in REGISTERS]
    assert len(set(offsets)) == len(offsets) and len(REGISTER) == len(REGISTERS)
    assert all(o % 4 == 0 and 0 <= o < 1 << CSR_ADDR_BITS for o in offsets)
    for i, c in enumerate(COUNTER_NAMES):
        assert offset(counter_register(c, "HI")) == offset(counter_register(c, "LO")) + 4


@pytest.mark.parametrize("addr_bits, hi_bits", [(32, 0), (48, 16), (64, 32)])
def test_address_high_halves_hold_addr_bits_minus_32(addr_bits, hi_bits):
    cfg = AcceleratorConfig(addr_bits=addr_bits)
    for name in ("PROGRAM_BASE", "WINDOW_LO", "WINDOW_HI"):
        assert REGISTER[f"{name}_LO"].bits(cfg) == 32 and REGISTER[f"{name}_HI"].bits(cfg) == hi_bits


def test_lookups_name_the_allowed_values():
    with pytest.raises(ValueError, match="register 'NOPE': unknown, allowed one of .*'ID'"):
        offset("NOPE")
    with pytest.raises(ValueError, match=r"counter='macs': unknown, allowed one of \['cycles'"):
        counter_register("macs", "LO")
    with pytest.raises(ValueError, match="half='MID': allowed 'LO' or 'HI'"):
        counter_register("cycles", "MID")


def test_decode_status_gives_every_code_back():
    for busy in (0, 1):
        for error in Status:
            for dma_error in DmaError:
                fields = {"busy": busy, "done": 1 - busy, "error": error, "dma_error": dma_error}
                assert decode_status(pack(STATUS_LAYOUT, fields)) == fields


@pytest.mark.parametrize("fields", CONFIGS, ids=IDS)
def test_csr_verilog_lints_clean_with_the_documented_waivers(fields, tmp_path):
    gen = generate_verilog(AcceleratorConfig(**fields), "csr")
    assert gen.top == UNITS["csr"] == "systolica_csr"
    src = tmp_path / "systolica_csr.v"
    src.write_text(gen.text)
    lint = subprocess.run(["verilator", "--lint-only", "-Wall", str(WAIVERS), str(src),
                           "--top-module", gen.top], capture_output=True, text=True,
                          env={**os.environ, **verilator_env()})
    assert lint.returncode == 0 and "%Warning" not in lint.stderr + lint.stdout, lint.stderr


@pytest.mark.parametrize("fields", CONFIGS, ids=IDS)
def test_csr_rtl_matches_the_register_map(fields, seed):
    cfg = AcceleratorConfig(**fields)
    run_bench(build(cfg, "csr"), "systolica.sim.tb_csr", env={"SYSTOLICA_SEED": str(seed)})
