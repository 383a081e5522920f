"""Networks: layers chained through DRAM in one program.

A layer reads what the previous one stored, a store -> load dependency that only the
execute queue can relay: a *barrier* (a one-row COMPUTE, as VTA's dependency NOPs,
:func:`~.emit.barrier`) follows the layer's last STORE, and the next layer's input loads
follow the barrier. The next layer's first weight loads do not read the previous output:
they come before the barrier and overlap the previous layer's tail. The barrier adds one
MAC (``rows_used = cols_used = 1``) to the MAC counter and one array beat.

Activations of convolutions are channels last (:mod:`.layout`); a flatten into a linear
layer is only addressing, with the linear weights' rows permuted to ``(h, w, c)``.
"""

from __future__ import annotations

import hashlib
import pickle
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ...model.config import AcceleratorConfig
from ...model.isa import Command, Opcode, encode_program
from .common import CompileError, check_batch
from .conv import compile_conv2d, conv2d_weight_image
from .emit import Op, barrier, emit
from .layout import DramLayout, Region, from_device, hwc_order, to_device
from .linear import compile_linear, linear_weight_image
from .plan import LayerProgram

__all__ = ["compile_layer", "layer_weight_image", "NetworkProgram", "compile_network"]


def _linear_weight(layer, in_layout: str, src_shape: tuple | None) -> np.ndarray:
    """The weight rows in the order the input's features lie in DRAM: ``(h, w, c)`` when
    the input is a convolution's NHWC output of shape ``src_shape`` (default the layer's
    ``in_shape``; a flattened input, e.g. after an ONNX Flatten, names it)."""
    w = np.asarray(layer.weight)
    shape = tuple(src_shape or layer.in_shape)
    if in_layout == "nhwc" and len(shape) == 3:
        return np.ascontiguousarray(w[hwc_order(shape)])
    return w


def layer_weight_image(cfg: AcceleratorConfig, layer, in_layout: str = "nchw", src_shape: tuple | None = None) -> bytes:
    """The weight image :func:`compile_layer` expects for ``layer`` (``in_layout`` and
    ``src_shape`` as there)."""
    if layer.kind == "linear":
        return linear_weight_image(cfg, _linear_weight(layer, in_layout, src_shape))
    return conv2d_weight_image(cfg, layer.weight, int(layer.input_zero_point), layer.groups, layer.dilations)


def compile_layer(cfg: AcceleratorConfig, layer, batch: int, *, x_addr: int, w_addr: int,
                  out_addr: int, in_layout: str = "nchw", src_shape: tuple | None = None,
                  tile=None) -> LayerProgram:
    """A :class:`~systolica.driver.models.QLinear` or ``QConv2d`` layer. A convolution
    reads and writes NHWC; a linear layer whose input is ``(C, H, W)`` (its ``in_shape``,
    or ``src_shape`` when the input was flattened) reads it as ``in_layout`` says
    (``"nhwc"``: a convolution's output)."""
    common = dict(batch=batch, x_addr=x_addr, w_addr=w_addr, out_addr=out_addr,
                  x_zp=int(layer.input_zero_point), w_zp=layer.weight_zero_point, tile=tile)
    if layer.kind == "linear":
        return compile_linear(cfg, _linear_weight(layer, in_layout, src_shape), layer.bias, layer.requant, **common)
    if layer.kind == "conv2d":
        lp = compile_conv2d(cfg, layer.weight, layer.bias, layer.requant, in_shape=layer.in_shape,
                            stride=layer.strides, pads=layer.pads, dilation=layer.dilations,
                            groups=layer.groups, **common)
        if lp.out_shape[1:] != tuple(layer.out_shape):
            raise CompileError(f"conv2d: geometry gives output {lp.out_shape[1:]}, the layer says "
                               f"out_shape={tuple(layer.out_shape)}")
        return lp
    raise CompileError(f"layer kind {getattr(layer, 'kind', type(layer).__name__)!r}: not supported, "
                       "allowed 'linear', 'conv2d'")


@dataclass
class NetworkProgram:
    """A whole network in one program.

    ``layout`` names every region (``w0``.., ``x`` the input, ``a0``.. each layer's
    output, the last one the network's output, ``program``); ``init`` are the bytes to
    write before running (weights, program); ``window`` the DRAM window to grant.
    ``input_layout`` / ``output_layouts``: how the input and each output lie in their
    region (:data:`~.layout.LAYOUTS`); :meth:`input_bytes` and :meth:`read_output` convert.
    """

    cfg: AcceleratorConfig
    layout: DramLayout
    commands: list[Command]
    program: bytes
    init: list[tuple[int, bytes]]
    input: Region
    input_shape: tuple[int, ...]
    outputs: list[Region]
    output_shapes: list[tuple[int, ...]]
    layers: list[LayerProgram]
    input_layout: str = "nchw"
    output_layouts: tuple = ()

    @property
    def program_base(self) -> int:
        return self.layout.regions["program"].addr

    @property
    def window(self) -> tuple[int, int]:
        return (0, self.layout.size)

    @property
    def macs(self) -> int:
        return sum(lp.macs for lp in self.layers)

    def input_bytes(self, x_q: np.ndarray) -> bytes:
        """The int8 input ``(N, *input_shape)`` as it lies in DRAM."""
        return to_device(x_q, self.input_layout).tobytes()

    def read_output(self, dram, i: int, dtype=np.int8) -> np.ndarray:
        """Layer ``i``'s output (int8, or uint8 FP8 codes), logical shape, from the DRAM image."""
        r = self.outputs[i]
        raw = np.frombuffer(bytes(dram[r.addr:r.end]), dtype=dtype)
        return from_device(raw, self.output_shapes[i], self.output_layouts[i])


