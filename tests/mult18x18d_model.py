"""A model of the ECP5's ``MULT18X18D`` for Amaranth's simulator, built from an
``Instance``'s own parameters and ports (the cell is a black box to every simulator here):
its input registers A and B with their sign bits, the optional pipeline register and the
output register, each on the clock, clock enable and reset its parameters name, reset
synchronous, as Lattice documents the cell. Used by ``tests/test_multiplier_sim.py`` and
``tests/test_stage_multiplier_sim.py``."""

from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Const, Elaboratable, Module, Signal

__all__ = ["Mult18x18dModel", "modelled"]


class Mult18x18dModel(Elaboratable):
    """``MULT18X18D`` as Lattice documents it, from the ``Instance`` arguments ``params`` and
    ``ports`` (A, B and P by bit, SIGNEDA/B, SOURCEA/B, CLKn, CEn, RSTn)."""

    def __init__(self, params: dict, ports: dict):
        self.params, self.ports = params, ports

    def _port(self, name, default=0):
        return self.ports.get(f"i_{name}", Const(default, 1))

    def _register(self, m, name, value):
        """The register ``REG_<name>_*`` names, or ``value`` itself when it is "NONE"."""
        clk = self.params.get(f"REG_{name}_CLK", "NONE")
        if clk == "NONE":
            return value
        assert repr(self._port(clk)) == repr(ClockSignal("sync")), f"{name}: {clk} is not the sync clock"
        ce = self._port(self.params.get(f"REG_{name}_CE", "CE0"), default=1)
        rst = self._port(self.params.get(f"REG_{name}_RST", "RST0"))
        assert self.params.get("RESETMODE", "SYNC") == "SYNC"
        reg = Signal(len(value), name=f"reg_{name.lower()}")
        with m.If(rst):
            m.d.sync += reg.eq(0)
        with m.Elif(ce):
            m.d.sync += reg.eq(value)
        return reg

    def elaborate(self, platform):
        m = Module()
        assert self.params.get("MULT_BYPASS", "DISABLED") == "DISABLED"
        for side in "AB":    # the shift inputs (SRIA/SRIB) are not connected: SOURCEx must pick A/B
            assert repr(self._port(f"SOURCE{side}")) == repr(Const(0, 1)), f"SOURCE{side}"
        a = Cat(*[self._port(f"A{i}") for i in range(18)], self._port("SIGNEDA"))
        b = Cat(*[self._port(f"B{i}") for i in range(18)], self._port("SIGNEDB"))
        a, b = self._register(m, "INPUTA", a), self._register(m, "INPUTB", b)
        ax = Signal(36)
        bx = Signal(36)
        m.d.comb += [ax.eq(Cat(a[:18], a[17].replicate(18) & a[18].replicate(18))),
                     bx.eq(Cat(b[:18], b[17].replicate(18) & b[18].replicate(18)))]
        product = Signal(36)
        m.d.comb += product.eq(ax * bx)             # modulo 2**36: the signed or unsigned product
        p = self._register(m, "OUTPUT", self._register(m, "PIPELINE", product))
        for name, port in self.ports.items():
            if name.startswith("o_P"):
                m.d.comb += port.eq(p[int(name[3:])])
        return m


def modelled(inst) -> Mult18x18dModel:
    """The model of ``inst``, an ``Instance`` of ``MULT18X18D``."""
    assert inst.type == "MULT18X18D"
    ports = {f"{kind}_{name}": value for name, (value, kind) in inst.ports.items()}
    return Mult18x18dModel(dict(inst.parameters), ports)
