"""An imported model: its stages, the accelerator programs they group into, and how it runs.

:class:`ImportedModel` holds the stages of :mod:`.lower` in order. Consecutive accelerator
layers that feed only each other (a Flatten/Reshape between them is only addressing) form
one :class:`Segment`: one :class:`~systolica.driver.models.QuantizedNet` compiled by
:func:`~systolica.driver.compiler.compile_network` into one program. Everything else runs
on the host between segments.

Backends (:meth:`ImportedModel.run`):

- ``"reference"``: every layer by the golden layer math (:func:`~systolica.driver.models.
  run_layer`), no program -- fast, for checking whole data sets;
- ``"golden"``: each segment compiled and run on the instruction-level machine
  (``Accelerator(cfg, "golden")``), ``batch`` samples per program;
- ``"rtl"``: each layer compiled on its own and run on the generated Verilog
  (``Accelerator(cfg, "rtl")``), chained through the host, so the hardware's counters give
  per-layer cycles; the golden segments run too and every layer's output is compared.

:meth:`ImportedModel.check` compiles every program a run will need first: a layer that
does not fit the configuration is an :class:`~.graph.OnnxImportError` naming its node
before any backend runs.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import numpy as np

from ...model.config import AcceleratorConfig
from ...model.numerics import NumericsError
from ..compiler import CompileError, compile_network
from ..models import QuantizedNet, run_layer
from .accel import AcceleratorLayer, from_accelerator, to_accelerator
from .graph import OnnxImportError
from .host_ops import Reshape, Stage, Tensor

__all__ = ["BACKENDS", "Segment", "LayerStats", "RunReport", "ImportedModel"]

BACKENDS = ("golden", "rtl", "reference")


@dataclass
class Segment:
    """Accelerator layers run as one program: ``layers`` in order (``skipped``: the
    Flatten/Reshape stages between them), reading tensor ``input``, writing ``output``."""

    layers: list[AcceleratorLayer]
    skipped: list[Reshape]
    input: str
    output: Tensor

    @property
    def net(self) -> QuantizedNet:
        first = self.layers[0].layer
        return QuantizedNet(self.layers[0].node, "onnx", tuple(first.in_shape), first.input_scale,
                            int(first.input_zero_point), tuple(s.layer for s in self.layers))

    def layer_net(self, j: int) -> QuantizedNet:
        """Layer ``j`` as a network of its own (the rtl backend's per-layer programs)."""
        return dataclasses.replace(self.net, name=self.layers[j].node, input_shape=tuple(self.layers[j].layer.in_shape),
                                   layers=(self.layers[j].layer,))


@dataclass
class LayerStats:
    """One accelerator layer in a run: real ``macs`` for all samples; on ``rtl`` the
    hardware's ``cycles`` (summed over the batches), ``utilization`` = macs / (PEs x cycles)
    and whether its output equals the golden machine's; with ``estimate`` the performance
    model's cycles of the programs the rtl backend runs (the layer alone, per batch)."""

    node: str
    op: str
    summary: str
    in_shape: tuple
    out_shape: tuple
    macs: int
    cycles: int | None = None
    utilization: float | None = None
    rtl_equals_golden: bool | None = None
    estimate: int | None = None


@dataclass
class RunReport:
    backend: str
    samples: int
    batch: int
    layers: list[LayerStats] = field(default_factory=list)
    programs: int = 0

    @property
    def rtl_equals_golden(self) -> bool | None:
        flags = [s.rtl_equals_golden for s in self.layers]
        return None if not flags or None in flags else all(flags)

    @property
    def cycles(self) -> int | None:
        c = [s.cycles for s in self.layers]
        return None if not c or None in c else sum(c)


_LAYER_ERROR = re.compile(r"^layer (\d+) \(\w+\): (.*)$", re.S)


class ImportedModel:
    """The result of :func:`~systolica.driver.onnx_import.load` (see the module docstring)."""

    def __init__(self, name: str, input_name: str, input_shape: tuple[int, ...], input_batch: int | None,
                 output: Tensor, stages: list[Stage]):
        self.name, self.input_name, self.input_shape = name, input_name, tuple(input_shape)
        self.input_batch, self.output, self.stages = input_batch, output, stages
        self.steps: list[Stage | Segment] = _group(stages, output.name)

    # -- inspection -------------------------------------------------------------------------
    @property
    def segments(self) -> list[Segment]:
        return [s for s in self.steps if isinstance(s, Segment)]

    @property
    def accelerator_layers(self) -> list[AcceleratorLayer]:
        return [s for s in self.stages if isinstance(s, AcceleratorLayer)]

    def describe(self) -> str:
        """One line per stage: where it runs, the ONNX node and op, shapes, details."""
        lines = [f"{self.name}: input '{self.input_name}' float32 {['N', *self.input_shape]} -> "
                 f"output '{self.output.name}' {self.output.dtype} {['N', *self.output.shape]}; "
                 f"{len(self.accelerator_layers)} accelerator layers in {len(self.segments)} program(s)"]
        for s in self.stages:
            lines.append(f"  {s.where:11s} {s.op:22s} {s.node[:28]:28s} -> {s.output.dtype:7s} "
                         f"{str(list(s.output.shape)):14s} {s.describe()}".rstrip())
        return "\n".join(lines)

    # -- compile ----------------------------------------------------------------------------
    def check(self, cfg: AcceleratorConfig, batches, *, per_layer: bool = False) -> None:
        """Compile every program for every batch size in ``batches`` (``per_layer``: also
        each layer alone, as the rtl backend runs them); an OnnxImportError names the node
        that does not fit."""
        if cfg.input_type != "int8":
            raise OnnxImportError(f"configuration: input_type={cfg.input_type!r}; ONNX models run on "
                                  "int8 accelerators (input_type 'int8')")
        for seg in self.segments:
            nets = [(seg.net, seg.layers)]
            if per_layer:
                nets += [(seg.layer_net(j), [seg.layers[j]]) for j in range(len(seg.layers))]
            for net, layers in nets:
                for b in sorted(set(batches)):
                    try:
                        compile_network(cfg, net, b)
                    except CompileError as e:
                        raise _fit_error(cfg, layers, b, e) from None

    # -- run ----------------------------------------------------------------------------------
    def run(self, x: np.ndarray, *, backend: str = "golden", cfg: AcceleratorConfig | None = None,
            batch: int | None = None, log=None, estimate: bool = False) -> tuple[np.ndarray, RunReport]:
        """The model's output for the float input ``x`` ``(N, *input_shape)``, as onnxruntime
        gives it (same dtype and shape), and a :class:`RunReport`. ``batch``: samples per
        accelerator program (default all of them); ``log(str)`` gets progress lines;
        ``estimate``: each layer's predicted cycles (:mod:`systolica.driver.perf_model`)."""
        if backend not in BACKENDS:
            raise OnnxImportError(f"backend={backend!r}: allowed one of {list(BACKENDS)}")
        x = self._check_input(x)
        n = len(x)
        batch = n if batch is None else batch
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise OnnxImportError(f"batch={batch!r}: must be an integer >= 1")
        batch = min(int(batch), n)
        cfg = AcceleratorConfig() if cfg is None else cfg
        if backend != "reference" or estimate:
            self.check(cfg, {batch, n % batch or batch}, per_layer=backend == "rtl" or estimate)
        report = RunReport(backend, n, batch)
        env = {self.input_name: x}
        for step in self.steps:
            if isinstance(step, Segment):
                self._run_segment(step, env, backend, cfg, batch, report, log, estimate)
            else:
                try:
                    env[step.output.name] = step.run(env)
                except NumericsError as e:
                    raise OnnxImportError(f"node '{step.node}' ({step.op}): {e}") from None
        return env[self.output.name], report

    def _check_input(self, x) -> np.ndarray:
        x = np.asarray(x)
        want = ["N", *self.input_shape]
        if x.dtype != np.float32:
            raise OnnxImportError(f"input '{self.input_name}': dtype {x.dtype}, the model takes float32 "
                                  "(convert with x.astype(np.float32))")
        if x.ndim != len(want) or tuple(x.shape[1:]) != self.input_shape or len(x) < 1:
            raise OnnxImportError(f"input '{self.input_name}': shape {list(x.shape)}, the model takes "
                                  f"{want} (batch first, N >= 1)")
        return x

    def _run_segment(self, seg: Segment, env, backend, cfg, batch, report: RunReport, log,
                     estimate: bool = False) -> None:
        from ..runtime import Accelerator

        x = to_accelerator(env[seg.input])
        n = len(x)
        stats = [LayerStats(s.node, s.op, s.describe(), s.layer.in_shape, s.layer.out_shape, s.macs * n)
                 for s in seg.layers]
        if estimate:
            _estimate_layers(seg, cfg, [min(batch, n - b0) for b0 in range(0, n, batch)], stats)
        if backend == "reference":
            for s in seg.layers:
                x = run_layer(s.layer, x.reshape(n, *s.layer.in_shape))
        else:
            outs = []
            for b0 in range(0, n, batch):
                chunk = x[b0:b0 + batch]
                y, st = Accelerator(cfg, "golden").run_network(seg.net, chunk)
                report.programs += 1
                if backend == "rtl":
                    y = self._run_rtl_layers(seg, chunk, st.activations, cfg, stats, log)
                outs.append(y)
            x = np.concatenate(outs)
        for s in stats:
            if s.cycles:
                s.utilization = s.macs / (cfg.pes * s.cycles)
        report.layers += stats
        env[seg.output.name] = from_accelerator(x.reshape(n, *seg.output.shape), seg.output.dtype)

    @staticmethod
    def _run_rtl_layers(seg: Segment, x: np.ndarray, golden: list, cfg, stats: list[LayerStats], log):
        from ..runtime import Accelerator

        for j, layer in enumerate(seg.layers):
            net = seg.layer_net(j)
            y, st = Accelerator(cfg, "rtl").run_network(net, x.reshape(len(x), *net.input_shape))
            same = bool(np.array_equal(y, golden[j]))
            s = stats[j]
            s.cycles = (s.cycles or 0) + int(st.cycles)
            s.rtl_equals_golden = same if s.rtl_equals_golden is None else s.rtl_equals_golden and same
            if log:
                log(f"rtl: layer '{layer.node}' ({layer.op}) on {len(x)} samples: {st.cycles:,} cycles, "
                    f"RTL == golden: {same}")
            x = y
        return x


def _estimate_layers(seg: Segment, cfg: AcceleratorConfig, sizes: list[int], stats: list[LayerStats]) -> None:
    """Each layer's predicted cycles, alone, summed over the batch ``sizes`` (as ``rtl`` runs it)."""
    from ..perf_model import estimate

    for j, s in enumerate(stats):
        net, cycles = seg.layer_net(j), {}
        for b in sizes:
            if b not in cycles:
                cycles[b] = estimate(cfg, compile_network(cfg, net, b).commands).cycles
            s.estimate = (s.estimate or 0) + cycles[b]


def _fit_error(cfg: AcceleratorConfig, layers: list[AcceleratorLayer], batch: int, e: CompileError):
    m = _LAYER_ERROR.match(str(e))
    if m and int(m.group(1)) < len(layers):
        s = layers[int(m.group(1))]
        return OnnxImportError(f"node '{s.node}' ({s.op}): does not fit the configuration {cfg.name} "
                               f"(batch {batch}): {m.group(2)}")
    names = ", ".join(f"'{s.node}'" for s in layers)
    return OnnxImportError(f"nodes {names}: do not fit the configuration {cfg.name} (batch {batch}): {e}")


def _group(stages: list[Stage], output: str) -> list[Stage | Segment]:
    """Stages in order, consecutive accelerator layers merged into segments (see the module
    docstring): a layer joins the open segment when it reads the segment's output (directly
    or through one Reshape, before a linear layer) and nothing else reads that output."""
    readers: dict[str, int] = {output: 1}
    for s in stages:
        for name in s.inputs:
            readers[name] = readers.get(name, 0) + 1
    steps: list[Stage | Segment] = []
    open_seg: Segment | None = None
    pending_reshape: Reshape | None = None
    for s in stages:
        tail = open_seg.output.name if open_seg else None
        if isinstance(s, AcceleratorLayer):
            src = pending_reshape.output.name if pending_reshape else tail
            if open_seg and s.inputs[0] == src and readers.get(src) == 1 and \
                    (pending_reshape is None or s.layer.kind == "linear"):
                open_seg.layers.append(s)
                open_seg.skipped += [pending_reshape] if pending_reshape else []
                open_seg.output = s.output
                pending_reshape = None
                continue
            if pending_reshape:
                steps.append(pending_reshape)
                pending_reshape = None
            open_seg = Segment([s], [], s.inputs[0], s.output)
            steps.append(open_seg)
            continue
        if open_seg and pending_reshape is None and isinstance(s, Reshape) and s.inputs[0] == tail \
                and readers.get(tail) == 1:
            pending_reshape = s
            continue
        if pending_reshape:
            steps.append(pending_reshape)
            pending_reshape = None
        open_seg = None
        steps.append(s)
    if pending_reshape:
        steps.append(pending_reshape)
    return steps
