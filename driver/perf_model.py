"""An analytic performance model: the cycles of a program, predicted without simulating.

A program's cycles are set by a few resources -- the command fetch, three in-order queues
and the units behind them (the DMA load engine, the array, the store engine), the shared
AXI read channel -- and by the dependency tokens between queues. :func:`estimate` walks
the commands once in program order (a max-plus recurrence over AXI-level events), and
repeats the walk while the prediction changes (at most ``passes`` times: a command fetched
after a load in program order may take the read channel before it):

- **fetch**: one AR per command word (``fetch_ar_gap`` apart, at most
  ``FETCH_OUTSTANDING`` words ahead of the decoder, never while a load holds the AR
  channel), answered in AR order on the read channel ``read_latency`` after the AR at the
  earliest, one beat per cycle; the decoder takes the words in order ``fetch_take`` after
  their last beat and hands each to its queue ``fetch_hand`` later, once the queue has
  room (the ``queue_depth``-th command of that queue before it has started); while it
  waits, fetch stops asking after ``FETCH_OUTSTANDING`` more words;
- **start** = max(handed over + ``dispatch``, the unit free, every popped token's push
  + ``token``): the ``k``-th pop of a channel takes the ``k``-th push (queues run in order);
- **LOAD**: its first AR ``load_ar`` after the start; every command word fetch asks for
  before that AR is placed on the read channel first (fetch runs ahead of the commands
  in program order, as far as the decoder has taken words); its bus beats
  (:func:`load_beats`: a run of ``n`` bytes at byte ``o`` of a bus word covers
  ``ceil((o + n) / bus_bytes)`` beats, a gathered element one beat) follow the read
  channel's earlier bursts; a row wholly in the padding (:func:`pad_rows_around`) costs
  a cycle: hidden under the first beat's latency before the data, holding the read
  channel between data rows, after the last beat at the end; it holds the AR channel
  until its last AR; done ``load_tail`` after its last row;
- **COMPUTE** (weight-stationary): weight rows enter ``exec_accept`` after the start
  (``rows + weight_rows_extra`` cycles, while the previous tile still streams: the array
  double-buffers them, unless the input stream holds the same scratchpad bank), data beats
  ``count`` back to back with the previous tile's, the last result written
  ``rows + cols + exec_latency`` after the last beat (the array's skew, de-skew and the
  accumulator write); at most ``TILES_IN_FLIGHT`` tiles in flight;
- **STORE**: accumulator rows read one per cycle from ``store_read`` after the start,
  except while the array accumulates into the same bank (the accumulate path has its
  read port), and one W beat per bus word a row covers (a row that is not aligned to the
  bus takes two); done ``store_tail`` after the last row read or W beat; **REQUANT**:
  ``requant_cycles`` per lane written;
- **end**: ``end_latency`` after the last completion (or the END word's fetch).

The latencies (:class:`Latencies`) are named quantities of the RTL read off the native
harness's traces; ``systolica bench --only perf`` (:mod:`systolica.bench_perf`) measures
the model's error against the hardware's cycle counter on every bench layer.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from ..model.config import AcceleratorConfig
from ..model.dma import AXI_MAX_BEATS
from ..model.isa import COMMAND_BYTES, Command, Opcode, Queue, QUEUE_OF

__all__ = ["Latencies", "MEASURED", "Memory", "Estimate", "estimate", "load_beats", "compute_gap", "lower_bound"]


@dataclass(frozen=True)
class Latencies:
    """Cycles of the RTL's pieces (see the module docstring), read off the native harness.

    Every time is from an event of the hardware to the next: an AXI handshake or beat, a
    command handed to its queue, started (dispatched) or completed (tokens pushed)."""

    fetch_first: int = 5        #: doorbell -> the first command's AR
    fetch_ar_gap: int = 2       #: between two fetch ARs, at least
    fetch_room: int = 2         #: the decoder takes word i-2 -> AR i may go
    fetch_take: int = 1         #: last beat of a command's word -> the decoder takes it
    fetch_hand: int = 7         #: the decoder takes a word -> hands it to its queue (CHECK: the
                                #: pipelined check, hw.command_check.LATENCY + 1 cycles)
    dispatch: int = 2           #: handed over (or unit free) -> started
    token: int = 2              #: a command completed -> a command popping its token starts
                                #: (the dispatcher's issue register: + 1)
    unit_free: int = 2          #: LOAD/STORE/REQUANT completed -> its queue's next command starts
                                #: (the dispatcher's issue register: + 1)
    load_ar: int = 3            #: LOAD started -> its first AR
    load_tail: int = 6          #: its last R beat (or padding row) -> completed (its R queue: + 1;
                                #: the beat and its shift queued, then the placed beat: + 2)
    exec_accept: int = 3        #: COMPUTE started -> its first weight row read (its request leaves from a queue)
    weight_rows_extra: int = 1  #: weight rows into the array: rows + this
    data_start: int = 1         #: weights in -> the first data beat
    exec_latency: int = 7       #: last data beat -> last result written (completed): rows + cols + this
                                #: (includes the scratchpad's READ_LATENCY, its banks' output register)
    store_read: int = 3         #: STORE started -> its first accumulator row read (its request leaves from a queue)
    store_tail: int = 20        #: its last row read -> completed (B responses back; includes the accumulator's
                                #: ACC_READ_LATENCY and requant.LATENCY; the row FIFO hands a row on the
                                #: cycle after it arrives, and its beats reach W through a register slice: + 1)
    requant_cycles: int = 1     #: per lane a REQUANT writes
    end_latency: int = 4        #: the last completion -> the program's end (run control's registered finish: + 1)


#: Latencies of the current RTL.
MEASURED = Latencies()


@dataclass(frozen=True)
class Memory:
    """The DRAM as the DMA sees it: the read latency (AR handshake to the first beat) of
    the native harness's default model (cocotbext-axi ``AxiRam``)."""

    read_latency: int = 2


