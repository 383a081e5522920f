"""The compiler: quantized layers -> a program of :mod:`systolica.model.isa` commands.

Everything here is host-side and exact; the golden machine (:mod:`systolica.model.machine`)
running a compiled program must reproduce :mod:`systolica.model.reference` bit for bit.

Every layer becomes ``Y = requant(A @ W + bias')`` with per-output-channel
requantization, lowered by one tiled weight-stationary GEMM schedule. By concern:

- :mod:`.common`: errors, argument checks, the input zero-point fold (the array computes
  ``sum x*w``; ``bias' = bias - x_zp * sum_k W`` with int32 wrap, as TFLite/gemmlowp do for
  symmetric weights; narrower accumulators only when no raw sum can wrap), lanes, checked
  descriptors;
- :mod:`.gemm`: the schedule -- tiles of output rows by channel tiles, operands cached in
  the scratchpad (weights and inputs in different banks), loop order, overlap;
- :mod:`.emit`: commands and their dependency tokens, derived from the rows each touches;
- :mod:`.plan`: candidate tilings, the fastest by the performance model
  (:mod:`systolica.driver.perf_model`);
- :mod:`.linear` and :mod:`.conv`: the two layer kinds (convolutions channels last, the
  im2col by the DMA's addressing);
- :mod:`.layout`: DRAM regions, activation layouts (NHWC between convolutions);
- :mod:`.network`: layers chained in one program.

A layer that cannot fit (too few scratchpad rows for one tile, an address beyond
``addr_bits``, ...) is a :class:`CompileError` naming the limit, before anything runs.
"""

from .common import DRAM_ALIGN, MAX_COUNT, CompileError, fold_input_zero_point
from .conv import compile_conv2d, conv2d_chunks, conv2d_output_shape, conv2d_weight_image
from .emit import Op, barrier, emit
from .gemm import ORDERS, GemmSpec, Regions, Tiling, fits, regions, schedule
from .layout import LAYOUTS, DramLayout, Region, from_device, to_device
from .linear import compile_linear, linear_weight_image
from .network import NetworkProgram, compile_layer, compile_network, layer_weight_image
from .plan import LayerProgram, candidates, choose

__all__ = [
    "CompileError", "DRAM_ALIGN", "MAX_COUNT", "fold_input_zero_point", "compile_conv2d", "conv2d_chunks",
    "conv2d_output_shape", "conv2d_weight_image", "Op", "barrier", "emit", "ORDERS", "GemmSpec",
    "Regions", "Tiling", "fits", "regions", "schedule", "LAYOUTS", "DramLayout", "Region",
    "from_device", "to_device", "compile_linear", "linear_weight_image", "NetworkProgram",
    "compile_layer", "compile_network", "layer_weight_image", "LayerProgram", "candidates", "choose",
]
