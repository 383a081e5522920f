"""Every endpoint's slack, from nextpnr's routed delays (``routed.sdf``).

nextpnr reports one critical path per clock. To know how much of a design misses the
clock, and where, this reads the SDF it writes after routing (every cell's delays, every
route's delay, every register's setup check) and finds the latest arrival at every
endpoint, as nextpnr's own analysis does: the maximum corner, clock to output at the
launching register or memory, the routes and cells between, the setup time at the end,
one clock (``period_ps``) between, no clock skew. ``tests/test_fpga_sta.py`` checks the
worst endpoint's arrival against nextpnr's critical path on a placed and routed design.

``python -m systolica.fpga_sta RUN_DIR`` prints the endpoints that miss the clock, by
block and the worst of each register, for a run folder of ``systolica fpga``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Timing", "read_sdf", "analyse", "Endpoint", "block_of", "register_of", "failing_by_block",
           "endpoint_counts", "summary", "path_steps", "format_path", "main"]

_NUM = r"\(([-\d.]*):([-\d.]*):([-\d.]*)\)"
_CELL = re.compile(r"^\s*\(INSTANCE\s*(.*?)\)\s*$")
_IOPATH = re.compile(r"^\s*\(IOPATH\s+(?:\((?:posedge|negedge)\s+)?([^\s()]+)\)?\s+([^\s()]+)\s+" + _NUM)
_INTERCONNECT = re.compile(r"^\s*\(INTERCONNECT\s+(\S+)\s+(\S+)\s+" + _NUM)
_SETUP = re.compile(r"^\s*\(SETUPHOLD\s+\((?:posedge|negedge)\s+([^\s()]+)\)\s+\((?:posedge|negedge)\s+([^\s()]+)\)\s+"
                    + _NUM)


def _unescape(name: str) -> str:
    return re.sub(r"\\(.)", r"\1", name)


def _pin(path: str) -> tuple[str, str]:
    """``inst/pin`` (the SDF's divider is ``/``; instance names escape their own)."""
    cut = max(i for i, c in enumerate(path) if c == "/" and (i == 0 or path[i - 1] != "\\"))
    return _unescape(path[:cut]), path[cut + 1:]


@dataclass
class Timing:
    """The delays of one routed design, in picoseconds (the maximum corner).

    ``arcs``: (instance, from pin) -> [(to pin, delay)] inside a cell; ``routes``:
    (instance, pin) -> [((instance, pin), delay)]; ``setup``: (instance, data pin) -> (clock
    pin, setup time); ``clocks``: (instance, clock pin) of every setup check, whose arcs
    launch (clock to output)."""
    arcs: dict = field(default_factory=lambda: defaultdict(list))
    routes: dict = field(default_factory=lambda: defaultdict(list))
    setup: dict = field(default_factory=dict)
    clocks: set = field(default_factory=set)


def read_sdf(path: Path) -> Timing:
    t = Timing()
    inst = None
    with open(path) as f:
        for line in f:
            if "(INSTANCE" in line:
                inst = _unescape(_CELL.match(line).group(1))
            elif "(INTERCONNECT" in line:
                m = _INTERCONNECT.match(line)
                t.routes[_pin(m.group(1))].append((_pin(m.group(2)), float(m.group(5))))
            elif "(IOPATH" in line:
                m = _IOPATH.match(line)
                t.arcs[(inst, m.group(1))].append((m.group(2), float(m.group(5))))
            elif "(SETUPHOLD" in line:
                m = _SETUP.match(line)
                key, setup = (inst, m.group(1)), float(m.group(5))
                t.setup[key] = (m.group(2), max(setup, t.setup.get(key, (None, 0.0))[1]))
                t.clocks.add((inst, m.group(2)))
    return t


@dataclass(frozen=True)
class Endpoint:
    """A register's (or memory's) data pin: its latest arrival and setup, and the path."""
    instance: str
    pin: str
    arrival: float
    setup: float
    path: tuple            # ((instance, pin), ...) from the launching pin, clock to output first

    def slack(self, period_ps: float) -> float:
        return period_ps - self.setup - self.arrival


def analyse(t: Timing) -> list[Endpoint]:
    """The latest arrival at every endpoint, worst first (the order is independent of the
    period: no endpoint has a clock of its own)."""
    arrival: dict = {}
    before: dict = {}
    indeg: dict = defaultdict(int)
    # the graph: routes, and each cell's arcs that do not start at a clock
    succ: dict = defaultdict(list)
    for src, sinks in t.routes.items():
        for dst, d in sinks:
            succ[src].append((dst, d))
    for (inst, pin), outs in t.arcs.items():
        if (inst, pin) in t.clocks:
            for out, d in outs:
                node = (inst, out)
                if d > arrival.get(node, -1.0):
                    arrival[node], before[node] = d, (inst, pin)
            continue
        for out, d in outs:
            succ[(inst, pin)].append(((inst, out), d))
    for node, outs in succ.items():
        for dst, _ in outs:
            indeg[dst] += 1
    # longest paths in topological order (Kahn); nodes no launch reaches keep no arrival
    ready = [n for n in succ if indeg[n] == 0]
    while ready:
        node = ready.pop()
        a = arrival.get(node)
        for dst, d in succ[node]:
            if a is not None and a + d > arrival.get(dst, -1.0):
                arrival[dst], before[dst] = a + d, node
            indeg[dst] -= 1
            if indeg[dst] == 0:
                ready.append(dst)
    loop = next((n for n, left in indeg.items() if left > 0), None)
    if loop is not None:
        raise ValueError(f"combinational loop through {loop[0]}/{loop[1]}: no arrival times")
    ends = []
    for (inst, pin), (_, setup) in t.setup.items():
        a = arrival.get((inst, pin))
        if a is None:
            continue
        path, node = [], (inst, pin)
        while node in before:
            path.append(node)
            node = before[node]
        path.append(node)
        ends.append(Endpoint(inst, pin, a, setup, tuple(reversed(path))))
    ends.sort(key=lambda e: -(e.arrival + e.setup))
    return ends


def block_of(instance: str, depth: int = 2) -> str:
    """The hierarchy an instance belongs to, ``depth`` levels (``core.accumulator``): the
    packed cell's name is its first net's, ``<path>.<signal>_TRELLIS_...``."""
    parts = instance.split(".")
    return ".".join(parts[:min(depth, len(parts) - 1)]) or "(top level)"


def register_of(instance: str) -> str:
    """A register's name without the bit and the packer's suffixes
    (``controller.tokens.load_execute_total``)."""
    return re.split(r"_TRELLIS_|_DP16KD|_MULT18X18D|\$", instance)[0]


def failing_by_block(ends: list[Endpoint], period_ps: float, depth: int = 2) -> dict:
    """The endpoints that miss ``period_ps``, by the block they end in, most first."""
    by_block = defaultdict(list)
    for e in ends:
        if e.slack(period_ps) < 0:
            by_block[block_of(e.instance, depth)].append(e)
    return dict(sorted(by_block.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def endpoint_counts(ends: list[Endpoint], period_ps: float, depth: int = 2) -> dict:
    """For a run's report: how many endpoints there are, how many miss the clock, by block."""
    by_block = failing_by_block(ends, period_ps, depth)
    return {"endpoints": len(ends), "failing": sum(map(len, by_block.values())),
            "by_block": {b: len(es) for b, es in by_block.items()}}


def summary(ends: list[Endpoint], period_ps: float, depth: int = 2, worst: int = 25) -> str:
    """What misses the clock: counts by block, then the worst endpoint of each register."""
    failing = [e for e in ends if e.slack(period_ps) < 0]
    lines = [f"endpoints: {len(ends)}; missing {period_ps / 1000:.2f} ns: {len(failing)}"
             + (f" (worst slack {failing[0].slack(period_ps) / 1000:.2f} ns)" if failing else "")]
    by_block = failing_by_block(ends, period_ps, depth)
    if failing:
        lines.append("by block (where the path ends): endpoints, worst slack ns, registers")
        for block, es in by_block.items():
            regs = {register_of(e.instance) for e in es}
            lines.append(f"  {block:40s} {len(es):6d} {es[0].slack(period_ps) / 1000:7.2f} {len(regs):5d}")
        lines.append(f"the worst {worst} registers (slack ns, start of the path -> its end):")
        shown = set()
        for e in failing:
            reg = register_of(e.instance)
            if reg in shown:
                continue
            shown.add(reg)
            start = register_of(e.path[0][0])
            lines.append(f"  {e.slack(period_ps) / 1000:6.2f}  {start} -> {reg}")
            if len(shown) == worst:
                break
    return "\n".join(lines)


def path_steps(t: Timing, e: Endpoint) -> list[tuple[str, float, float, str, str]]:
    """The steps of ``e``'s path: ``(kind, delay, arrival, instance, pin)``, ``kind`` one of
    ``launch`` (clock to output), ``cell`` and ``route``; steps of no delay (inside a carry
    chain) are left out."""
    steps, at = [], 0.0
    for k, (a, b) in enumerate(zip(e.path, e.path[1:])):
        d, kind = next(((d, "route") for dst, d in t.routes.get(a, []) if dst == b), (None, None))
        if d is None:
            d = max(d for out, d in t.arcs.get(a, []) if out == b[1])
            kind = "launch" if k == 0 else "cell"
        at += d
        if d or kind == "launch":
            steps.append((kind, d, at, b[0], b[1]))
    return steps


def format_path(t: Timing, e: Endpoint, period_ps: float) -> str:
    """``e``'s path, a line per step (ns), then its slack."""
    lines = [f"path to {e.instance}/{e.pin} from {e.path[0][0]}/{e.path[0][1]}:",
             "  kind     delay  arrival  cell/pin"]
    for kind, d, at, inst, pin in path_steps(t, e):
        lines.append(f"  {kind:6s} {d / 1000:7.2f} {at / 1000:8.2f}  {inst}/{pin}")
    lines.append(f"  setup  {e.setup / 1000:7.2f} {(e.arrival + e.setup) / 1000:8.2f}; slack "
                 f"{e.slack(period_ps) / 1000:.2f} ns at {1e6 / period_ps:g} MHz")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m systolica.fpga_sta",
                                description="Endpoints that miss the clock, from a routed run's SDF.")
    p.add_argument("run_dir", type=Path, help="a run folder of `systolica fpga` (holds routed.sdf)")
    p.add_argument("--freq", type=float, default=100.0, help="clock in MHz (default 100)")
    p.add_argument("--depth", type=int, default=2, help="hierarchy levels of a block (default 2)")
    p.add_argument("--worst", type=int, default=25, help="registers listed (default 25)")
    p.add_argument("--path", metavar="NAME", help="instead: the worst path into a register whose "
                   "name contains NAME, step by step")
    args = p.parse_args(argv)
    sdf = args.run_dir / "routed.sdf"
    if not sdf.is_file():
        print(f"run_dir={args.run_dir}: no routed.sdf there (a run of `systolica fpga` writes one "
              f"after place and route)", file=sys.stderr)
        return 2
    if not args.freq > 0 or args.depth < 1 or args.worst < 1:
        print(f"--freq {args.freq:g} --depth {args.depth} --worst {args.worst}: allowed a positive "
              f"clock, depth >= 1, worst >= 1", file=sys.stderr)
        return 2
    t = read_sdf(sdf)
    ends = analyse(t)
    if args.path is not None:
        e = next((e for e in ends if args.path in register_of(e.instance)), None)
        if e is None:
            print(f"--path {args.path}: no endpoint of a register with that in its name", file=sys.stderr)
            return 2
        print(format_path(t, e, 1e6 / args.freq))
        return 0
    print(summary(ends, 1e6 / args.freq, args.depth, args.worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
