"""What the native harness returns (:func:`.native.run_native`): per case, its steps'
results, the AXI statistics and the protocol monitor's findings, parsed from the
harness's JSON lines and its DRAM dump file."""

from __future__ import annotations

from dataclasses import dataclass

from .axi_rules import Violation

__all__ = ["StepResult", "IdStats", "Burst", "CaseResult", "parse_case"]


@dataclass(frozen=True)
class StepResult:
    """``op``, the cycles it ``start``\\ ed and ``end``\\ ed and ``irq`` as sampled in
    its last cycle; ``value``/``resp`` for reads, ``resp`` for writes,
    ``timer``/``timeout``/``irq_cycle`` for waits, ``data`` (and ``lo``) for dumps.
    ``activity`` (waits for the interrupt): for each bit of the top's ``activity`` port
    (bit 0 ``running``), the cycles it was high while ``running`` was, counted by the
    harness from the cycle after ``running`` last rose -- what the cycle counters count."""

    op: str
    start: int
    end: int
    irq: int
    value: int | None = None
    resp: int | None = None
    timer: int | None = None
    timeout: bool | None = None
    irq_cycle: int | None = None
    lo: int | None = None
    data: bytes | None = None
    reads: int | None = None
    activity: tuple | None = None


@dataclass(frozen=True)
class IdStats:
    ar: int
    r: int
    aw: int
    w: int
    wstrb_bytes: int
    b: int
    r_resp: tuple
    b_resp: tuple


@dataclass(frozen=True)
class Burst:
    """An accepted AR (``channel`` "R") or AW ("W"): ID, AxADDR, AxLEN + 1, AxSIZE,
    AxBURST and the cycle of the handshake."""

    channel: str
    id: int
    addr: int
    beats: int
    size: int
    burst: int
    cycle: int


@dataclass(frozen=True)
class CaseResult:
    """``ended``: "ok", "timeout" (a WaitIrq/Poll), "axil_timeout" (a register access) or
    "violation" (``stop_on_violation``). ``cycles``: cycles simulated in the case, reset
    included."""

    name: str
    ended: str
    steps: list
    cycles: int
    wall_s: float
    stats: dict
    violations: list
    violation_count: int
    bursts: list
    first_request_cycle: int | None
    last_response_cycle: int | None

    @property
    def ok(self) -> bool:
        return self.ended == "ok" and self.violation_count == 0

    @property
    def reads(self) -> list[int]:
        return [s.value for s in self.steps if s.op in ("read", "poll")]

    @property
    def dumps(self) -> list[bytes]:
        return [s.data for s in self.steps if s.op == "dump"]

    @property
    def timers(self) -> list[int | None]:
        return [s.timer for s in self.steps if s.op == "wait_irq"]

    def report(self) -> str:
        """The monitor's findings, one line each."""
        lines = [str(v) for v in self.violations]
        if self.violation_count > len(self.violations):
            lines.append(f"... {self.violation_count - len(self.violations)} more")
        return "\n".join(lines)


def _step_result(d: dict, dumps: bytes) -> StepResult:
    data = dumps[d["offset"]:d["offset"] + d["length"]] if d["op"] == "dump" else None
    return StepResult(d["op"], d["start"], d["end"], d["irq"], value=d.get("value"), resp=d.get("resp"),
                      timer=d.get("timer"), timeout=d.get("timeout"), irq_cycle=d.get("irq_cycle"),
                      lo=d.get("lo"), data=data, reads=d.get("reads"),
                      activity=tuple(d["activity"]) if "activity" in d else None)


def parse_case(d: dict, dumps: bytes) -> CaseResult:
    """One case's JSON object; ``dumps``: the harness's dump file."""
    stats = {int(i): IdStats(s["ar"], s["r"], s["aw"], s["w"], s["wstrb_bytes"], s["b"], tuple(s["r_resp"]),
                             tuple(s["b_resp"])) for i, s in d["stats"].items()}
    return CaseResult(d["name"], d["ended"], [_step_result(s, dumps) for s in d["steps"]], d["cycles"],
                      d["wall_s"], stats, [Violation(**v) for v in d["violations"]], d["violation_count"],
                      [Burst(*b) for b in d["bursts"]], d["first_request_cycle"], d["last_response_cycle"])
