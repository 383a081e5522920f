"""The fetch unit: reads the program over AXI4, checks each command, hands it to its queue.

From ``start`` on, command ``i`` is read from ``program_base + 64 i`` (one aligned 64-byte
INCR burst, ARID :data:`FETCH_ID`, up to :data:`FETCH_OUTSTANDING` bursts ahead). A
command is requested only while ``i < program_len``, inside the window, with an aligned
base: at the first index where that fails no more reads are issued, and when every earlier
command has been handed over fetch stops there (``NO_END``, ``FETCH_WINDOW``,
``PROGRAM_ALIGN``). Each command read is checked (:class:`~.command_check.CommandCheck`;
an R beat with SLVERR/DECERR makes it ``Status.DMA``; the check is pipelined, a command
spends :data:`~.command_check.LATENCY` + 1 cycles in CHECK); an error or END stops fetch at
that index, anything else goes to its queue's stream in program order. After a stop (or
``halt``) no read is issued; the beats of reads already issued are taken and dropped. An
address request, once valid, stays valid and unchanged until accepted (AXI).
"""

from __future__ import annotations

import enum

from amaranth.hdl import Cat, Module, Mux, ResetInserter, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.dma import DmaError
from ..model.isa import COMMAND_BYTES, Opcode, Status, command_layout
from .axi import AxiBurst, AxiResp, axi4_read_members
from .command_check import LATENCY as CHECK_LATENCY
from .command_check import CommandCheck
from .dispatcher import entry_layout
from .copies import kept_copies, kept_wire
from .dma_common import window_layout
from .head_fifo import HeadFIFO

__all__ = ["Fetch", "FETCH_ID", "FETCH_OUTSTANDING"]

#: AXI ID of the fetch unit's reads (the DMA load engine uses 0).
FETCH_ID = 1
#: Read bursts (commands) the fetch unit may have in flight.
FETCH_OUTSTANDING = 2


def _word_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    return data.StructLayout({"bits": COMMAND_BYTES * 8, "resp": DmaError})


class _State(enum.Enum):
    """The decode's states."""
    STOPPED = 0                 # also the state after reset
    WAIT = 1
    CHECK = 2
    HAND = 3


