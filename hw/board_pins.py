"""The board top on a real board: the platform's clock, UART and first LED.

An Amaranth platform (``amaranth-boards``: ULX3S, Arty A7) gives the pins; this wraps
:class:`~systolica.hw.board_top.BoardTop` with the platform's default clock as the
``sync`` domain (with a reset: the platform's default reset button where it has one,
and always after configuration, through a reset synchronizer), ``uart`` 0 (``rx``,
``tx``), ``led`` 0 (the interrupt), and ties the UART divisor to ``round(clock / baud)``.

Parameters
----------
cfg : AcceleratorConfig
baud : int
    Bits per second of the host link; the clock must give at least 4 cycles per bit and
    the rounded divisor must be within 2 % of ``clock / baud``.
pll_hz : float or None
    Run the design from a PLL at this frequency instead of the board clock: the build
    must provide a Verilog module ``systolica_pll`` (``clkin``, ``clkout0``, ``locked``;
    ``yowasp-ecppll`` writes it for ECP5, see :mod:`systolica.fpga`). Reset is held until
    the PLL locks, and the output gets the clock constraint.
"""

from __future__ import annotations

from amaranth.hdl import ClockDomain, ClockSignal, Const, Elaboratable, Instance, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from ..model.config import AcceleratorConfig, ConfigError
from .board_top import BoardTop
from .uart_rx import DIVISOR_BITS

__all__ = ["BoardPins", "uart_divisor"]


def uart_divisor(clock_hz: float, baud: int) -> int:
    """Clock cycles per bit; a clear error when the clock cannot make ``baud``."""
    divisor = round(clock_hz / baud)
    if not 4 <= divisor < 1 << DIVISOR_BITS or abs(clock_hz / divisor / baud - 1) > 0.02:
        raise ConfigError(f"baud={baud}: a {clock_hz / 1e6:g} MHz clock cannot make it within 2 % "
                          f"(allowed {clock_hz / (1 << DIVISOR_BITS):.0f}..{clock_hz / 4:.0f} with an "
                          f"integer number of cycles per bit)")
    return divisor


class BoardPins(Elaboratable):
    def __init__(self, cfg: AcceleratorConfig, baud: int, pll_hz: float | None = None,
                 target: str = "generic"):
        self.cfg, self.baud, self.pll_hz, self.target = cfg, baud, pll_hz, target

    def elaborate(self, platform):
        m = Module()
        m.submodules.clk_buf = clk = io.Buffer("i", platform.request(platform.default_clk, dir="-"))
        m.domains.sync = ClockDomain("sync")
        reset = Const(0)
        if platform.default_rst is not None:
            m.submodules.rst_buf = rst = io.Buffer("i", platform.request(platform.default_rst, dir="-"))
            reset = rst.i
        clock_hz = platform.default_clk_frequency
        if self.pll_hz is None:
            m.d.comb += ClockSignal("sync").eq(clk.i)
        else:
            pll_clk, locked = Signal(), Signal()
            m.submodules.pll = Instance("systolica_pll", i_clkin=clk.i, o_clkout0=pll_clk, o_locked=locked)
            m.d.comb += ClockSignal("sync").eq(pll_clk)
            platform.add_clock_constraint(pll_clk, self.pll_hz)
            reset, clock_hz = reset | ~locked, self.pll_hz
        m.submodules.reset_sync = ResetSynchronizer(reset, domain="sync")
        m.submodules.board = board = BoardTop(self.cfg, target=self.target)
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buf = rx = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx = io.Buffer("o", uart.tx)
        m.submodules.led_buf = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += [board.uart_rx.eq(rx.i), tx.o.eq(board.uart_tx), led.o.eq(board.irq),
                     board.uart_divisor.eq(uart_divisor(clock_hz, self.baud))]
        return m
