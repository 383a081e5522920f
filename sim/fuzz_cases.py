"""Fuzz cases: a configuration, a DRAM image and 1..5 programs run one after another
without reset, each legal or broken in one of many ways, with random stalls, bus faults
and aborts. Everything comes from two seeds and a few numbers (:class:`CaseSpec`), printed
as one line so any case -- and any smaller version of it -- can be replayed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from ..model.bus import FAULT_ALIGN, Fault
from ..model.config import AcceleratorConfig
from ..model.dma import DmaError
from ..model.isa import COMMAND_BYTES
from .fuzz_programs import corrupt, legal_program, program_bytes

__all__ = ["fuzz_config", "FP8_PAIRS", "check_fuzzable", "ProgramSpec", "CaseSpec", "case_spec", "FuzzProgram", "FuzzCase", "build_case",
           "KINDS"]

#: How a program is made: legal ones, and each way of breaking one.
KINDS = ("legal", "long", "flood", "bad", "no_end", "short_len", "unaligned", "outside", "deadlock")
_WEIGHTS = (0.34, 0.08, 0.04, 0.16, 0.06, 0.06, 0.04, 0.06, 0.16)
DATA_BYTES = 0x2000


#: FP8 operand formats of ``fuzz_config(seed, fp8=True)``: (input_type, weight_type).
FP8_PAIRS = (("fp8_e4m3", "fp8_e4m3"), ("fp8_e5m2", "fp8_e5m2"), ("fp8_e4m3", "fp8_e5m2"),
             ("fp8_e5m2", "fp8_e4m3"))


def fuzz_config(seed: int, fp8: bool = False) -> AcceleratorConfig:
    """A small random configuration: non-square grids, any accumulator width, 32..256-bit
    buses, banks, queue depths, one or both dataflows, wide addresses. ``fp8``: the same
    grid and memories with FP8 operands (E4M3, E5M2 or mixed, :data:`FP8_PAIRS`) and an
    accumulator from one exact product wide (wrapping) to the default."""
    cfg = _int8_fuzz_config(seed)
    if not fp8:
        return cfg
    rng = np.random.default_rng([seed, 0xF8])
    a, w = FP8_PAIRS[int(rng.integers(len(FP8_PAIRS)))]
    cfg = cfg.replace(input_type=a, weight_type=w, acc_bits=None)
    acc_bits = [cfg.product_bits, cfg.product_bits + 4, cfg.acc_bits][int(rng.choice(3, p=[0.2, 0.2, 0.6]))]
    return cfg.replace(acc_bits=acc_bits)


def _int8_fuzz_config(seed: int) -> AcceleratorConfig:
    rng = np.random.default_rng([seed, 0xC0F])
    rows, cols = (int(x) for x in rng.integers(1, 7, size=2))
    acc_bits = int(rng.choice([16, 20, 32, 40, 64]))
    dataflows = [("ws", "os"), ("ws",), ("os",)][int(rng.choice(3, p=[0.6, 0.2, 0.2]))]
    spad_rows = int(rng.choice([64, 128]))
    acc_rows = int(rng.choice([32, 64]))
    return AcceleratorConfig(
        rows=rows, cols=cols, acc_bits=acc_bits, dataflows=dataflows, spad_rows=spad_rows,
        spad_banks=int(rng.choice([1, 2, 4])), acc_rows=acc_rows, acc_banks=int(rng.choice([1, 2])),
        bus_bits=int(rng.choice([32, 64, 128, 256])), addr_bits=int(rng.choice([32, 32, 40])),
        queue_depth=int(rng.choice([2, 3, 4, 8])))


def check_fuzzable(cfg: AcceleratorConfig) -> None:
    """The fuzzer keeps ``rows + 1`` scratchpad rows and ``rows`` accumulator rows for its
    no-op commands: a configuration needs some room beside them."""
    if cfg.spad_rows < 2 * (cfg.rows + 1) or cfg.acc_rows < 2 * cfg.rows:
        raise ValueError(f"configuration {cfg.name}: the fuzzer needs spad_rows >= {2 * (cfg.rows + 1)} "
                         f"and acc_rows >= {2 * cfg.rows} (it has {cfg.spad_rows} and {cfg.acc_rows})")


@dataclass(frozen=True)
class ProgramSpec:
    kind: str
    n: int                        # random commands (before no-ops and corruption)
    abort_after: int | None = None

    def __str__(self) -> str:
        return f"{self.kind}/{self.n}" + (f"/a{self.abort_after}" if self.abort_after is not None else "")


@dataclass(frozen=True)
class CaseSpec:
    """Everything a case is made from. ``str()`` is its replay line; :meth:`parse` reads it."""

    cfg_seed: int
    case_seed: int
    programs: tuple
    stall: float = 0.0
    faults: int = 0
    reorder: bool = False
    fp8: bool = False             # the configuration is fuzz_config(cfg_seed, fp8=True)

    def __str__(self) -> str:
        return (f"C{self.cfg_seed}:K{self.case_seed}:P{','.join(map(str, self.programs))}"
                f":S{self.stall:g}:F{self.faults}:R{int(self.reorder)}" + (":Tfp8" if self.fp8 else ""))

    @classmethod
    def parse(cls, text: str) -> "CaseSpec":
        m = re.fullmatch(r"C(\d+):K(\d+):P([^:]*):S([0-9.]+):F(\d+):R([01])(:Tfp8)?", text.strip())
        if not m:
            raise ValueError(f"replay spec {text!r}: expected C<cfg>:K<case>:P<kind>/<n>[/a<cycles>],...:"
                             "S<stall>:F<faults>:R<0|1>[:Tfp8] (as the fuzzer prints it)")
        programs = []
        for p in filter(None, m[3].split(",")):
            parts = p.split("/")
            if parts[0] not in KINDS or len(parts) not in (2, 3):
                raise ValueError(f"replay spec: program {p!r}: kind one of {list(KINDS)}, then /n[/a<cycles>]")
            programs.append(ProgramSpec(parts[0], int(parts[1]), int(parts[2][1:]) if len(parts) == 3 else None))
        return cls(int(m[1]), int(m[2]), tuple(programs), float(m[4]), int(m[5]), m[6] == "1", m[7] is not None)


def case_spec(cfg_seed: int, case_seed: int, fp8: bool = False) -> CaseSpec:
    rng = np.random.default_rng([case_seed, 0xCA5E])
    programs = []
    for _ in range(int(rng.integers(2, 6))):
        kind = str(rng.choice(KINDS, p=_WEIGHTS))
        n = {"long": int(rng.integers(150, 320)), "flood": int(rng.integers(230, 275))}.get(kind, int(rng.integers(1, 40)))
        abort = int(rng.integers(5, 400)) if rng.random() < 0.08 else None
        programs.append(ProgramSpec(kind, n, abort))
    stall = float(rng.choice([0.0, 0.0, 0.1, 0.3, 0.6]))
    return CaseSpec(cfg_seed, case_seed, tuple(programs), stall, int(rng.random() < 0.2) * int(rng.integers(1, 3)),
                    bool(rng.random() < 0.3), fp8)


@dataclass(frozen=True)
class FuzzProgram:
    base: int
    length: int                   # PROGRAM_LEN
    window: tuple
    abort_after: int | None
    what: str


@dataclass(frozen=True)
class FuzzCase:
    spec: CaseSpec
    cfg: AcceleratorConfig
    dram: bytes
    programs: tuple
    faults: tuple


def _program(rng, cfg, spec: ProgramSpec, data: tuple[int, int], window: tuple[int, int]) -> tuple[list[int], str]:
    """``data``: where loads and stores go; ``window``: the program's DRAM window (a bad
    command must fail its check against *that*, else it runs, unsynchronised: a race)."""
    if spec.kind == "flood":
        return legal_program(rng, cfg, data, 2, flood=spec.n), f"flood of {spec.n}"
    cmds = legal_program(rng, cfg, data, spec.n)
    if spec.kind in ("bad", "deadlock"):
        for _ in range(20):
            out, what = corrupt(rng, cfg, cmds, window)
            if what != "none" and (spec.kind == "bad") == what.startswith("bad"):
                return out, what
        return cmds, "legal (no corruption found)"
    if spec.kind == "no_end":
        return cmds[:-1], "no END"
    return cmds, spec.kind


def build_case(spec: CaseSpec, cfg: AcceleratorConfig | None = None) -> FuzzCase:
    """The case ``spec`` describes: programs placed one after another, then the data.
    ``cfg`` replaces the random configuration of ``spec.cfg_seed`` (a user's own)."""
    cfg = cfg or fuzz_config(spec.cfg_seed, spec.fp8)
    check_fuzzable(cfg)
    made = []
    base = 0
    data_lo = sum(64 * (p.n * 3 + 8) for p in spec.programs)   # room for every program
    data_lo += -data_lo % 4096
    data = (data_lo, data_lo + DATA_BYTES)
    size = data[1]
    for k, p in enumerate(spec.programs):
        rng = np.random.default_rng([spec.case_seed, k])
        cmds, what = _program(rng, cfg, p, data, (0, size))
        image = program_bytes(cmds)
        length, window, at = (1 << 32) - 1, (0, size), base
        if p.kind == "no_end":
            length = int(rng.integers(0, len(cmds) + 1)) if rng.random() < 0.5 else length
            window = (0, at + len(image)) if length > len(cmds) else window
        elif p.kind == "short_len":
            length = int(rng.integers(0, len(cmds)))
        elif p.kind == "unaligned":
            at = base + int(rng.integers(1, COMMAND_BYTES))
        elif p.kind == "outside":
            cut = at + COMMAND_BYTES * int(rng.integers(0, len(cmds)))
            window = (0, cut) if rng.random() < 0.5 else (cut + COMMAND_BYTES, size)
        made.append((at, image, FuzzProgram(at, length, window, p.abort_after, what)))
        base = at + len(image)
        base += -base % COMMAND_BYTES
    assert base <= data[0], "programs overflow into the data"
    rng = np.random.default_rng([spec.case_seed, 0xDA7A])
    dram = bytearray(rng.integers(0, 256, size=size, dtype=np.uint8).tobytes())
    for at, image, _ in made:
        dram[at:at + len(image)] = image
    faults = []
    for _ in range(spec.faults):
        lo = int(rng.integers(0, size // FAULT_ALIGN)) * FAULT_ALIGN
        if rng.random() < 0.7:     # mostly in the data, where loads and stores go
            lo = data[0] + int(rng.integers(0, DATA_BYTES // FAULT_ALIGN)) * FAULT_ALIGN
        hi = lo + FAULT_ALIGN * int(rng.integers(1, 4))
        faults.append(Fault(lo, min(hi, size), DmaError.AXI_SLVERR if rng.random() < 0.5 else DmaError.AXI_DECERR))
    return FuzzCase(spec, cfg, bytes(dram), tuple(p for _, _, p in made), tuple(faults))


def smaller(spec: CaseSpec):
    """Candidate simplifications of ``spec``, simplest first (the shrinker tries them)."""
    if spec.faults:
        yield replace(spec, faults=0)
    if spec.stall:
        yield replace(spec, stall=0.0)
    if spec.reorder:
        yield replace(spec, reorder=False)
    ps = spec.programs
    for k in range(len(ps)):
        if len(ps) > 1:
            yield replace(spec, programs=ps[:k] + ps[k + 1:])
    for k, p in enumerate(ps):
        if p.abort_after is not None:
            yield replace(spec, programs=ps[:k] + (replace(p, abort_after=None),) + ps[k + 1:])
        for n in (p.n // 2, p.n - 1):
            if 0 <= n < p.n:
                yield replace(spec, programs=ps[:k] + (replace(p, n=n),) + ps[k + 1:])