class Fetch(wiring.Component):
    """See the module docstring.

    Attributes
    ----------
    start : In(1)
        Begin a program (one cycle); ``program_base``, ``program_len`` and ``window`` must
        be stable from then until the program ends.
    halt : In(1)
        Issue no more reads, hand over no more commands.
    program_base, program_len, window : In
    axi : Out(AXI4 read channels)
    load, execute, store : Out(stream.Signature(entry_layout(cfg)))
        Checked commands for each queue, in program order (one stream valid at a time).
    stopped : Out(1)
        Fetch ended: ``status`` (OK for END) at ``index`` (``dma_error`` for ``Status.DMA``).
    status : Out(Status)
    index : Out(32)
    dma_error : Out(DmaError)
    blocked : Out(1)
        A checked command waits for room in its queue.
    quiet : Out(1)
        No read is in flight or waiting to be accepted.

    ``target``: the command check's multipliers (:class:`~.command_check.CommandCheck`).
    """

    def __init__(self, cfg: AcceleratorConfig, target: str = "generic"):
        self.cfg, self.target = cfg, target
        entry = stream.Signature(entry_layout(cfg))
        super().__init__({
            "start": In(1), "halt": In(1),
            "program_base": In(cfg.addr_bits), "program_len": In(32), "window": In(window_layout(cfg)),
            "axi": Out(wiring.Signature(axi4_read_members(cfg.addr_bits, cfg.bus_bits))),
            "load": Out(entry), "execute": Out(entry), "store": Out(entry),
            "stopped": Out(1), "status": Out(Status), "index": Out(32), "dma_error": Out(DmaError),
            "blocked": Out(1), "quiet": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        # words of a finished program may be left: a new one starts with none. The head is
        # a register and so is its flag (``HeadFIFO``, cycle for cycle a ``SyncFIFO``), so
        # the decode's take starts at a flip-flop, not at the level's compare, and the
        # command register loads from flip-flops, not from the storage's read (timing: the
        # 8x8 top at e007b07, `words.level` -> `r_rdy` -> a 3.60 ns route -> the decode's
        # take -> a 3.61 ns route -> the level's enable, -0.81 ns)
        words = m.submodules.words = ResetInserter(self.start)(
            HeadFIFO(width=_word_layout(cfg).size, depth=FETCH_OUTSTANDING))
        in_flight = self._in_flight = Signal(range(FETCH_OUTSTANDING + 1))   # requested, not all beats in
        stop_at, stop_why, stop_next = self._requests(m, words, in_flight)
        self._beats(m, words, in_flight)
        self._decode(m, words, stop_at, stop_why, stop_next)
        return m

    # -- AR: one aligned 64-byte burst per command ------------------------------------------
    def _requests(self, m: Module, words, in_flight):
        cfg, ar = self.cfg, self.axi
        bb = cfg.bus_bytes
        addr = Signal(cfg.addr_bits + 1)      # of the next command to request (no wrap)
        nxt = Signal(32)                      # its index
        ending = Signal()                     # no more requests: stop_at / stop_why say why
        stop_at = Signal(32)
        stop_why = Signal(Status)
        valid = Signal()
        # the request waits in registers of its own (`ar_addr`, `valid`), and the walker's
        # state (`addr`, `nxt` and the flags below) steps as the request is made, not as it
        # is accepted: ARREADY, which crosses the read arbiter, then reaches `valid` alone
        # (timing: the 8x8 top at 02a6f20: the load engine's AR -> the arbiter's grant ->
        # ARREADY -> the enables of `left`, `to_hi` and the rest, some 40 endpoints late).
        # The next request is decided only once this one is accepted, from the same state
        ar_addr = Signal(cfg.addr_bits + 1, name="ar_addr")
        m.d.comb += [ar.arvalid.eq(valid), ar.araddr.eq(ar_addr), ar.arid.eq(FETCH_ID),
                     ar.arlen.eq(COMMAND_BYTES // bb - 1), ar.arsize.eq((bb - 1).bit_length()),
                     ar.arburst.eq(AxiBurst.INCR)]
        accepted = valid & ar.arready
        room = words.level + in_flight < FETCH_OUTSTANDING
        aligned = self.program_base[:(COMMAND_BYTES - 1).bit_length()] == 0
        # whether command `nxt` lies past the program and inside the window: registers,
        # set at `start` and stepped as a request is made, so no 32-bit compare lies
        # in front of the request decision (timing: the controller alone's path was `nxt`
        # -> `nxt >= program_len`, `addr + 64 <= hi` -> `ending`). Addresses only grow, so
        # `addr >= lo` holds for every command once it holds for the first; `to_hi` is
        # `hi - addr`, and the command fits below `hi` while it is at least 64.
        left = Signal(32)                     # program_len - nxt (while nxt < program_len)
        past_len = Signal()                   # nxt >= program_len
        below_lo = Signal()                   # program_base < lo
        to_hi = Signal(signed(cfg.addr_bits + 2))
        fits = Signal()                       # addr + 64 <= hi
        inside = ~below_lo & fits
        # (at `start`, `fits` is `to_hi`'s first value compared with 64, one subtraction
        # and a test of its high bits; timing: the 8x8 top at a6dd47d --seed 2,
        # `controller.base` -> `base + 64` -> `<= hi`, two carry chains -> `fits`, -0.48 ns)
        to_hi_first = Signal.like(to_hi, name="to_hi_first")
        m.d.comb += to_hi_first.eq(self.window.hi - self.program_base)
        with m.If(self.start):
            m.d.sync += [addr.eq(self.program_base), nxt.eq(0), ending.eq(0), valid.eq(0),
                         left.eq(self.program_len), past_len.eq(self.program_len == 0),
                         below_lo.eq(self.program_base < self.window.lo),
                         to_hi.eq(to_hi_first), fits.eq(to_hi_first >= COMMAND_BYTES)]
        with m.Elif(accepted):
            m.d.sync += valid.eq(0)
        # (not after `accepted` in the same chain: a request is made only while none waits,
        # so the two never meet, and ARREADY, through the read arbiter, reaches `valid`
        # alone, not the walker's enables; timing: the 8x8 top at e007b07, the load walker's
        # `out.r_rdy` -> the arbiter -> ARREADY -> `addr`'s enable, -0.20 ns)
        decide = Signal(name="fetch_decide")     # the walker makes a request or ends now
        stopping = Signal(name="fetch_stopping")  # it ends now: stop_at takes `nxt`
        m.d.comb += [decide.eq(~self.start & ~valid & ~ending & ~self.halt & ~self.stopped & room
                               & (in_flight < FETCH_OUTSTANDING)),
                     stopping.eq(decide & (~aligned | past_len | ~inside))]
        with m.If(decide):
            with m.If(~aligned):
                m.d.sync += [ending.eq(1), stop_at.eq(nxt), stop_why.eq(Status.PROGRAM_ALIGN)]
            with m.Elif(past_len):
                m.d.sync += [ending.eq(1), stop_at.eq(nxt), stop_why.eq(Status.NO_END)]
            with m.Elif(~inside):
                m.d.sync += [ending.eq(1), stop_at.eq(nxt), stop_why.eq(Status.FETCH_WINDOW)]
            with m.Else():
                m.d.sync += [valid.eq(1), ar_addr.eq(addr), addr.eq(addr + COMMAND_BYTES), nxt.eq(nxt + 1),
                             left.eq(left - 1), past_len.eq(left == 1),
                             to_hi.eq(to_hi - COMMAND_BYTES), fits.eq(to_hi >= 2 * COMMAND_BYTES)]
        self._ar_valid = valid
        self._ending = ending
        m.d.sync += in_flight.eq(in_flight + accepted - words.w_en)
        return stop_at, Mux(ending, stop_why, Status.OK), (stopping, nxt)

    # -- R: beats into whole command words ----------------------------------------------------
    def _beats(self, m: Module, words, in_flight) -> None:
        cfg, r = self.cfg, self.axi
        bb = cfg.bus_bytes
        word = Signal(COMMAND_BYTES * 8)
        resp = Signal(DmaError)
        m.d.comb += r.rready.eq(1)          # room was reserved when the burst was requested
        beat_resp = Mux(r.rresp == AxiResp.DECERR, DmaError.AXI_DECERR,
                        Mux(r.rresp == AxiResp.SLVERR, DmaError.AXI_SLVERR, DmaError.OK))
        first_err = Mux(resp != DmaError.OK, resp, beat_resp)
        full = Signal(_word_layout(cfg))
        m.d.comb += [full.bits.eq(Cat(word[bb * 8:], r.rdata) if bb < COMMAND_BYTES else r.rdata),
                     full.resp.eq(first_err), words.w_data.eq(full.as_value())]
        with m.If(r.rvalid):
            with m.If(r.rlast):
                m.d.comb += words.w_en.eq(1)
                m.d.sync += resp.eq(DmaError.OK)
            with m.Else():
                m.d.sync += [word.eq(full.bits), resp.eq(first_err)]

    # -- decode: check, then hand over (or stop) in program order ----------------------------
    def _decode(self, m: Module, words, stop_at, stop_why, stop_next) -> None:
        cfg = self.cfg
        check = m.submodules.check = CommandCheck(cfg, self.target)
        head = data.View(_word_layout(cfg), words.r_data)
        cmd = Signal(command_layout(cfg))
        resp = Signal(DmaError)
        idx = Signal(32)
        entry = Signal(entry_layout(cfg))
        status = Signal(Status)
        dma_error = Signal(DmaError)
        # the check reads a copy of the command register (`check_cmd`), which loads only with
        # a word (the register loads in every WAIT cycle), so Yosys does not merge the two;
        # both hold the command from CHECK on. The register also drives the three queues'
        # entries, which pull it away from the check (timing: the 8x8 top at 02a6f20, the
        # register -> a 5.19 ns route -> the COMPUTE check's `compute_ws_ok`, -1.53 ns)
        check_cmd = Signal(command_layout(cfg), name="check_cmd")
        m.d.comb += [check.cmd.eq(check_cmd), check.window.eq(self.window),
                     entry.cmd.eq(cmd), entry.index.eq(idx),
                     self.index.eq(idx), self.status.eq(status), self.dma_error.eq(dma_error)]
        outs = {Opcode.LOAD: self.load, Opcode.COMPUTE: self.execute,
                Opcode.STORE: self.store, Opcode.REQUANT: self.store}
        queues = (self.load, self.execute, self.store)
        for s in queues:
            m.d.comb += s.payload.eq(entry)
        # which queue the command in HAND goes to: a register per queue, set as CHECK hands
        # over (from the command register's opcode) and cleared as HAND is left, so a
        # queue's `valid` is that flag and the halt, both registers, not the state's decode
        # and the opcode's compares (timing: the 8x8 top at 1154364 --seed 2,
        # `fetch.fsm_state` -> the queues' `valid` -> a 3.53 ns route -> the store queue's
        # write -> `c_behind_data`, -0.58 ns)
        offer = Signal(len(queues), name="offer")
        offer_of_cmd = Cat(Cat(*(cmd.header.opcode == op for op, q in outs.items() if q is s)).any()
                           for s in queues)
        for k, s in enumerate(queues):
            m.d.comb += s.valid.eq(offer[k] & ~self.halt)
        ready = Signal()
        checking = Signal(range(CHECK_LATENCY + 1))     # cycles the command has been checked
        for op, s in outs.items():
            with m.If(cmd.header.opcode == op):
                m.d.comb += ready.eq(s.ready)

        # The state is a register loaded from its next value (`state_next`), and whether
        # that is WAIT is a flag set beside it by every transition (`to_wait`), whose
        # transitions never hang on the check's status, so the command registers (~300
        # bits each) take their enable from a kept copy of it that sits by them, and
        # the state sits by its own logic (timing: the 8x8 top at 2aa321b --seed 3,
        # `fetch.fsm_state` -> routes of 2.30 and 3.18 ns -> its own enable, -0.52 ns;
        # at 965a861 --seed 3 the copy, loaded from `state_next == WAIT`, had the
        # status's LUT levels in front of it, -1.06 ns)
        state = Signal(_State, name="fetch_state", init=_State.STOPPED)
        state_next = Signal(_State, name="fetch_state_next")
        to_wait = Signal(name="fetch_to_wait")
        m.d.comb += [state_next.eq(state), to_wait.eq(state == _State.WAIT)]
        m.d.sync += state.eq(state_next)

        def goto(target):
            m.d.comb += [state_next.eq(target), to_wait.eq(target == _State.WAIT)]

        loading, = kept_copies(m, to_wait, 1, name="fetch_loading", shape=1)
        # `stop_at == idx` is a register (`at_stop`), set from both registers' next values
        # with the compares made for each (stop_at stays or takes `nxt` as the requests
        # end; idx stays or steps), which the two events only choose; it is read only while
        # the requests have ended, and `start` (idx = 0) clears that (timing: the 8x8 top
        # at be0c4f1 --seed 3, `stop_at` -> the 32-bit compare -> WAIT's stop ->
        # `to_wait` -> `fetch_loading0`, -0.25 ns at 105 MHz)
        stopping, nxt = stop_next
        at_stop = Signal(name="fetch_at_stop")
        steps = Signal(name="fetch_idx_steps")
        m.d.comb += steps.eq((state == _State.HAND) & ~self.halt & ready)
        # idx + 1 is a register stepped beside idx (timing: the compares with it followed
        # the increment's carry chain, the 8x8 top at 3747cfb --seed 3,
        # `controller.execute__payload` -> `idx + 1` -> `nxt == idx + 1` -> `at_stop`,
        # -0.05 ns)
        idx_up = Signal(33, name="fetch_idx_up", init=1)
        # (the four compares are wires kept apart, so `steps`, which waits for the target
        # queue's ready, and `stopping` choose among them last; timing: the 8x8 top at
        # 06a2f20 --seed 3, `controller.execute__payload` -> the queues' `w_rdy` -> `steps`
        # -> four LUT levels of the compares' trees -> `at_stop`, -0.37 ns)
        same = {(a, b): kept_wire(m, x == y, name=f"fetch_{a}_is_{b}")
                for (a, x) in (("next", nxt), ("stop", stop_at)) for (b, y) in (("idx", idx), ("up", idx_up))}
        m.d.sync += at_stop.eq(Mux(stopping, Mux(steps, same["next", "up"], same["next", "idx"]),
                                   Mux(steps, same["stop", "up"], same["stop", "idx"])))
        # the word queue's head is taken in WAIT and from the second cycle of STOPPED on
        # (STOPPED drops what still arrives; nothing reads the queue before the next
        # `start`, which empties it, so a word dropped a cycle later changes nothing), so
        # the read is a LUT of registers (`stopped_before`: the state was STOPPED)
        stopped_before = Signal(name="fetch_stopped_before", init=1)
        m.d.sync += stopped_before.eq(state == _State.STOPPED)
        m.d.comb += words.r_en.eq(words.r_rdy & (loading | stopped_before))
        # the command register takes the queue's head in every WAIT cycle, a word there or
        # not, and its copy for the check whenever a word is there (only CHECK and HAND
        # read them, and CHECK is entered only from WAIT with a word), so their enables
        # are registers alone (timing: the controller alone at 6e1c879 and the 8x8 top at
        # 9e8ed19: `idx` -> `stop_at == idx` -> the enable of the ~300-bit register)
        with m.If(loading):
            m.d.sync += [cmd.eq(head.bits[:len(cmd.as_value())]), resp.eq(head.resp)]
            with m.If(words.r_rdy):
                m.d.sync += check_cmd.eq(head.bits[:len(cmd.as_value())])

        def stop(why, err=DmaError.OK):
            m.d.sync += [status.eq(why), dma_error.eq(err)]
            goto(_State.STOPPED)

        def restart():                      # in every state: a new program begins
            with m.If(self.start):
                m.d.sync += [idx.eq(0), idx_up.eq(1), status.eq(Status.OK), dma_error.eq(DmaError.OK), offer.eq(0)]
                goto(_State.WAIT)

        with m.Switch(state):
            with m.Case(_State.STOPPED):    # also the state after reset
                restart()                   # (what still arrives is taken and dropped)
            with m.Case(_State.WAIT):       # for command idx (or the reason there is none)
                # a word waiting is command idx, so idx < stop_at: the word goes first and
                # the 32-bit compare decides only the stop (timing: the controller alone at
                # 6e1c879, 92.2 MHz, and the 8x8 top at 9e8ed19, 72.5 MHz: `idx` -> `stop_at
                # == idx` -> the enable of the ~300-bit command register).
                # The queue's head is taken whenever there is one, with a halt too: STOPPED,
                # the next state then, drops every word anyway, and nothing requests while
                # halted or stopped, so only the level differs, a cycle early. So the halt
                # reaches the state alone, not the queue's read and its wide enables
                # (timing: the 8x8 top at 4b04c65 --seed 2, `run.hold0` -> the read -> a
                # 4.11 ns route -> a 4.40 ns route -> `words.r_rdy`'s enable, -0.41 ns)
                m.d.sync += checking.eq(0)
                with m.If(self.halt):
                    goto(_State.STOPPED)
                with m.Elif(words.r_rdy):
                    goto(_State.CHECK)
                with m.Elif((stop_why != Status.OK) & at_stop):
                    stop(stop_why)
                restart()
            with m.Case(_State.CHECK):      # the check's status is valid after CHECK_LATENCY cycles
                with m.If(checking != CHECK_LATENCY):
                    m.d.sync += checking.eq(checking + 1)
                with m.Elif(resp != DmaError.OK):
                    stop(Status.DMA, resp)
                with m.Elif(check.status != Status.OK):
                    stop(check.status, check.dma_error)
                with m.Elif(cmd.header.opcode == Opcode.END):
                    stop(Status.OK)
                with m.Else():
                    m.d.sync += offer.eq(offer_of_cmd)
                    goto(_State.HAND)
                restart()
            with m.Case(_State.HAND):       # `offer` names the queue (its `valid`, above)
                with m.If(self.halt):
                    m.d.sync += offer.eq(0)
                    goto(_State.STOPPED)
                with m.Else():
                    with m.If(ready):
                        m.d.sync += [idx.eq(idx_up), idx_up.eq(idx_up[:32] + 1), offer.eq(0)]
                        goto(_State.WAIT)
                restart()
        m.d.comb += [self.stopped.eq(state == _State.STOPPED),
                     self.blocked.eq((state == _State.HAND) & ~ready & ~self.halt),
                     self.quiet.eq(~self._ar_valid & (self._in_flight == 0))]