@dataclass
class Estimate:
    """Predicted ``cycles`` of a program, the busy cycles of each queue's unit (cycles in
    which a command of it runs), the DRAM bytes its LOADs and STOREs move, and every
    command's ``(start, finish)``."""

    cycles: int
    busy: dict
    dram_bytes: int
    times: list = field(default_factory=list, repr=False)


def load_beats(cfg: AcceleratorConfig, desc) -> tuple[int, int]:
    """``(bursts, bus beats)`` of a LOAD of ``desc``: a run of ``n`` bytes at byte ``o`` of
    a bus word covers ``ceil((o + n) / bus_bytes)`` beats (bursts split at aligned
    addresses only); a gathered element is a run of its own. Its rows wholly in the
    padding: :func:`pad_rows_around`."""
    return _load_beats(cfg.bus_bytes, desc)


@functools.lru_cache(maxsize=1 << 16)
def _load_beats(bb: int, desc) -> tuple[int, int]:
    n0, n1, n2, n3 = desc.sizes
    s0, s1, s2, s3 = desc.strides
    eb = desc.elem_bytes
    rows = n0 * n1 * n2
    if s3 != eb:
        return rows * n3, rows * n3
    run = n3 * eb
    if rows == 1 or all(s % bb == 0 for s in (s0, s1, s2)):
        off = desc.base % bb
        beats = rows * ((off + run + bb - 1) // bb)
    else:
        offs = (desc.base + np.arange(n0)[:, None, None] * s0 + np.arange(n1)[None, :, None] * s1
                + np.arange(n2)[None, None, :] * s2) % bb
        beats = int(((offs + run + bb - 1) // bb).sum())
    bursts = rows * max(1, -(-run // (AXI_MAX_BEATS * bb)))
    return bursts, beats


@functools.lru_cache(maxsize=1 << 16)
def pad_rows_around(desc) -> tuple[int, int, int]:
    """Rows wholly in the padding of a LOAD of ``desc`` (rows in order over the padded
    ``(p0, p1, p2)``): ``(before the first data row, between data rows, after the last)``.
    The load engine completes a padding row in one cycle when it reaches it: before the
    first data row while the first beat is still on its way, between data rows holding
    the read channel (it takes no beat that cycle), after the last beat before the end."""
    if desc.transpose:
        return 0, 0, 0
    p, b, n = desc.padded_sizes, desc.pad_before, desc.sizes
    index = lambda i0, i1, i2: (i0 * p[1] + i1) * p[2] + i2
    first = index(b[0], b[1], b[2])
    last = index(b[0] + n[0] - 1, b[1] + n[1] - 1, b[2] + n[2] - 1)
    total = p[0] * p[1] * p[2] - n[0] * n[1] * n[2]
    after = p[0] * p[1] * p[2] - 1 - last
    return first, total - first - after, after


def _bank(cfg: AcceleratorConfig, row: int) -> int:
    return row // (cfg.spad_rows // cfg.spad_banks)


class _ReadChannel:
    """The AXI read channel: bursts answered in the order of their ARs, one beat per cycle,
    the first ``read_latency`` cycles after the AR at the earliest. ``served(t)``: the
    cycle after the last beat of the bursts whose AR came before ``t``."""

    def __init__(self):
        self.ars: list[float] = []
        self.ends: list[float] = []

    def served(self, t: float) -> float:
        k = bisect.bisect_left(self.ars, t)
        return self.ends[k - 1] if k else 0.0

    def add(self, ar: float, end: float) -> None:
        k = bisect.bisect_right(self.ars, ar)
        self.ars.insert(k, ar)
        self.ends.insert(k, end)


class _Model:
    """The recurrence of :func:`estimate`, one command at a time in program order.

    ``prev_fetch``: the fetch bursts ``(AR, end)`` of the previous pass, for the loads: a
    command fetched after a load in program order may read the channel before it."""

    def __init__(self, cfg: AcceleratorConfig, commands: list[Command], lat: Latencies, mem: Memory,
                 prev_fetch: _ReadChannel, prev_acc: dict):
        from ..hw.executor import TILES_IN_FLIGHT
        from ..hw.fetch import FETCH_OUTSTANDING

        self.cfg, self.commands, self.lat, self.mem = cfg, commands, lat, mem
        self.tiles_in_flight, self.fetch_outstanding = TILES_IN_FLIGHT, FETCH_OUTSTANDING
        self.cmd_beats = -(-COMMAND_BYTES // cfg.bus_bytes)
        self.drain = cfg.rows + cfg.cols + lat.exec_latency    # last data beat -> last result written
        self.r = _ReadChannel()
        self.prev_fetch = prev_fetch
        seen = {q: 0 for q in Queue}
        self.position = []                     # per command: commands of its queue before it
        for c in commands:
            self.position.append(seen[QUEUE_OF[c.opcode]])
            seen[QUEUE_OF[c.opcode]] += 1
        # accumulating result windows per accumulator bank, (compute index, first, end) in
        # program order (so also in time order): of the previous pass and of this one
        self.prev_acc = prev_acc
        self.acc_windows: dict[int, list] = {k: [] for k in range(cfg.acc_banks)}
        self.fetch_r = _ReadChannel()
        self.ar_held: list[tuple[float, float]] = []   # loads holding the AR channel, by start
        self.fetch_ar: list[float] = []
        self.fetch_end: list[float] = []       # the cycle after word i's last beat
        self.load_ar: list[float] = []
        self.taken: list[float] = []           # the decoder took command i's word
        self.handed: list[float] = []
        self.queue_started = {q: [] for q in Queue}
        self.free = {q: 0.0 for q in Queue}    # the queue's unit can start its next command
        self.pushes: dict = {}
        self.pops: dict = {}
        self.done: list[float] = []            # completions of COMPUTEs
        self.w_end = self.d_start = self.d_end = -1e9
        self.last_a_bank = None
        self.spans = {q: [] for q in Queue}
        self.dram = 0
        self.last = 0.0

    # -- fetch ------------------------------------------------------------------------------
    def _ar_free_from(self, t: float) -> float:
        """The first cycle >= t at which no load holds the AR channel."""
        k = bisect.bisect_right(self.ar_held, (t, float("inf"))) - 1
        k = max(k, 0)
        while k < len(self.ar_held):
            lo, hi = self.ar_held[k]
            if lo > t:
                break
            if t <= hi:
                t = hi + 1
            k += 1
        return t

    def _next_fetch_ar(self) -> float:
        """The AR of the next word fetch asks for (``len(self.fetch_ar)``)."""
        lat, i = self.lat, len(self.fetch_ar)
        t = lat.fetch_first if i == 0 else self.fetch_ar[-1] + lat.fetch_ar_gap
        if i >= self.fetch_outstanding:
            t = max(t, self.taken[i - self.fetch_outstanding] + lat.fetch_room)
        return self._ar_free_from(t)

    def _can_ask(self) -> bool:
        """Whether the next word's AR can be placed: the word ``FETCH_OUTSTANDING`` before
        it has been taken by the decoder."""
        i = len(self.fetch_ar)
        return i <= len(self.commands) and (i < self.fetch_outstanding
                                            or len(self.taken) > i - self.fetch_outstanding)

    def _ask(self) -> None:
        """Place the next word's AR and its beats on the read channel."""
        t = self._next_fetch_ar()
        first = max(t + self.mem.read_latency, self.r.served(t))
        end = first + self.cmd_beats
        self.r.add(t, end)
        self.fetch_r.add(t, end)
        self.fetch_ar.append(t)
        self.fetch_end.append(end)

    def fetched(self, i: int) -> float:
        """Cycle command ``i`` of :attr:`commands` is handed to its queue (fetched now
        unless a load's look-ahead fetched it already)."""
        while len(self.handed) <= i:
            if len(self.taken) == len(self.handed):
                if len(self.fetch_ar) == len(self.taken):
                    self._ask()
                self._take()
            self._hand()
        return self.handed[i]

    def _room_known(self, i: int) -> bool:
        """Whether command ``i``'s hand-over can be placed now: its queue's ``queue_depth``-th
        command before it (whose start makes room) has been placed, or there is none."""
        q = self._queue_of(i)
        if q is None:
            return True
        before = self.position[i]          # commands of q before i
        return before < self.cfg.queue_depth or len(self.queue_started[q]) > before - self.cfg.queue_depth

    def _queue_of(self, i: int) -> Queue | None:
        return QUEUE_OF[self.commands[i].opcode] if i < len(self.commands) else None

    def _take(self) -> None:
        """The decoder takes word ``len(self.taken)``: its beats are in and the word before
        it was handed over."""
        i = len(self.taken)
        self.taken.append(max(self.fetch_end[i] - 1 + self.lat.fetch_take, self.handed[-1] + 1 if self.handed else 0))

    def _hand(self) -> None:
        """The decoder hands word ``len(self.handed)`` (taken) to its queue once the queue
        has room; END is handed to no queue."""
        i = len(self.handed)
        q = self._queue_of(i)
        hand = self.taken[i] + self.lat.fetch_hand
        if q is not None and self.position[i] >= self.cfg.queue_depth:
            # room once the queue_depth-th command of the queue before this one started
            hand = max(hand, self.queue_started[q][self.position[i] - self.cfg.queue_depth] + 1)
        self.handed.append(hand)

    def _ask_before(self, t: float) -> None:
        """Place every fetch AR that comes before cycle ``t`` (the read channel answers in
        AR order): the decoder takes words as their beats arrive, and hands them over
        where their queue's room is already known."""
        while True:
            if self._can_ask():
                if self._next_fetch_ar() >= t:
                    return
                self._ask()
            elif len(self.taken) < len(self.fetch_ar) and len(self.taken) == len(self.handed):
                self._take()
            elif len(self.handed) < len(self.taken) and self._room_known(len(self.handed)):
                self._hand()
            else:
                return

    # -- one command -----------------------------------------------------------------------------
    def command(self, i: int) -> tuple[float, float]:
        """Command ``i`` of :attr:`commands`: its ``(start, finish)``."""
        cmd = self.commands[i]
        q = QUEUE_OF[cmd.opcode]
        lat = self.lat
        t = max(self.fetched(i) + lat.dispatch, self.free[q])
        qi = _QUEUE_INDEX[q]
        for bit, other in (("pop_prev", -1), ("pop_next", 1)):
            if getattr(cmd, bit):
                ch = (_QUEUES[qi + other], q)
                k = self.pops.get(ch, 0)
                self.pops[ch] = k + 1
                t = max(t, self.pushes[ch][k] + lat.token)
        self.queue_started[q].append(t)     # every command starts at t
        if cmd.opcode is Opcode.LOAD:
            start, finish = self._load(t, cmd.body["desc"])
        elif cmd.opcode is Opcode.COMPUTE:
            start, finish = self._compute(t, cmd.body)
        elif cmd.opcode is Opcode.STORE:
            start, finish = self._store(t, cmd.body)
        else:
            start = t
            finish = t + lat.requant_cycles * (self.cfg.cols if cmd.body["lane"] is None else 1)
            self.free[q] = finish + lat.unit_free
        self.spans[q].append((start, finish))
        for bit, other in (("push_prev", -1), ("push_next", 1)):
            if getattr(cmd, bit):
                self.pushes.setdefault((q, _QUEUES[qi + other]), []).append(finish)
        self.last = max(self.last, finish)
        return start, finish

    def _load(self, t: float, desc) -> tuple[float, float]:
        lat = self.lat
        bursts, beats = load_beats(self.cfg, desc)
        first_ar = t + lat.load_ar
        # the words fetch asks for before this load's first AR are answered before its
        # beats (the read channel answers in AR order): fetch them first
        self._ask_before(first_ar)
        before, between, after = pad_rows_around(desc)
        first = max(first_ar + self.mem.read_latency, self.r.served(first_ar), self.prev_fetch.served(first_ar),
                    first_ar + before)
        r_end = first + beats + between         # the read channel is the load's until then
        last = r_end - 1 + after
        self.r.add(first_ar, r_end)
        bisect.insort(self.ar_held, (first_ar, max(first_ar + bursts - 1, last - 7)))
        self.load_ar.append(first_ar)
        finish = last + lat.load_tail
        self.free[Queue.LOAD] = finish + lat.unit_free
        self.dram += math.prod(desc.sizes) * desc.elem_bytes
        return t, finish

    def _compute(self, t: float, b: dict) -> tuple[float, float]:
        cfg, lat = self.cfg, self.lat
        if len(self.done) >= self.tiles_in_flight:
            t = max(t, self.done[-self.tiles_in_flight] + 1)
        count = b["count"]
        w0 = max(t + lat.exec_accept, self.w_end, self.d_start)
        if self.last_a_bank == _bank(cfg, b["b_row"]):
            w0 = max(w0, self.d_end - 4)        # the input stream has the bank's read port
        w1 = w0 + cfg.rows + lat.weight_rows_extra
        d0 = max(w1 + lat.data_start, self.d_end)
        d1 = d0 + max(count, 1)
        self.w_end, self.d_start, self.d_end = w1, d0, d1
        self.last_a_bank = _bank(cfg, b["a_row"])
        if b["accumulate"]:
            bank = b["c_row"] // (cfg.acc_rows // cfg.acc_banks)
            self.acc_windows[bank].append((len(self.done), d0 + self.drain, d1 + self.drain))
        finish = max(d1 + self.drain, self.done[-1] + 1 if self.done else 0)
        self.done.append(finish)
        self.free[Queue.EXECUTE] = t + 1
        return t, finish

    def _store(self, t: float, b: dict) -> tuple[float, float]:
        """Rows read one per cycle, except while the array accumulates into their bank
        (the accumulate path has the bank's read port)."""
        cfg, lat, desc = self.cfg, self.lat, b["desc"]
        rows = desc.onchip_shape[0]
        bank = b["row"] // (cfg.acc_rows // cfg.acc_banks)
        r, need = t + lat.store_read, rows
        mine, prev = self.acc_windows[bank], self.prev_acc.get(bank, [])
        k = len(mine)
        while k and mine[k - 1][2] > r:       # this pass's windows not over at r
            k -= 1
        later = bisect.bisect_left(prev, (len(self.done),))   # the previous pass's, of computes to come
        windows = heapq.merge(((lo, hi) for _, lo, hi in mine[k:]), ((lo, hi) for _, lo, hi in prev[later:]))
        for lo, hi in windows:
            if hi <= r:
                continue
            if lo >= r + need:
                break
            need -= max(0, lo - r)
            r = hi
        last = r + need - 1
        # one W beat per bus word a row covers (a row not aligned to the bus takes two)
        last = max(last, t + lat.store_read + load_beats(cfg, desc)[1] - 1)
        finish = last + lat.store_tail
        self.free[Queue.STORE] = finish + lat.unit_free
        self.dram += math.prod(desc.sizes)
        return t, finish


_QUEUES = tuple(Queue)
_QUEUE_INDEX = {q: k for k, q in enumerate(_QUEUES)}


def _union(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, -1e18
    for lo, hi in sorted(spans):
        if hi > end:
            total += hi - max(lo, end)
            end = hi
    return total


def _run(cfg: AcceleratorConfig, commands: list[Command], lat: Latencies, mem: Memory,
         passes: int) -> tuple[_Model, int, list]:
    end = next((i for i, c in enumerate(commands) if c.opcode is Opcode.END), len(commands))
    commands = commands[:end]
    prev, prev_acc, cycles, model, times = _ReadChannel(), {}, None, None, []
    for _ in range(passes):
        model = _Model(cfg, commands, lat, mem, prev, prev_acc)
        times = [model.command(i) for i in range(len(commands))]
        end = model.fetched(len(commands))      # END: fetched, never queued
        new = int(round(max(model.last, end) + lat.end_latency))
        if new == cycles:
            break
        cycles, prev, prev_acc = new, model.fetch_r, model.acc_windows
    return model, cycles, times


def compute_gap(cfg: AcceleratorConfig, lat: Latencies = MEASURED) -> int:
    """Fewest cycles between two COMPUTEs' first data beats in :meth:`_Model._compute`:
    the next one's weight rows enter only once this one's data has started
    (``rows + weight_rows_extra``), then ``data_start``."""
    return cfg.rows + lat.weight_rows_extra + lat.data_start


def lower_bound(cfg: AcceleratorConfig, commands, lat: Latencies = MEASURED, mem: Memory | None = None) -> int:
    """Cycles :func:`estimate` never predicts below for ``commands``: the larger of the
    array's (COMPUTEs stream ``count`` beats one after the other, first beats at least
    :func:`compute_gap` apart) and the load engine's (LOADs one after the other, each at
    least ``load_ar + max(read_latency, padded rows before the data) + beats + other
    padded rows + load_tail``)."""
    mem = mem or Memory()
    gap = compute_gap(cfg, lat)
    counts, load = [], 0
    fixed = lat.load_ar + lat.load_tail
    for cmd in commands:
        if cmd.opcode is Opcode.COMPUTE:
            counts.append(max(cmd.body["count"], 1))
        elif cmd.opcode is Opcode.LOAD:
            _, beats = load_beats(cfg, cmd.body["desc"])
            before, between, after = pad_rows_around(cmd.body["desc"])
            load += fixed + max(mem.read_latency, before) + beats + between + after
    array = sum(max(c, gap) for c in counts[:-1]) + counts[-1] if counts else 0
    return max(array, load)


def estimate(cfg: AcceleratorConfig, commands: list[Command], lat: Latencies | None = None,
             mem: Memory | None = None, *, passes: int = 3) -> Estimate:
    """Predicted cycles of ``commands`` (a program; an END is implied) on ``cfg``. The
    recurrence runs ``passes`` times at most: each pass takes the command fetches of the
    one before into account for the loads (until the prediction no longer changes)."""
    model, cycles, times = _run(cfg, commands, lat or MEASURED, mem or Memory(), passes)
    return Estimate(cycles, {q.name.lower(): int(_union(model.spans[q])) for q in Queue}, model.dram, times)

