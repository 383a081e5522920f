"""Compute core: scratchpad, systolic array, accumulator and the execute unit, wired.

The memories' other ports are the core's ports, for the DMA and the requantization path:
the DMA load engine writes the scratchpad and the accumulator, the DMA store engine reads
the scratchpad, and the requantization unit reads the accumulator.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import connect, flipped

from ..model.config import AcceleratorConfig
from .accumulator import Accumulator
from .copies import kept_copies
from .executor import Executor
from .scratchpad import Scratchpad
from .systolic_array import SystolicArray

__all__ = ["Core"]


class Core(wiring.Component):
    """Scratchpad -> array -> accumulator under the execute unit.

    Attributes
    ----------
    cmd, cmd_ready_next, done, busy :
        The execute unit's (:class:`~.executor.Executor`) compute commands and completions.
    spad_write, spad_read : the scratchpad's ``write`` and ``read_dma`` ports.
    acc_write, acc_read : the accumulator's ``dma_write`` and ``read`` ports. ``acc_write``'s
        ``ready`` (the accumulator's, ``~`` the executor's write ``valid``) comes from a
        register of its own, loaded from the executor's ``acc_write_valid_next``, which the
        placer can put by the load engine (timing: the 8x8 top at de8b1de,
        `core.executor.acc_write__valid` -> a 3.28 ns route -> the load engine's output
        stage -> its row address's enable, -1.03 ns, and the scratchpad's, -1.55 ns).
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        self._ex, self._spad, self._acc = Executor(cfg), Scratchpad(cfg), Accumulator(cfg)
        ex, sp, ac = (x.signature.members for x in (self._ex, self._spad, self._acc))
        super().__init__({
            "cmd": ex["cmd"], "cmd_ready_next": ex["cmd_ready_next"], "done": ex["done"], "busy": ex["busy"],
            "spad_write": sp["write"], "spad_read": sp["read_dma"],
            "acc_write": ac["dma_write"], "acc_read": ac["read"],
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.executor = ex = self._ex
        m.submodules.scratchpad = sp = self._spad
        m.submodules.accumulator = ac = self._acc
        m.submodules.array = array = SystolicArray(self.cfg)
        connect(m, flipped(self.cmd), ex.cmd)
        m.d.comb += [self.cmd_ready_next.eq(ex.cmd_ready_next), self.done.eq(ex.done), self.busy.eq(ex.busy)]
        connect(m, ex.read_a, sp.read_a)
        connect(m, ex.read_b, sp.read_b)
        connect(m, ex.data, array.data)
        connect(m, ex.weights, array.weights)
        connect(m, array.result, ex.result)
        connect(m, ex.acc_write, ac.write)
        connect(m, flipped(self.spad_write), sp.write)
        connect(m, flipped(self.spad_read), sp.read_dma)
        ready = kept_copies(m, ~ex.acc_write_valid_next, 1, name="acc_write_ready", shape=1, init=1)[0]
        m.d.comb += [ac.dma_write.valid.eq(self.acc_write.valid), ac.dma_write.payload.eq(self.acc_write.payload),
                     self.acc_write.ready.eq(ready)]
        connect(m, flipped(self.acc_read), ac.read)
        return m
