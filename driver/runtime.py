"""The runtime: compile a network, lay it out in DRAM, run it on a backend, read it back.

One API, whatever the backend::

    acc = Accelerator(cfg)                     # backend="golden"
    logits, stats = acc.run_network(net, x)    # x int8 (N, *input_shape) or float (quantized first)

Backends take ``(cfg, dram, program_base, window)``, run the program in place on the DRAM
image (a ``bytearray``) and return a :class:`~systolica.model.machine.Result`:

- ``"golden"``: the instruction-level machine (:func:`systolica.model.machine.run`).
- ``"rtl"``: the generated Verilog (the ``top`` unit) under Verilator in the native
  harness (:mod:`systolica.sim.native`: a C++ DRAM model and host, no Python per cycle).
- ``"cocotb"``: the same Verilog driven by cocotb, DRAM as a cocotbext-axi ``AxiRam``,
  CSRs through ``AxiLiteMaster`` (:mod:`systolica.sim.tb_top`; ~1k cycles/s, for the
  protocol-level benches). Both RTL backends give identical images, status and counters.
- ``"board"``: the board top on an FPGA over its UART (:mod:`.board`, ``SYSTOLICA_BOARD_PORT``).

Compile errors (:class:`~.compiler.CompileError`) come before any backend runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..model.config import AcceleratorConfig
from ..model.machine import SCHEDULES, Result, Status, run
from .compiler import DramLayout, NetworkProgram, compile_linear, compile_network, linear_weight_image

__all__ = ["Accelerator", "AcceleratorError", "RunStats", "BACKENDS", "linear_image"]


def linear_image(cfg: AcceleratorConfig, x, w, bias, params, *, x_zp: int = 0) -> tuple[bytes, int, tuple]:
    """One compiled linear layer ``y = requant(x @ w + bias)`` laid out in DRAM: the image
    (input, weights, room for ``y``, program), the program's base and the DRAM window.
    FP8 configurations: ``x``, ``w`` FP8 codes (uint8), ``params`` an
    :class:`~systolica.model.requant_fp8.Fp8RequantParams`, ``bias`` in accumulator units."""
    dtype = np.uint8 if cfg.is_float else np.int8
    x, w = np.asarray(x, dtype=dtype), np.asarray(w, dtype=dtype)
    (m, _), n = x.shape, w.shape[1]
    layout = DramLayout(cfg)
    w_image = linear_weight_image(cfg, w)          # tiles padded to rows x cols: not w.size bytes
    xr, wr, yr = layout.alloc("x", x.size), layout.alloc("w", len(w_image)), layout.alloc("y", m * n)
    prog = compile_linear(cfg, w, bias, params, batch=m, x_addr=xr.addr, w_addr=wr.addr, out_addr=yr.addr,
                          x_zp=x_zp)
    program = prog.program(cfg)
    pr = layout.alloc("program", len(program))
    image = bytearray(layout.size)
    for region, data in ((xr, x.tobytes()), (wr, w_image), (pr, program)):
        image[region.addr:region.addr + len(data)] = data
    return bytes(image), pr.addr, (0, layout.size)


class AcceleratorError(RuntimeError):
    """The backend reported an error status; the message names it and the command."""


def _golden_backend(cfg: AcceleratorConfig, dram: bytearray, program_base: int,
                    window: tuple[int, int], *, schedule: str = "program") -> Result:
    return run(cfg, dram, program_base, window, schedule=schedule)


def _rtl_result(out) -> Result:
    """A :class:`Result` from an RTL run's read-back (status and counters)."""
    return Result.from_registers(out.status, out.counters)


def _padded(dram: bytearray) -> bytes:
    """The image padded to whole 64-byte words (the DRAM model's size granule)."""
    return bytes(dram) + bytes(-len(dram) % 64)


def _rtl_backend(cfg: AcceleratorConfig, dram: bytearray, program_base: int,
                 window: tuple[int, int], *, schedule: str = "program") -> Result:
    """The generated Verilog (``top`` unit) in the native Verilator harness: the final
    DRAM is copied back into ``dram``. ``schedule`` is the hardware's own."""
    from ..sim.native_top import run_program_native

    slots = (len(dram) - program_base) // 64
    out = run_program_native(cfg, _padded(dram), program_base, window, program_len=slots,
                             max_cycles=max(1_000_000, 5_000 * slots))
    dram[:] = out.dram[:len(dram)]
    return _rtl_result(out)


