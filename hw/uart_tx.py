"""UART transmitter: 8 data bits, no parity, 1 stop bit, least significant bit first.

A byte accepted on ``data`` goes out as a start bit (low), the 8 data bits and a stop bit
(high), each ``divisor`` cycles long; the next byte is accepted after the stop bit.

Attributes
----------
data : In(stream.Signature(8))
    Bytes to send.
divisor : In(16)
    Clock cycles per bit, held constant.
tx : Out(1)
    The serial line (idle high).
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .uart_rx import DIVISOR_BITS

__all__ = ["UartTx"]

class UartTx(wiring.Component):
    data: In(stream.Signature(8))
    divisor: In(DIVISOR_BITS)
    tx: Out(1, init=1)

    def elaborate(self, platform):
        m = Module()
        frame = Signal(10, init=0x3FF)     # stop, data[7:0], start: shifted out from bit 0
        left = Signal(range(11))           # bits still to send
        timer = Signal(DIVISOR_BITS)
        m.d.comb += [self.tx.eq(frame[0]), self.data.ready.eq(left == 0)]
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [frame.eq(Cat(Const(0, 1), self.data.payload, Const(1, 1))), left.eq(10),
                         timer.eq(self.divisor - 1)]
        with m.Elif(left != 0):
            with m.If(timer == 0):
                m.d.sync += [frame.eq(Cat(frame[1:], Const(1, 1))), left.eq(left - 1),
                             timer.eq(self.divisor - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m
