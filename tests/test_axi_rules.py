"""The AXI protocol monitors fire on broken traffic: the C++ monitor of the native harness
(driven alone by ``monitor_selftest``) and the Python checker of the cocotb benches are fed
the same synthetic traces -- one per rule, each breaking exactly that rule at a known cycle,
plus legal traffic that must pass -- and must both report exactly the expected violations.
A monitor that never fires proves nothing."""

import subprocess

import pytest

from systolica.sim.axi_rules import RULES, TRACE_FIELDS, AxiRules
from systolica.sim.native import AxiLimits
from systolica.sim.native_build import build_monitor_selftest

BB = 8          # bus bytes of the traces
FULL = (1 << BB) - 1


class Scenario:
    """Cycles of one trace; cycle 0 is idle (the first cycle after reset)."""

    def __init__(self, name: str, *, window=None, limits=None):
        self.name, self.window, self.limits = name, window, limits or AxiLimits()
        self.cycles: list[tuple[int, dict]] = [(0, {})]
        self.expected: list[tuple[int, str]] = []

    def at(self, rst: int = 0, **fields) -> int:
        """Append a cycle; returns its number."""
        unknown = set(fields) - set(TRACE_FIELDS)
        assert not unknown, unknown
        self.cycles.append((rst, fields))
        return len(self.cycles) - 1

    def expect(self, cycle: int, rule: str) -> None:
        self.expected.append((cycle, rule))

    def lines(self) -> list[str]:
        out = [f"begin {self.name}"]
        if self.window:
            out.append(f"window {self.window[0]} {self.window[1]}")
        out += [f"limit read {i} {n}" for i, n in self.limits.read.items()]
        out += [f"limit write {i} {n}" for i, n in self.limits.write.items()]
        for c, (rst, f) in enumerate(self.cycles):
            vals = []
            for name in TRACE_FIELDS:
                v = f.get(name, 0)
                vals.append(v.to_bytes(BB, "little").hex() if name in ("wdata", "rdata") else str(v))
            out.append(f"{c} {rst} " + " ".join(vals))
        return out + ["end"]

    def python(self) -> list[tuple[int, str]]:
        rules = AxiRules(BB, limits=self.limits, window=self.window, max_violations=10**6)
        for c, (rst, f) in enumerate(self.cycles):
            rules.check(c, bool(rst), f)
        return sorted((v.cycle, v.rule) for v in rules.violations)


def ar(addr, beats=1, size=3, burst=1, ident=0, ready=1):
    return dict(arvalid=1, arready=ready, araddr=addr, arlen=beats - 1, arsize=size, arburst=burst, arid=ident)


def aw(addr, beats=1, size=3, burst=1, ident=0, ready=1):
    return dict(awvalid=1, awready=ready, awaddr=addr, awlen=beats - 1, awsize=size, awburst=burst, awid=ident)


def w(strb=FULL, last=1, data=0, ready=1):
    return dict(wvalid=1, wready=ready, wstrb=strb, wlast=last, wdata=data)


def r(last=1, ident=0, data=0, ready=1):
    return dict(rvalid=1, rready=ready, rlast=last, rid=ident, rdata=data)


def b(ident=0, resp=0, ready=1):
    return dict(bvalid=1, bready=ready, bid=ident, bresp=resp)


