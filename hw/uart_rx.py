"""UART receiver: 8 data bits, no parity, 1 stop bit, least significant bit first.

The line goes through a two-flip-flop synchronizer. A falling edge starts a byte; the
start bit is checked half a bit later (a shorter low pulse is ignored as a glitch), the data
bits are sampled in the middle of each bit time and the stop bit must be high: then the
byte is given on ``data`` for one cycle. A low stop bit is a framing error: ``error`` is
high for one cycle, no byte is given, and the receiver waits for the line to go high
again (a break does not start new bytes).

Attributes
----------
rx : In(1)
    The serial line (idle high).
divisor : In(16)
    Clock cycles per bit, at least 4; held constant (the board top ties it to
    ``clock / baud``).
data : Out(stream.Signature(8, always_ready=True))
    Received bytes, one cycle each; the receiver does not wait.
error : Out(1)
    One cycle: a byte without its stop bit.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UartRx", "DIVISOR_BITS"]

#: Width of the ``divisor`` port of the UART receiver and transmitter.
DIVISOR_BITS = 16

class UartRx(wiring.Component):
    rx: In(1, init=1)
    divisor: In(DIVISOR_BITS)
    data: Out(stream.Signature(8, always_ready=True))
    error: Out(1)

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1)
        timer = Signal(DIVISOR_BITS)      # cycles left until the next sample
        bit = Signal(range(8))
        shift = Signal(8)
        expired = timer == 0
        with m.If(~expired):
            m.d.sync += timer.eq(timer - 1)
        m.d.comb += self.data.payload.eq(shift)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor >> 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(expired):
                    m.d.sync += [timer.eq(self.divisor - 1), bit.eq(0)]
                    with m.If(line):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(expired):
                    m.d.sync += [shift.eq((shift >> 1) | (line << 7)), bit.eq(bit + 1),
                                 timer.eq(self.divisor - 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(expired):
                    with m.If(line):
                        m.d.comb += self.data.valid.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += self.error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m