def _cocotb_backend(cfg: AcceleratorConfig, dram: bytearray, program_base: int,
                    window: tuple[int, int], *, schedule: str = "program") -> Result:
    """The generated Verilog under Verilator driven by cocotb (cocotbext-axi ``AxiRam``)."""
    from ..sim.top_job import run_program

    out = run_program(cfg, _padded(dram), program_base, window,
                      program_len=(len(dram) - program_base) // 64)
    dram[:] = out.dram[:len(dram)]
    return _rtl_result(out)


#: Backend name -> callable(cfg, dram, program_base, window, schedule=...) -> Result.
def _board_backend(cfg: AcceleratorConfig, dram: bytearray, program_base: int,
                   window: tuple[int, int], *, schedule: str = "program") -> Result:
    """A real board over its UART (``SYSTOLICA_BOARD_PORT``; :mod:`.board`)."""
    from .board import board_backend

    return board_backend(cfg, dram, program_base, window, schedule=schedule)


BACKENDS: dict[str, Callable[..., Result]] = {"golden": _golden_backend, "rtl": _rtl_backend,
                                              "cocotb": _cocotb_backend, "board": _board_backend}


@dataclass
class RunStats:
    """What one run did. Counters: ``useful_macs`` (the real MACs the compiled tiles
    declare: ``count * rows_used * cols_used``, one per barrier between layers),
    ``array_beats`` (golden backend only: data beats through the array),
    ``dma_bytes_loaded``/``dma_bytes_stored`` and ``commands`` per queue. From the
    compiler: ``layer_macs`` (the network's real multiply-accumulates), the DRAM image
    size and the program length. ``activations``: every layer's int8 output. ``cycles``:
    the hardware's cycle counter (rtl backend only); utilization on an array of ``pes``
    PEs is ``layer_macs / (pes * cycles)``."""

    useful_macs: int
    array_beats: int
    dma_bytes_loaded: int
    dma_bytes_stored: int
    commands: dict
    layer_macs: int
    dram_bytes: int
    program_commands: int
    activations: list = field(default_factory=list, repr=False)
    cycles: int | None = None      # the hardware's cycle counter (rtl backend only)


class Accelerator:
    """One accelerator configuration on one backend (see the module docstring)."""

    def __init__(self, cfg: AcceleratorConfig, backend: str = "golden", *, schedule: str = "program"):
        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r}: allowed one of {list(BACKENDS)}")
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule={schedule!r}: allowed one of {list(SCHEDULES)}")
        self.cfg, self.backend, self.schedule = cfg, backend, schedule

    # -- DRAM image ---------------------------------------------------------------------
    @staticmethod
    def image(prog: NetworkProgram, x_q: np.ndarray) -> bytearray:
        """The DRAM image before the run: weights, program and the input (int8, or the
        uint8 codes of an FP8 configuration)."""
        x_q = np.asarray(x_q)
        dtype = np.uint8 if prog.cfg.is_float else np.int8
        if x_q.dtype != dtype or x_q.shape != prog.input_shape:
            raise ValueError(f"input: need {np.dtype(dtype).name} {prog.input_shape}, got {x_q.dtype} {x_q.shape}")
        dram = bytearray(prog.layout.size)
        for addr, data in prog.init:
            dram[addr:addr + len(data)] = data
        dram[prog.input.addr:prog.input.end] = prog.input_bytes(x_q)
        return dram

    @staticmethod
    def read(dram: bytearray, region, shape, dtype=np.int8) -> np.ndarray:
        return np.frombuffer(bytes(dram[region.addr:region.end]), dtype=dtype).reshape(shape).copy()

    def execute(self, prog: NetworkProgram, dram: bytearray) -> Result:
        """Run ``prog`` on ``dram`` (changed in place) on the backend; raise on an error."""
        result = BACKENDS[self.backend](self.cfg, dram, prog.program_base, prog.window,
                                        schedule=self.schedule)
        if result.status is not Status.OK:
            cmd = prog.commands[result.index] if result.index is not None and result.index < len(prog.commands) else None
            raise AcceleratorError(f"{self.backend}: {result.status.name} at command {result.index} "
                                   f"({cmd.opcode.name if cmd else 'END'}), dma_error={result.dma_error.name}")
        return result

    # -- the one API ----------------------------------------------------------------------
    def run_network(self, net, x) -> tuple[np.ndarray, RunStats]:
        """``net``'s int8 output for ``x``: int8 ``(N, *input_shape)`` as is, or float
        (``(N, 64)`` or ``(N, *input_shape)``) quantized with the net's input parameters.
        An FP8 net (:class:`~.models_fp8.Fp8Net`, on a configuration of its formats):
        uint8 FP8 codes in and out (float input is cast with the net's input scale)."""
        from .models import quantize_input
        from .models_fp8 import Fp8Net, compiler_net, quantize_input_fp8

        x = np.asarray(x)
        dtype = np.int8
        if isinstance(net, Fp8Net):
            if (net.cfg.input_type, net.cfg.weight_type) != (self.cfg.input_type, self.cfg.weight_type):
                raise ValueError(f"net: FP8 formats {net.cfg.input_type} x {net.cfg.weight_type}, the configuration "
                                 f"has input_type={self.cfg.input_type!r}, weight_type={self.cfg.weight_type!r}")
            dtype = np.uint8
            x_q = x.reshape(-1, *net.input_shape) if x.dtype == np.uint8 else quantize_input_fp8(net, x)
            net = compiler_net(net)
        else:
            x_q = x.reshape(-1, *net.input_shape) if x.dtype == np.int8 else quantize_input(net, x)
        prog = compile_network(self.cfg, net, len(x_q))
        dram = self.image(prog, x_q)
        result = self.execute(prog, dram)
        acts = [prog.read_output(dram, i, dtype) for i in range(len(prog.outputs))]
        c = result.counters
        stats = RunStats(c.useful_macs, c.array_beats, c.dma_bytes_loaded, c.dma_bytes_stored,
                         dict(c.commands), prog.macs, prog.layout.size, len(prog.commands), acts,
                         c.cycles)
        return acts[-1], stats
