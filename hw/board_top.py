"""The board top: the accelerator, on-chip RAM as its DRAM and a UART host bridge.

::

    uart_rx --> [ UartBridge ] --AXI4-Lite--> [ Top ] --AXI4--> [ AxiRam ]
    uart_tx <--      |  ^          irq <------/                     ^
                     |  +--------------------------------------------|--- irq
                     +------------------ byte port ------------------+

The host speaks the frames of :mod:`systolica.model.host_link` on the UART: it writes the
program and tensors into the RAM, sets the CSRs (:mod:`systolica.model.csr`), rings the
doorbell, waits for the interrupt and reads the results back
(:mod:`systolica.driver.board`). The RAM holds ``cfg.board_dram_bytes`` at addresses
``[0, board_dram_bytes)``; the accelerator's DRAM window must lie inside it.

Parameters
----------
cfg : AcceleratorConfig
idle_bits : int
    The bridge's frame timeout in bit times (tests shorten it).

Attributes
----------
uart_rx : In(1), uart_tx : Out(1)
    The serial lines (8N1).
uart_divisor : In(16)
    Clock cycles per bit, a constant on a board (:class:`~systolica.hw.board_pins.BoardPins`
    ties it to ``clock / baud``); a port so one simulation build serves any bit time.
irq : Out(1)
    The accelerator's interrupt (an LED on a board).
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect

from ..model.config import AcceleratorConfig
from ..model.host_link import IDLE_BIT_TIMES
from .axi_ram import AxiRam
from .top import Top
from .uart_bridge import UartBridge
from .uart_rx import DIVISOR_BITS

__all__ = ["BoardTop", "BOARD_TOP_NAME"]

#: The board top's module name in the generated Verilog.
BOARD_TOP_NAME = "systolica_board"


class BoardTop(wiring.Component):
    def __init__(self, cfg: AcceleratorConfig, idle_bits: int = IDLE_BIT_TIMES, target: str = "generic"):
        self.cfg, self.idle_bits, self.target = cfg, idle_bits, target
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1),
                          "uart_divisor": In(DIVISOR_BITS), "irq": Out(1)})

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.top = top = Top(cfg, self.target)
        m.submodules.ram = ram = AxiRam(cfg.addr_bits, cfg.bus_bits, cfg.board_dram_bytes)
        m.submodules.bridge = bridge = UartBridge(cfg, self.idle_bits)
        connect(m, top.axi, ram.axi)
        connect(m, bridge.csr, top.axil)
        connect(m, bridge.mem, ram.host)
        m.d.comb += [bridge.irq.eq(top.irq), self.irq.eq(top.irq), bridge.rx.eq(self.uart_rx),
                     self.uart_tx.eq(bridge.tx), bridge.divisor.eq(self.uart_divisor)]
        return m