def _legal() -> Scenario:
    s = Scenario("legal", window=(0x1000, 0x3005), limits=AxiLimits(read={0: 2, 1: 1}, write={0: 2}))
    s.at(**ar(0x1000, 2, ready=0))                # held while not ready
    s.at(**ar(0x1000, 2))
    s.at(**ar(0x1100, 1, ident=1))                # a second ID
    s.at(**r(last=0, data=5, ready=0))            # held while not ready
    s.at(**r(last=0, data=5))
    s.at(**r(ident=1))                            # interleaved between IDs
    s.at(**r())
    s.at(**w(0xF8, last=0))                       # W before its AW: unaligned start 0x2003
    s.at(**aw(0x2003, 2), **w(0x0F, last=1))
    s.at(**b())
    s.at(**ar(0x1010, 4, burst=2))                # WRAP, 4 beats, aligned
    for k in range(4):
        s.at(**r(last=int(k == 3)))
    s.at(**aw(0x3000, 1, size=2), **w(0x0F, last=1))   # 4-byte beat below hi 0x3005
    s.at(**b())
    s.at(l_awvalid=1, l_awready=0, l_awaddr=8, l_wvalid=1, l_wready=1, l_wdata=1, l_wstrb=0xF, l_bready=1)
    s.at(l_awvalid=1, l_awready=1, l_awaddr=8, l_bready=1)
    s.at(l_bvalid=1, l_bready=1)
    s.at(l_arvalid=1, l_arready=1, l_araddr=0xC, l_rready=1)
    s.at(l_rvalid=1, l_rready=1, l_rdata=7)
    return s


def _stability() -> list[Scenario]:
    out = []
    cases = {   # channel: (first cycle, second cycle: dropped, second cycle: changed)
        "AR": (ar(0x100, ready=0), {}, ar(0x108, ready=0)),
        "AW": (aw(0x100, ready=0), {}, aw(0x100, 2, ready=0)),
        "W": (w(ready=0), {}, w(data=1, ready=0)),
        "R": (r(ready=0), {}, r(data=9, ready=0)),
        "B": (b(ready=0), {}, b(resp=2, ready=0)),
        "L_AW": (dict(l_awvalid=1, l_awaddr=4), {}, dict(l_awvalid=1, l_awaddr=8)),
        "L_W": (dict(l_wvalid=1, l_wdata=4, l_wstrb=15), {}, dict(l_wvalid=1, l_wdata=5, l_wstrb=15)),
        "L_B": (dict(l_bvalid=1), {}, dict(l_bvalid=1, l_bresp=2)),
        "L_AR": (dict(l_arvalid=1, l_araddr=4), {}, dict(l_arvalid=1, l_araddr=0)),
        "L_R": (dict(l_rvalid=1, l_rdata=4), {}, dict(l_rvalid=1, l_rdata=3)),
    }
    for ch, (first, dropped, changed) in cases.items():
        for how, second in (("dropped", dropped), ("changed", changed)):
            s = Scenario(f"{ch}_{how}")
            s.at(**first)
            s.expect(s.at(**second), f"{ch}_STABLE")
            out.append(s)
    return out


