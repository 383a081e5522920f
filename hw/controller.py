"""Controller: fetch the program, decode, three decoupled queues, dependency tokens.

On ``doorbell`` the fetch unit reads commands (:mod:`systolica.model.isa`, one AXI burst
per command) from ``program_base`` until END or ``program_len`` commands, checks each
(opcode, token bits, inside the DRAM window) and pushes it into the load, execute or
store queue. Each queue's dispatcher waits at its head for the command's pop tokens, runs
it on its unit and gives its push tokens when the unit has finished it:

- load: the DMA load engine (one command at a time);
- execute: the execute unit (tiles overlap; tokens are pushed as each tile completes);
- store: REQUANT lane writes into the requantization unit, and the DMA store engine.

Errors (:class:`~systolica.model.machine.Status`) stop fetching and dispatching; units
finish what they started; the error of the lowest command index is reported, as the
machine model does. A deadlock (every waiting head needs a token that cannot come) is
detected and reported. Performance counters count while busy.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ..model.array import Dataflow
from ..model.config import AcceleratorConfig
from ..model.csr import COUNTER_BITS, COUNTER_NAMES
from ..model.dma import DmaError, dma_command_layout
from ..model.isa import COMMAND_BYTES, Opcode, command_layout, compute_layout
from ..model.machine import Status
from .axi import AxiBurst, AxiResp, axi4_read_members
from .dma_common import window_layout
from .requant import param_write_layout

__all__ = ["Controller", "counters_layout", "FETCH_ID"]

#: AXI ID of the fetch unit's reads (the DMA load engine uses 0).
FETCH_ID = 1

def counters_layout() -> data.StructLayout:
    """The performance counters by name (:data:`systolica.model.csr.COUNTER_NAMES`)."""
    return data.StructLayout({name: COUNTER_BITS for name in COUNTER_NAMES})


def _entry_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """A queued command: its bits and its index in the program."""
    return data.StructLayout({"cmd": command_layout(cfg), "index": 32})


class Controller(wiring.Component):
    """See the module docstring.

    Attributes
    ----------
    program_base, program_len, window, doorbell : In
        From the CSRs; ``doorbell`` starts a program when idle.
    busy, done, error, dma_error, error_index : Out
        Status: ``done`` stays high from the end of a program to the next doorbell.
    counters : Out(counters_layout())
    fetch : Out(AXI4 read channels), ID :data:`FETCH_ID`.
    load_cmd, load_status, store_cmd, store_status : to the DMA engines.
    exec_cmd : Out(stream of compute_layout), exec_done : In(1) (one pulse per tile).
    requant_param : Out(stream of the requantization unit's parameter writes).
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        dma = dma_command_layout(cfg)
        super().__init__({
            "program_base": In(cfg.addr_bits), "program_len": In(32),
            "window": In(window_layout(cfg)), "doorbell": In(1),
            "busy": Out(1), "done": Out(1), "error": Out(Status), "dma_error": Out(DmaError),
            "error_index": Out(32), "counters": Out(counters_layout()),
            "fetch": Out(wiring.Signature(axi4_read_members(cfg.addr_bits, cfg.bus_bits))),
            "load_cmd": Out(stream.Signature(dma)), "load_status": In(stream.Signature(DmaError)),
            "store_cmd": Out(stream.Signature(dma)), "store_status": In(stream.Signature(DmaError)),
            "exec_cmd": Out(stream.Signature(compute_layout(cfg))), "exec_done": In(1),
            "requant_param": Out(stream.Signature(param_write_layout(cfg))),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        entry = _entry_layout(cfg)
        queues = {name: SyncFIFO(width=entry.size, depth=cfg.queue_depth) for name in ("load", "exec", "store")}
        for name, q in queues.items():
            m.submodules[f"{name}_queue"] = q
        heads = {name: data.View(entry, q.r_data) for name, q in queues.items()}

        # -- status and errors: the lowest failing index wins ---------------------------------
        running = Signal()              # between doorbell and done
        failed = Signal()
        m.d.comb += [self.busy.eq(running), failed.eq(self.error != Status.OK)]

        failures = []   # (raised, code, index, dma error): resolved at the end, lowest index first

        def fail(code, index, dma_error=DmaError.OK):
            raised = Signal(name=f"fail{len(failures)}")
            m.d.comb += raised.eq(1)            # in the caller's m.If context
            failures.append((raised, code, index, dma_error))

        # -- dependency tokens: load->exec, exec->load, exec->store, store->exec ---------------
        names = ("le", "el", "es", "se")
        tokens = {n: Signal(8, name=f"tokens_{n}") for n in names}
        push = {n: Signal(name=f"push_{n}") for n in names}
        pop = {n: Signal(name=f"pop_{n}") for n in names}
        for n in names:
            m.d.sync += tokens[n].eq(tokens[n] + push[n] - pop[n])

        # token channels per queue: (pop_prev, pop_next, push_prev, push_next)
        chan = {"load": (None, "el", None, "le"), "exec": ("le", "se", "el", "es"),
                "store": ("es", None, "se", None)}

        def can_start(q):
            h = heads[q].cmd.header
            pp, pn, _, _ = chan[q]
            ok = queues[q].r_rdy
            if pp:
                ok = ok & (~h.pop_prev | (tokens[pp] != 0))
            if pn:
                ok = ok & (~h.pop_next | (tokens[pn] != 0))
            return ok

        def take_tokens(q):
            h = heads[q].cmd.header
            pp, pn, _, _ = chan[q]
            if pp:
                m.d.comb += pop[pp].eq(h.pop_prev)
            if pn:
                m.d.comb += pop[pn].eq(h.pop_next)

        def give_tokens(q, header):
            _, _, up, un = chan[q]
            if up:
                m.d.comb += push[up].eq(header.push_prev)
            if un:
                m.d.comb += push[un].eq(header.push_next)

        # -- fetch ----------------------------------------------------------------------------
        bb = cfg.bus_bytes
        beats = COMMAND_BYTES // bb
        idx = Signal(32)
        word = Signal(COMMAND_BYTES * 8)
        beat = Signal(range(beats + 1))
        addr = Signal(cfg.addr_bits + 40)
        m.d.comb += addr.eq(self.program_base + idx * COMMAND_BYTES)
        fetched = data.View(command_layout(cfg), word[:command_layout(cfg).size])
        op = fetched.header.opcode
        queue_of = Signal(2)            # 0 load, 1 exec, 2 store
        m.d.comb += queue_of.eq(Mux(op == Opcode.LOAD, 0, Mux(op == Opcode.COMPUTE, 1, 2)))
        legal_op = (op == Opcode.END) | (op == Opcode.LOAD) | (op == Opcode.STORE) | \
                   (op == Opcode.COMPUTE) | (op == Opcode.REQUANT)
        h = fetched.header
        legal_tokens = Mux(op == Opcode.END, ~(h.pop_prev | h.pop_next | h.push_prev | h.push_next),
                       Mux(queue_of == 0, ~(h.pop_prev | h.push_prev),
                       Mux(queue_of == 2, ~(h.pop_next | h.push_next), 1)))
        new_entry = Signal(entry)
        m.d.comb += [new_entry.cmd.eq(fetched), new_entry.index.eq(idx)]
        for q in queues.values():
            m.d.comb += q.w_data.eq(new_entry.as_value())
        f = self.fetch
        m.d.comb += [f.arid.eq(FETCH_ID), f.araddr.eq(addr), f.arlen.eq(beats - 1),
                     f.arsize.eq((bb - 1).bit_length()), f.arburst.eq(AxiBurst.INCR)]
        fetch_error = Signal(DmaError)
        draining = Signal()
        all_done = Signal()             # fetch finished, queues empty (or failed), units idle
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.doorbell):
                    m.d.sync += [running.eq(1), self.done.eq(0), idx.eq(0), self.error.eq(Status.OK),
                                 self.error_index.eq(0), self.dma_error.eq(DmaError.OK)]
                    m.next = "ADDRESS"
            with m.State("ADDRESS"):
                inside = (addr >= self.window.lo) & (addr + COMMAND_BYTES <= self.window.hi)
                with m.If(failed):
                    m.next = "DRAIN"
                with m.Elif(idx == self.program_len):
                    fail(Status.NO_END, idx)
                    m.next = "DRAIN"
                with m.Elif(~inside):
                    fail(Status.FETCH_WINDOW, idx)
                    m.next = "DRAIN"
                with m.Else():
                    m.d.comb += f.arvalid.eq(1)
                    with m.If(f.arready):
                        m.d.sync += [beat.eq(0), fetch_error.eq(DmaError.OK)]
                        m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += f.rready.eq(1)
                with m.If(f.rvalid):
                    m.d.sync += [word.eq(Cat(word[bb * 8:], f.rdata)), beat.eq(beat + 1)]
                    with m.If(f.rresp == AxiResp.SLVERR):
                        m.d.sync += fetch_error.eq(DmaError.AXI_SLVERR)
                    with m.If(f.rresp == AxiResp.DECERR):
                        m.d.sync += fetch_error.eq(DmaError.AXI_DECERR)
                    with m.If(f.rlast):
                        m.next = "DECODE"
            with m.State("DECODE"):
                with m.If(fetch_error != DmaError.OK):
                    fail(Status.DMA, idx, fetch_error)
                    m.next = "DRAIN"
                with m.Elif(~legal_op):
                    fail(Status.ILLEGAL_OPCODE, idx)
                    m.next = "DRAIN"
                with m.Elif(~legal_tokens):
                    fail(Status.ILLEGAL_TOKENS, idx)
                    m.next = "DRAIN"
                with m.Elif(op == Opcode.END):
                    m.next = "DRAIN"
                with m.Else():
                    for k, q in enumerate(queues.values()):
                        with m.If(queue_of == k):
                            m.d.comb += q.w_en.eq(1)
                            with m.If(q.w_rdy):
                                m.d.sync += idx.eq(idx + 1)
                                m.next = "ADDRESS"
            with m.State("DRAIN"):
                m.d.comb += draining.eq(1)
                with m.If(all_done):
                    m.d.sync += [running.eq(0), self.done.eq(1)]
                    m.next = "IDLE"
        fetch_stuck = draining | (fsm.ongoing("DECODE") & legal_op & legal_tokens & (op != Opcode.END) &
                                  ~Cat(q.w_rdy & (queue_of == k) for k, q in enumerate(queues.values())).any())

        # -- dispatchers ------------------------------------------------------------------------
        active = {q: Signal(name=f"{q}_active") for q in queues}     # a command is running
        current = {q: Signal(entry, name=f"{q}_current") for q in queues}

        def start(q):
            """Take the head (tokens consumed) into `current`; returns the condition."""
            go = can_start(q) & ~active[q] & ~failed
            with m.If(go):
                m.d.comb += queues[q].r_en.eq(1)
                m.d.sync += [active[q].eq(1), current[q].eq(heads[q].as_value())]
                take_tokens(q)
            return go

        def finish(q, error_code=None, dma_error=None):
            m.d.sync += active[q].eq(0)
            cur = current[q]
            if error_code is None:
                give_tokens(q, cur.cmd.header)
                completed(q)
            else:
                fail(error_code, cur.index, dma_error if dma_error is not None else DmaError.OK)

        completions = []    # one-cycle "a command completed" signals

        def completed(q):
            c = Signal(name=f"{q}_completed")
            m.d.comb += c.eq(1)
            completions.append(c)
        sent = {q: Signal(name=f"{q}_sent") for q in queues}        # handed to the unit

        def run_dma(q, cmd_port, status_port, when=1):
            """Hand the current command of queue ``q`` to a DMA engine; finish on its status."""
            m.d.comb += [cmd_port.valid.eq(active[q] & when & ~sent[q]),
                         cmd_port.payload.eq(current[q].cmd.body.dma), status_port.ready.eq(1)]
            with m.If(cmd_port.valid & cmd_port.ready):
                m.d.sync += sent[q].eq(1)
            with m.If(status_port.valid):
                m.d.sync += sent[q].eq(0)
                with m.If(status_port.payload == DmaError.OK):
                    finish(q)
                with m.Else():
                    finish(q, Status.DMA, status_port.payload)

        # load: the DMA load engine
        start("load")
        cl = current["load"]
        run_dma("load", self.load_cmd, self.load_status)

        # execute: tiles are handed over at once; tokens follow their completion, in order
        m.submodules.tiles = tiles = SyncFIFO(width=entry["cmd"].shape["header"].shape.size + 32, depth=8)
        cx = heads["exec"].cmd.body.compute
        R, C = cfg.rows, cfg.cols
        ws = cx.dataflow == Dataflow.WS
        in_range = ((cx.a_row + cx.count <= cfg.spad_rows) &
                    (cx.b_row + Mux(ws, R, cx.count) <= cfg.spad_rows) &
                    (cx.c_row + Mux(ws, cx.count, R) <= cfg.acc_rows))
        supported = Mux(ws, int(cfg.supports("ws")), int(cfg.supports("os")))
        exec_go = can_start("exec") & ~failed & tiles.w_rdy & self.exec_cmd.ready
        exec_ok = in_range & supported
        m.d.comb += [self.exec_cmd.valid.eq(can_start("exec") & ~failed & tiles.w_rdy & exec_ok),
                     self.exec_cmd.payload.eq(cx)]
        with m.If(exec_go):
            with m.If(exec_ok):
                m.d.comb += [queues["exec"].r_en.eq(1), tiles.w_en.eq(1),
                             tiles.w_data.eq(Cat(heads["exec"].cmd.header.as_value(), heads["exec"].index))]
                take_tokens("exec")
            with m.Else():
                fail(Mux(supported, Status.COMPUTE_RANGE, Status.ILLEGAL_OPCODE), heads["exec"].index)
        with m.If(self.exec_done):
            m.d.comb += tiles.r_en.eq(1)
            header = entry["cmd"].shape["header"].shape
            done_header = data.View(header, tiles.r_data[:header.size])
            give_tokens("exec", done_header)
            completed("exec")
        m.d.comb += active["exec"].eq(tiles.r_rdy)

        # store: REQUANT lane writes, DMA stores
        start("store")
        cs = current["store"]
        is_requant = cs.cmd.header.opcode == Opcode.REQUANT
        lane = Signal(range(cfg.cols + 1))
        rq = cs.cmd.body.requant
        p = self.requant_param
        m.d.comb += [p.valid.eq(active["store"] & is_requant & (lane != cfg.cols)),
                     p.payload.lane.eq(Mux(rq.all_lanes, lane, rq.lane)),
                     p.payload.p.eq(rq.params)]
        with m.If(p.valid & p.ready):
            m.d.sync += lane.eq(Mux(rq.all_lanes, lane + 1, cfg.cols))
        with m.If(active["store"] & is_requant & (lane == cfg.cols)):
            m.d.sync += lane.eq(0)
            finish("store")
        run_dma("store", self.store_cmd, self.store_status, when=~is_requant)

        # -- deadlock: nothing runs, nothing can start, fetch cannot help -------------------------
        waiting = [queues[q].r_rdy & ~active[q] for q in queues]
        startable = [can_start(q) for q in queues]
        idle = ~Cat(*active.values()).any()
        stuck = fetch_stuck & idle & Cat(*waiting).any() & ~Cat(*startable).any() & ~failed
        lowest = (1 << 32) - 1                  # the oldest waiting head
        for q in queues:
            lowest = Mux(queues[q].r_rdy & (heads[q].index < lowest), heads[q].index, lowest)
        with m.If(stuck & running):
            fail(Status.DEADLOCK, lowest)

        # -- done: fetch finished, queues empty, units idle -------------------------------------
        empty = ~Cat(q.r_rdy for q in queues.values()).any()
        m.d.comb += all_done.eq((empty | failed) & idle)

        # -- errors: of all raised this cycle and the one recorded, the lowest index wins --------
        best_index = Mux(failed, self.error_index, (1 << 32) - 1)
        best = 0                                  # 0: keep the recorded error
        for k, (raised, _, index, _) in enumerate(failures):
            take = raised & (index < best_index)
            best_index, best = Mux(take, index, best_index), Mux(take, k + 1, best)
        chosen = Signal(range(len(failures) + 1))
        m.d.comb += chosen.eq(best)
        for k, (_, code, index, dma_error) in enumerate(failures):
            with m.If(chosen == k + 1):
                m.d.sync += [self.error.eq(code), self.error_index.eq(index), self.dma_error.eq(dma_error)]

        # -- counters ---------------------------------------------------------------------------
        cnt = self.counters
        with m.If(self.doorbell & ~running):
            m.d.sync += [getattr(cnt, n).eq(0) for n in COUNTER_NAMES]
            m.d.sync += [tokens[n].eq(0) for n in names]
        with m.Elif(running):
            m.d.sync += cnt.cycles.eq(cnt.cycles + 1)
            for q, busy_name, stall_name in (("load", "load_busy", "load_stall"),
                                             ("exec", "exec_busy", "exec_stall"),
                                             ("store", "store_busy", "store_stall")):
                with m.If(active[q]):
                    m.d.sync += getattr(cnt, busy_name).eq(getattr(cnt, busy_name) + 1)
                with m.If(queues[q].r_rdy & ~active[q] & ~can_start(q)):
                    m.d.sync += getattr(cnt, stall_name).eq(getattr(cnt, stall_name) + 1)
        with m.If(exec_go & exec_ok):
            m.d.sync += cnt.useful_macs.eq(cnt.useful_macs + cx.count * (R * C))
        for engine, counter in ((cl, cnt.dma_bytes_loaded), (cs, cnt.dma_bytes_stored)):
            d = engine.cmd.body.dma
            nbytes = d.sizes[0] * d.sizes[1] * d.sizes[2] * d.sizes[3]
            status = self.load_status if engine is cl else self.store_status
            with m.If(status.valid & (status.payload == DmaError.OK)):
                m.d.sync += counter.eq(counter + (nbytes << d.elem_log2))
        m.d.sync += cnt.commands.eq(cnt.commands + sum(completions))
        return m
