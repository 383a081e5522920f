"""SCALE-Sim's input files, written from systolica's layers, and its report read back.

SCALE-Sim (PyPI ``scalesim``, checked against 3.0.0's ``scale_config.py``,
``topology_utils.py``, ``layout_utils.py`` and ``simulator.py``) reads three files:

- a config (INI): ``[general] run_name``; ``[run_presets] InterfaceBandwidth`` (``CALC``:
  no DRAM bandwidth limit, compute only) and ``UseRamulatorTrace``;
  ``[architecture_presets]`` the array (``ArrayHeight`` x ``ArrayWidth``), the SRAM sizes
  in kB, address offsets, ``Dataflow`` (``ws``) and request buffers; ``[layout]`` (custom
  layouts off); ``[sparsity] SparsitySupport``;
- a topology CSV, a header line then one line per layer, every line ending in a comma
  (SCALE-Sim drops the last field). GEMM mode: ``name, M, N, K,``; conv mode: ``name,
  ifmap H, ifmap W, filter H, filter W, channels, filters, stride,`` (one stride for both
  directions). SCALE-Sim has no padding: its output is ``ceil((H - R + S) / S)`` rows;
- a layout CSV (read even with custom layouts off; a header alone is enough then).

How systolica's layers map (:func:`scalesim_layer`): a linear layer of ``batch`` rows is
the GEMM ``M = batch, K = in_features, N = out_features``; a convolution with batch 1 is
a conv line whose ifmap is the *padded* input (``H + top + bottom`` by ``W + left +
right``) cut to the rows and columns the windows reach (``(OH - 1) x stride + kh`` by
``(OW - 1) x stride + kw``: with a remainder SCALE-Sim's ``ceil`` would count one output
row too many), which gives SCALE-Sim the same output size, window and filter count as
ours -- the same GEMM (``M = OH x OW``, ``K = C x kh x kw``, ``N = filters``), its padded
border multiplied like any other input, as our im2col does; a convolution with a batch > 1 is the
GEMM ``M = batch x OH x OW`` (SCALE-Sim has no batch). Only square strides and ungrouped,
undilated convolutions map; anything else is a one-line ``ValueError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ScaleSimLayer", "scalesim_layer", "gemm_layer", "config_text", "topology_text",
           "layout_text", "parse_compute_report"]


@dataclass(frozen=True)
class ScaleSimLayer:
    """One topology line: ``mode`` ``"gemm"`` (``dims`` = ``(M, N, K)``) or ``"conv"``
    (``dims`` = ``(ifmap H, ifmap W, filter H, filter W, channels, filters, stride)``)."""

    name: str
    mode: str
    dims: tuple[int, ...]

    @property
    def gemm(self) -> tuple[int, int, int]:
        """``(M, K, N)`` of the GEMM SCALE-Sim runs for this line."""
        if self.mode == "gemm":
            m, n, k = self.dims
            return m, k, n
        h, w, r, s, c, f, st = self.dims
        oh, ow = math.ceil((h - r + st) / st), math.ceil((w - s + st) / st)
        return oh * ow, r * s * c, f


def _name(name: str) -> str:
    """SCALE-Sim splits on commas and uses names in report paths: keep [A-Za-z0-9_]."""
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_") or "layer"


def gemm_layer(name: str, m: int, k: int, n: int) -> ScaleSimLayer:
    for field, v in (("M", m), ("K", k), ("N", n)):
        if int(v) < 1:
            raise ValueError(f"{name}: GEMM {field}={v}: allowed >= 1")
    return ScaleSimLayer(_name(name), "gemm", (int(m), int(n), int(k)))


def scalesim_layer(name: str, layer, batch: int) -> ScaleSimLayer:
    """The topology line of one of systolica's quantized layers (``QLinear`` or
    ``QConv2d``, :mod:`systolica.driver.models`) run on ``batch`` inputs."""
    if batch < 1:
        raise ValueError(f"{name}: batch={batch}: allowed >= 1")
    if layer.kind == "linear":
        k, n = layer.weight.shape
        return gemm_layer(name, batch, k, n)
    if layer.kind != "conv2d":
        raise ValueError(f"{name}: layer kind {layer.kind!r}: allowed 'linear', 'conv2d'")
    sh, sw = layer.strides
    if sh != sw:
        raise ValueError(f"{name}: strides={tuple(layer.strides)}: SCALE-Sim takes one stride, allowed equal strides")
    if tuple(layer.dilations) != (1, 1) or layer.groups != 1:
        raise ValueError(f"{name}: dilations={tuple(layer.dilations)}, groups={layer.groups}: "
                         "allowed dilations (1, 1) and groups 1")
    c, h, w = layer.in_shape
    f, oh, ow = layer.out_shape
    kh, kw = layer.weight.shape[2:]
    top, left, bottom, right = layer.pads
    ph, pw = h + top + bottom, w + left + right
    if (ph - kh) // sh + 1 != oh or (pw - kw) // sw + 1 != ow:
        raise ValueError(f"{name}: padded input {ph}x{pw}, kernel {kh}x{kw}, stride {sh} do not give "
                         f"the layer's output {oh}x{ow}")
    if batch == 1:
        # the rows and columns the windows reach: SCALE-Sim's ceil((H - R + S) / S) counts
        # one output too many when a stride leaves a remainder
        return ScaleSimLayer(_name(name), "conv", ((oh - 1) * sh + kh, (ow - 1) * sw + kw, kh, kw, c, f, sh))
    return gemm_layer(name, batch * oh * ow, c * kh * kw, f)


def config_text(rows: int, cols: int, *, dataflow: str = "ws", sram_kb: tuple[int, int, int] = (256, 256, 128),
                run_name: str = "systolica") -> str:
    """A SCALE-Sim config: ``rows`` x ``cols`` array, ``dataflow``, SRAM sizes (ifmap,
    filter, ofmap kB), bandwidth ``CALC`` (compute-only cycles), no custom layout, dense."""
    if rows < 1 or cols < 1:
        raise ValueError(f"array {rows}x{cols}: allowed rows, cols >= 1")
    if dataflow not in ("ws", "os", "is"):
        raise ValueError(f"dataflow={dataflow!r}: allowed 'ws', 'os', 'is'")
    ifmap, filt, ofmap = sram_kb
    return "\n".join([
        "[general]", f"run_name = {run_name}", "",
        "[run_presets]", "InterfaceBandwidth = CALC", "UseRamulatorTrace = False", "",
        "[architecture_presets]", f"ArrayHeight = {rows}", f"ArrayWidth = {cols}",
        f"ifmapsramszkB = {ifmap}", f"filtersramszkB = {filt}", f"ofmapsramszkB = {ofmap}",
        "IfmapOffset = 0", "FilterOffset = 10000000", "OfmapOffset = 20000000",
        f"Dataflow = {dataflow}", "ReadRequestBuffer = 32", "WriteRequestBuffer = 32", "",
        "[layout]", "IfmapCustomLayout = False", "FilterCustomLayout = False",
        "IfmapSRAMBankBandwidth = 10", "IfmapSRAMBankNum = 10", "IfmapSRAMBankPort = 2",
        "FilterSRAMBankBandwidth = 10", "FilterSRAMBankNum = 10", "FilterSRAMBankPort = 2", "",
        "[sparsity]", "SparsitySupport = false", "",
    ])


_HEADERS = {"gemm": "Layer, M, N, K,",
            "conv": "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                    "Num Filter, Strides,"}


def topology_text(layers: list[ScaleSimLayer]) -> str:
    """The topology CSV of ``layers`` (all of one mode: SCALE-Sim reads a file in one)."""
    modes = {layer.mode for layer in layers}
    if len(modes) != 1:
        raise ValueError(f"layers: modes {sorted(modes)}: one topology file holds one mode")
    mode = modes.pop()
    lines = [_HEADERS[mode]] + [", ".join([layer.name, *map(str, layer.dims)]) + "," for layer in layers]
    return "\n".join(lines) + "\n"


def layout_text() -> str:
    """The layout CSV: a header only (custom layouts are off, so no row is read)."""
    return "Layer name, IFMAP Height Intraline Factor,\n"


def parse_compute_report(text: str) -> list[dict]:
    """``COMPUTE_REPORT.csv``, one dict per layer: ``cycles`` (SCALE-Sim's "Total Cycles":
    compute, stalls included), ``cycles_with_prefetch`` ("Total Cycles (incl. prefetch)"),
    ``stall_cycles``, ``utilization`` and ``mapping_efficiency`` (fractions)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines or not lines[0].startswith("LayerID"):
        raise ValueError("COMPUTE_REPORT.csv: no 'LayerID' header")
    header = [h.strip() for h in lines[0].rstrip(",").split(",")]
    out = []
    for line in lines[1:]:
        row = dict(zip(header, (v.strip() for v in line.rstrip(",").split(","))))
        out.append({"layer": int(row["LayerID"]), "cycles": int(float(row["Total Cycles"])),
                    "cycles_with_prefetch": int(float(row["Total Cycles (incl. prefetch)"])),
                    "stall_cycles": int(float(row["Stall Cycles"])),
                    "utilization": float(row["Overall Util %"]) / 100,
                    "mapping_efficiency": float(row["Mapping Efficiency %"]) / 100})
    return out