def _violations() -> list[Scenario]:
    out = []

    def new(name, **kw):
        out.append(Scenario(name, **kw))
        return out[-1]

    s = new("reset")
    s.expect(s.at(rst=1, **ar(0x100, ready=0)), "RESET_VALID")     # during reset
    s.expect(s.at(l_bvalid=1, l_bready=0), "RESET_VALID")             # the first cycle after
    for ch, req in (("AR", ar), ("AW", aw)):
        for name, kw in (("reserved", dict(burst=3)), ("long", dict(beats=257)),
                         ("fixed17", dict(burst=0, beats=17)), ("wrap3", dict(burst=2, beats=3, addr=0x100)),
                         ("wrap_unaligned", dict(burst=2, beats=4, addr=0x104))):
            s = new(f"{ch}_burst_{name}")
            args = {"addr": 0x100, **kw}
            s.expect(s.at(**req(**args)), f"{ch}_BURST")
        s = new(f"{ch}_size")
        s.expect(s.at(**req(0x100, size=4)), f"{ch}_SIZE")
        s = new(f"{ch}_4k")
        s.expect(s.at(**req(0x0FF9, 2)), f"{ch}_4K")                  # bytes 0xFF9..0x1007
        s = new(f"{ch}_window_low", window=(0x1000, 0x2000))
        s.expect(s.at(**req(0x0FF8)), f"{ch}_WINDOW")
        s = new(f"{ch}_window_high", window=(0x1000, 0x1803))
        s.at(**req(0x17F8, 2))                                           # last word 0x1800 < hi: fine
        s.expect(s.at(**req(0x17F8, 3)), f"{ch}_WINDOW")                 # word 0x1808 >= hi
        s = new(f"{ch}_outstanding", limits=AxiLimits(read={0: 1}, write={0: 1}))
        s.at(**req(0x100))
        s.expect(s.at(**req(0x200)), f"{ch}_OUTSTANDING")
    s = new("W_window", window=(0x1000, 0x1803))
    s.at(**aw(0x17F8, 2))
    s.at(**w(last=0))
    s.expect(s.at(**w(0x0F, last=1)), "W_WINDOW")                      # byte 0x1803 strobed
    s = new("W_strb_unaligned")
    s.at(**aw(0x1003, 2))
    s.expect(s.at(**w(FULL, last=0)), "W_STRB")                        # lanes 0..2 not addressed
    s.at(**w(FULL, last=1))
    s = new("W_strb_narrow")
    s.at(**aw(0x1004, 2, size=2))                                      # 4-byte beats: 0x1004, 0x1008
    s.at(**w(0xF0, last=0))
    s.expect(s.at(**w(0xF0, last=1)), "W_STRB")                        # beat 2 is lanes 0..3
    s = new("W_last_early")
    s.at(**aw(0x100, 2))
    s.expect(s.at(**w(last=1)), "W_LAST")
    s.at(**w(last=1))
    s = new("W_last_missing")
    s.at(**aw(0x100, 1))
    s.expect(s.at(**w(last=0)), "W_LAST")
    s = new("W_last_before_aw")                                        # W first, checked at the AW
    s.at(**w(last=0))
    s.expect(1, "W_LAST")
    s.at(**aw(0x100, 1))
    s = new("W_early")
    for _ in range(4096):
        s.at(**w())
    s.expect(s.at(**w()), "W_EARLY")
    s = new("R_unexpected")
    s.expect(s.at(**r()), "R_UNEXPECTED")
    s = new("R_same_cycle")
    s.expect(s.at(**ar(0x100), **r()), "R_UNEXPECTED")                 # before its AR completed
    s.at(**r())
    s = new("R_last")
    s.at(**ar(0x100, 2))
    s.expect(s.at(**r(last=1)), "R_LAST")
    s.at(**r(last=1))
    s = new("B_before_last_W")
    s.at(**aw(0x100, 2))
    s.at(**w(last=0))
    s.expect(s.at(**b()), "B_UNEXPECTED")
    s = new("B_same_cycle")
    s.at(**aw(0x100, 1))
    s.expect(s.at(**w(), **b()), "B_UNEXPECTED")
    s = new("L_B_unexpected")
    s.at(l_awvalid=1, l_awready=1)                                     # AW without W
    s.expect(s.at(l_bvalid=1, l_bready=1), "L_B_UNEXPECTED")
    s = new("L_R_unexpected")
    s.expect(s.at(l_rvalid=1, l_rready=1), "L_R_UNEXPECTED")
    return out


SCENARIOS = [_legal(), *_stability(), *_violations()]


@pytest.fixture(scope="module")
def cpp_results(tmp_path_factory) -> dict:
    exe = build_monitor_selftest()
    trace = tmp_path_factory.mktemp("trace") / "trace.txt"
    trace.write_text("\n".join([f"bus_bytes {BB}"] + [l for s in SCENARIOS for l in s.lines()]) + "\n")
    out = subprocess.run([str(exe), str(trace)], capture_output=True, text=True, check=True).stdout
    found: dict = {s.name: [] for s in SCENARIOS}
    for line in out.splitlines():
        name, cycle, rule, _ = line.split()
        found[name].append((int(cycle), rule))
    return {k: sorted(v) for k, v in found.items()}


def test_every_rule_has_a_breaking_scenario():
    covered = {rule for s in SCENARIOS for _, rule in s.expected}
    assert covered == set(RULES), set(RULES) ^ covered


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_cpp_monitor_fires_exactly(scenario, cpp_results):
    assert cpp_results[scenario.name] == sorted(scenario.expected)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_python_checker_fires_exactly(scenario):
    assert scenario.python() == sorted(scenario.expected)