def _chain_check(net) -> None:
    shape = tuple(net.input_shape)
    if not net.layers:
        raise CompileError("network has no layers")
    for i, layer in enumerate(net.layers):
        got = tuple(layer.in_shape)
        ok = int(np.prod(got)) == int(np.prod(shape)) if layer.kind == "linear" else got == shape
        if not ok:
            raise CompileError(f"layer {i} ({layer.kind}): takes input {got}, but the previous "
                               f"layer gives {shape}: the shapes do not chain")
        if layer.kind == "linear" and layer.weight.shape[0] != int(np.prod(got)):
            raise CompileError(f"layer {i} (linear): weight {layer.weight.shape} does not take "
                               f"{int(np.prod(got))} input features")
        shape = tuple(layer.out_shape)


def _layouts(net) -> tuple[str, list[str]]:
    """The input's layout and each output's: channels last around convolutions."""
    outs = ["nhwc" if layer.kind == "conv2d" else "nchw" for layer in net.layers]
    return ("nhwc" if net.layers[0].kind == "conv2d" else "nchw"), outs


def _chain(cfg: AcceleratorConfig, layers: list[LayerProgram]) -> list[Op]:
    """The layers' operations in one list: a barrier after each layer's last store, the
    next layer's leading weight loads before it, its input loads after it."""
    ops: list[Op] = []
    for i, lp in enumerate(layers):
        base = len(ops)
        if i == 0:
            ops += [Op(o.cmd, o.reads, o.writes, tuple(base + a for a in o.after), o.tag) for o in lp.ops]
            continue
        lead = 0
        while lead < len(lp.ops) and lp.ops[lead].tag == "weights":
            lead += 1
        last_store = max(j for j, o in enumerate(ops) if o.cmd.opcode is Opcode.STORE)
        ops += lp.ops[:lead]
        b = len(ops)
        ops.append(barrier(cfg, (last_store,)))
        shift = b + 1 - lead
        for o in lp.ops[lead:]:
            after = tuple(shift + a for a in o.after) + ((b,) if o.tag == "input" else ())
            ops.append(Op(o.cmd, o.reads, o.writes, after, o.tag))
    return ops


#: Programs compiled last (:func:`compile_network`), by configuration, batch, base and the
#: network's content: running one network on two backends compiles it once.
RECENT_PROGRAMS = 4
_recent: OrderedDict = OrderedDict()


def compile_network(cfg: AcceleratorConfig, net, batch: int, *, base: int = 0) -> NetworkProgram:
    """One program for ``net`` (a :class:`~systolica.driver.models.QuantizedNet`) on
    ``batch`` samples: layers chained through int8 DRAM buffers (see the module docstring).
    DRAM from ``base``: weight images, the input, each layer's output, the program; every
    region 64-byte aligned. The same network compiled again (same content, configuration,
    batch and base) is the same program, kept for the last :data:`RECENT_PROGRAMS`."""
    batch = check_batch(batch)
    key = (cfg, batch, base, hashlib.sha256(pickle.dumps(net)).hexdigest())
    if key in _recent:
        _recent.move_to_end(key)
        return _recent[key]
    prog = _compile_network(cfg, net, batch, base)
    _recent[key] = prog
    while len(_recent) > RECENT_PROGRAMS:
        _recent.popitem(last=False)
    return prog


def _compile_network(cfg: AcceleratorConfig, net, batch: int, base: int) -> NetworkProgram:
    _chain_check(net)
    in_layout, out_layouts = _layouts(net)
    layer_in = [in_layout] + out_layouts[:-1]
    src_shapes = [tuple(net.input_shape)] + [tuple(layer.out_shape) for layer in net.layers[:-1]]
    layout = DramLayout(cfg, base)
    images = []
    for i, layer in enumerate(net.layers):
        try:
            images.append(layer_weight_image(cfg, layer, layer_in[i], src_shapes[i]))
        except CompileError as e:
            raise CompileError(f"layer {i} ({layer.kind}): {e}") from None
    wregs = [layout.alloc(f"w{i}", len(img)) for i, img in enumerate(images)]
    x = layout.alloc("x", batch * int(np.prod(net.input_shape)))
    outs = [layout.alloc(f"a{i}", batch * int(np.prod(l.out_shape))) for i, l in enumerate(net.layers)]
    layers, src = [], x
    for i, layer in enumerate(net.layers):
        try:
            lp = compile_layer(cfg, layer, batch, x_addr=src.addr, w_addr=wregs[i].addr, out_addr=outs[i].addr,
                               in_layout=layer_in[i], src_shape=src_shapes[i])
        except CompileError as e:
            raise CompileError(f"layer {i} ({layer.kind}): {e}") from None
        layers.append(lp)
        src = outs[i]
    commands = emit(cfg, _chain(cfg, layers))
    program = encode_program(cfg, commands)
    preg = layout.alloc("program", len(program))
    init = [(r.addr, img) for r, img in zip(wregs, images)] + [(preg.addr, program)]
    return NetworkProgram(cfg, layout, commands, program, init, x, (batch, *net.input_shape), outs,
                          [(batch, *l.out_shape) for l in net.layers], layers, in_layout, tuple(out_layouts))
