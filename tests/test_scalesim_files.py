"""SCALE-Sim's input files as systolica writes them, read back the way SCALE-Sim 3.0.0 reads
them (``scale_config.read_conf_file``: configparser; ``topology_utils.load_arrays_*``:
``row.split(',')[:-1]``, stripped, the first line a header), and its report parsed. The
real SCALE-Sim runs only where its venv exists (``systolica bench --only scalesim`` makes it)."""

import configparser
import math

import pytest

from systolica.driver.workloads import RESNET_LAYERS, random_conv, random_linear
from systolica.scalesim_files import (ScaleSimLayer, config_text, gemm_layer, layout_text, parse_compute_report,
                                      scalesim_layer, topology_text)

#: Every (section, key) scale_config.read_conf_file() of scalesim 3.0.0 reads with CALC
#: bandwidth and sparsity off.
CONFIG_KEYS = [("general", "run_name"), ("run_presets", "InterfaceBandwidth"), ("run_presets", "UseRamulatorTrace")] + [
    ("architecture_presets", k) for k in ("ArrayHeight", "ArrayWidth", "ifmapsramszkB", "filtersramszkB",
                                          "ofmapsramszkB", "IfmapOffset", "FilterOffset", "OfmapOffset",
                                          "Dataflow", "ReadRequestBuffer", "WriteRequestBuffer")] + [
    ("layout", k) for k in ("IfmapCustomLayout", "FilterCustomLayout", "IfmapSRAMBankBandwidth", "IfmapSRAMBankNum",
                            "IfmapSRAMBankPort", "FilterSRAMBankBandwidth", "FilterSRAMBankNum",
                            "FilterSRAMBankPort")] + [("sparsity", "SparsitySupport")]


def _scalesim_rows(text: str) -> list[list[str]]:
    """SCALE-Sim's topology reading: header skipped, blank lines skipped, last field dropped."""
    lines = text.splitlines()
    return [[e.strip() for e in row.strip().split(",")[:-1]] for row in lines[1:] if row.strip()]


def test_config_has_every_key_scalesim_reads():
    cp = configparser.ConfigParser()
    cp.read_string(config_text(16, 8))
    for section, key in CONFIG_KEYS:
        assert cp.has_option(section, key), (section, key)
    assert (cp.get("architecture_presets", "ArrayHeight"), cp.get("architecture_presets", "ArrayWidth")) == ("16", "8")
    assert cp.get("architecture_presets", "Dataflow") == "ws"
    assert cp.get("run_presets", "InterfaceBandwidth") == "CALC"
    assert cp.get("layout", "IfmapCustomLayout") == "False"
    # scale_config reads network_presets' key from the wrong section: the file must not have it
    assert not cp.has_section("network_presets")


def test_config_rejects_bad_input():
    with pytest.raises(ValueError, match="dataflow='xs'"):
        config_text(4, 4, dataflow="xs")
    with pytest.raises(ValueError, match="array 0x4"):
        config_text(0, 4)


def test_gemm_topology_round_trip():
    layers = [gemm_layer("GEMM 64^3", 64, 64, 64), gemm_layer("fc", 8, 256, 10)]
    rows = _scalesim_rows(topology_text(layers))
    # SCALE-Sim's GEMM columns are M, N, K
    assert rows == [["GEMM_64_3", "64", "64", "64"], ["fc", "8", "10", "256"]]
    assert layers[1].gemm == (8, 256, 10)


@pytest.mark.parametrize("geom", RESNET_LAYERS, ids=lambda g: g.name)
def test_conv_maps_padded_to_the_same_gemm(geom):
    layer = random_conv(geom, seed=1)
    s = scalesim_layer(geom.name, layer, 1)
    assert s.mode == "conv"
    h, w, r, c_s, ch, f, st = (int(x) for x in _scalesim_rows(topology_text([s]))[0][1:])
    # the padded input, less what no window reaches
    assert geom.h + 2 * geom.pad - geom.stride < h <= geom.h + 2 * geom.pad
    assert geom.w + 2 * geom.pad - geom.stride < w <= geom.w + 2 * geom.pad
    assert (r, c_s, ch, f, st) == (geom.k, geom.k, geom.c, geom.m, geom.stride)
    # SCALE-Sim's output size (topology_utils: ceil((H - R + S) / S)) == the layer's own
    _, oh, ow = layer.out_shape
    assert (math.ceil((h - r + st) / st), math.ceil((w - c_s + st) / st)) == (oh, ow)
    assert s.gemm == (oh * ow, geom.c * geom.k * geom.k, geom.m)


def test_batched_conv_and_linear_are_gemms():
    geom = RESNET_LAYERS[1]
    layer = random_conv(geom, seed=2)
    s = scalesim_layer("c", layer, 4)
    _, oh, ow = layer.out_shape
    assert (s.mode, s.gemm) == ("gemm", (4 * oh * ow, geom.c * geom.k * geom.k, geom.m))
    lin = random_linear(48, 20, seed=3)
    assert scalesim_layer("l", lin, 5).gemm == (5, 48, 20)


def test_unmappable_layers_are_one_line_errors():
    import dataclasses

    layer = random_conv(RESNET_LAYERS[0], seed=4)
    with pytest.raises(ValueError, match=r"strides=\(1, 2\)"):
        scalesim_layer("c", dataclasses.replace(layer, strides=(1, 2)), 1)
    with pytest.raises(ValueError, match="batch=0"):
        scalesim_layer("c", layer, 0)
    with pytest.raises(ValueError, match="one topology file holds one mode"):
        topology_text([gemm_layer("g", 1, 1, 1), ScaleSimLayer("c", "conv", (3, 3, 3, 3, 1, 1, 1))])


def test_layout_is_a_header():
    assert layout_text().startswith("Layer name") and layout_text().count("\n") == 1


# COMPUTE_REPORT.csv written by scalesim 3.0.0 for a 64x64x64 GEMM on 16x16 WS
REPORT = """LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,
0, 3241, 1759, 0, 58.21489482660603, 100.0, 51.200000000000024,
"""


def test_parse_compute_report():
    (r,) = parse_compute_report(REPORT)
    assert (r["layer"], r["cycles"], r["cycles_with_prefetch"], r["stall_cycles"]) == (0, 1759, 3241, 0)
    assert r["utilization"] == pytest.approx(0.5821489482660603)
    # its utilization is MACs / (PEs x Total Cycles)
    assert r["utilization"] == pytest.approx(64 ** 3 / (256 * r["cycles"]))
    with pytest.raises(ValueError, match="LayerID"):
        parse_compute_report("nothing")


def _venv_ready():
    from systolica.bench_scalesim import installed

    return installed() is not None


@pytest.mark.skipif(not _venv_ready(), reason="no SCALE-Sim venv (.venv-scalesim): `systolica bench --only scalesim` "
                    "creates it; make test does not install scalesim")
def test_real_scalesim_conv_equals_its_gemm():
    """The padded-conv mapping holds in SCALE-Sim itself: the conv line and the GEMM line
    of the same layer take the same cycles, at least the ideal M K N / PEs."""
    from dataclasses import replace

    from systolica.bench_scalesim import run_scalesim
    from systolica.driver.workloads import Conv

    layer = random_conv(Conv("small", 8, 6, 6, 20, 3, 1, 1), seed=5)
    conv = scalesim_layer("conv", layer, 1)
    as_gemm = replace(gemm_layer("gemm", *conv.gemm), name="gemm")
    a, b = run_scalesim(4, 4, [conv, as_gemm])
    m, k, n = conv.gemm
    assert a["cycles"] == b["cycles"] >= m * k * n / 16
