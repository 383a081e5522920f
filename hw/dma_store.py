"""DMA store engine: on-chip rows (scratchpad operands or requantized accumulator rows)
to a strided tensor in DRAM."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.dma import DmaError, dma_command_layout, onchip_rows_limit
from .axi import AxiBurst, AxiResp, axi4_write_members
from .beat_lanes import BeatLanes
from .copies import kept_copies
from .dma_common import CommandFrontEnd, window_layout
from .head_fifo import HeadFIFO

__all__ = ["DmaStore", "store_req_layout", "store_row_layout", "STORE_READ_AHEAD", "OUTSTANDING_WRITES"]

#: Row requests the store engine may have outstanding (responses come back in order). At
#: least the round trip accumulator read -> requantization -> row FIFO -> W beat (about 11
#: cycles), so a store moves one row per cycle (with 4 it moved one per 2.8 cycles).
STORE_READ_AHEAD = 16
#: Write bursts whose W beats may still be pending.
OUTSTANDING_BURSTS = 8
#: Write bursts whose B response may still be pending (AW taken, B not yet back).
OUTSTANDING_WRITES = 8


def store_req_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """A request for one on-chip row: ``target`` 0 scratchpad, 1 accumulator."""
    return data.StructLayout({"target": 1, "addr": range(onchip_rows_limit(cfg))})


def store_row_layout(cfg: AcceleratorConfig) -> data.ArrayLayout:
    """A row as stored: 8-bit elements (scratchpad operands, or the requantized
    accumulator row in its first ``cols`` elements)."""
    return data.ArrayLayout(8, max(cfg.spad_row_elems, cfg.cols))


class DmaStore(wiring.Component):
    """Executes store commands (:func:`~systolica.model.dma.dma_store`), one at a time.

    Attributes
    ----------
    cmd : In(stream.Signature(dma_command_layout(cfg)))
        A store command (``store`` must be 1, else BAD_DESCRIPTOR). Accepted when idle.
    window : In(window_layout(cfg))
        DRAM window; stable while a command runs.
    status : Out(stream.Signature(DmaError))
        One status per command, after the last write response (or at once, with no beat
        issued, when a check fails). A B response with SLVERR/DECERR does not stop the
        transfer; the first error is the status.
    moved : Out(range(bus_bytes + 1))
        Bytes of the W beat made this cycle (its strobes; the DMA-bytes counter). It is on
        W from the next cycle; the command finishes after its last B, so after every beat.
    check : bool
        Check commands (``window`` etc.) here; ``False`` when they arrive checked.
    axi : Out(AXI4 write channels)
        AW/W/B of the shared manager port. W beats may run ahead of their AW (AXI4
        allows it); at most :data:`OUTSTANDING_WRITES` bursts wait for their B.
    store_req : Out(stream.Signature(store_req_layout(cfg)))
        Requests for the rows to store, in ascending row order, at most
        :data:`STORE_READ_AHEAD` ahead of the responses. ``valid`` and ``payload`` are
        registers; ``ready`` may depend on the payload.
    store_rsp : In(stream.Signature(store_row_layout(cfg)))
        The requested rows, in request order (any latency).
    """

    def __init__(self, cfg: AcceleratorConfig, *, check: bool = True):
        self.cfg, self.check = cfg, check
        super().__init__({
            "cmd": In(stream.Signature(dma_command_layout(cfg))),
            "window": In(window_layout(cfg)),
            "status": Out(stream.Signature(DmaError)),
            "moved": Out(range(cfg.bus_bytes + 1)),
            "axi": Out(wiring.Signature(axi4_write_members(cfg.addr_bits, cfg.bus_bits))),
            "store_req": Out(stream.Signature(store_req_layout(cfg))),
            "store_rsp": In(stream.Signature(store_row_layout(cfg))),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        bb = cfg.bus_bytes
        lanes = (bb - 1).bit_length()
        width = max(cfg.spad_row_elems, cfg.cols)

        # (the walker's bursts from one head register: their ready is the two queues'
        # rooms below, registers; timing: the 8x8 top at d4c360e --seed 2, the walker's
        # queue `store.bursts.out.oldest` -> a 3.57 ns route -> its head's select -> the W
        # queue's next head -> the W shift amount, -0.79 ns in eight copies)
        front = CommandFrontEnd(m, cfg, self, store=True, check=self.check, burst_heads=1)
        c, dec, err, gen = front.c, front.dec, front.err, front.gen
        running, start, finished = front.running, front.start, front.finished
        # the rows to store, (i0, i1, i2) in order, counted down as they are requested: one
        # counter per dimension with registers of whether it is at its end or one before, as
        # the burst walker counts its indices; `all_requested` is set with the last request.
        # No product of the sizes (timing: the 8x8 top at 02a6f20: the command -> a
        # multiplier's DSP block and back, 4.4 ns of route each way -> `rows`, -3.19 ns)
        req_left = [Signal.like(dec.n[d], name=f"req_left{d}") for d in range(3)]
        req_end = [Signal(name=f"req_end{d}") for d in range(3)]
        req_near = [Signal(name=f"req_near{d}") for d in range(3)]
        all_requested = Signal()

        def step(d):          # i[d] + 1
            return [req_left[d].eq(req_left[d] - 1), req_end[d].eq(req_near[d]), req_near[d].eq(req_left[d] == 2)]

        def restart(*dims):   # i[d] = 0 (the command `c` holds from the cycle of `start` on)
            return sum(([req_left[d].eq(dec.n[d] - 1), req_end[d].eq(dec.n[d] == 1), req_near[d].eq(dec.n[d] == 2)]
                        for d in dims), [])

        # -- row requests, at most STORE_READ_AHEAD ahead; responses land in a FIFO --------------
        # Requests leave from a two-entry queue whose head is a register, so `store_req`'s
        # valid and payload are registers and its ready (which the memories' arbitration
        # drives from the payload's bank) stops at the queue. `in_flight` counts a request
        # from its entry into the queue, so queue, memories and row FIFO together never hold
        # more than STORE_READ_AHEAD. (Timing: the 8x8 top's path was `requested` -> valid
        # and address -> the memories' read arbitration -> ready -> `in_flight`.)
        # The row FIFO's read is applied a cycle late, from a register beside it (timing: the
        # 8x8 top's path was the beat's byte count -> the row's end -> the pop -> the FIFO's
        # level across the chip); its head and r_rdy are SyncFIFO's every cycle, and its room
        # counts a pop a cycle late, which no response meets: one arrives at least two
        # cycles after the request that `in_flight` let in on the pop's cycle
        m.submodules.rowq = rowq = HeadFIFO(width=width * 8, depth=STORE_READ_AHEAD, heads=2, late_read=True)
        req_layout = store_req_layout(cfg)
        m.submodules.reqq = reqq = HeadFIFO(width=req_layout.size, depth=2)
        # (at most the command's rows, which are at most the row limit: checked)
        requested = Signal(range(onchip_rows_limit(cfg) + 1))
        consumed = Signal(range(onchip_rows_limit(cfg) + 1))
        in_flight = Signal(range(STORE_READ_AHEAD + 2))
        req = self.store_req
        queued = data.View(req_layout, reqq.w_data)
        m.d.comb += [
            reqq.w_en.eq(running & ~all_requested & (in_flight < STORE_READ_AHEAD)),
            queued.target.eq(c.target),
            queued.addr.eq(c.row + requested),
            req.valid.eq(reqq.r_rdy),
            req.payload.eq(reqq.r_data),
            reqq.r_en.eq(req.ready),
            self.store_rsp.ready.eq(rowq.w_rdy),
            rowq.w_en.eq(self.store_rsp.valid),
            rowq.w_data.eq(self.store_rsp.payload.as_value()),
        ]
        took_req = reqq.w_en & reqq.w_rdy
        with m.If(took_req):
            m.d.sync += requested.eq(requested + 1)
            with m.If(req_end[0] & req_end[1] & req_end[2]):
                m.d.sync += all_requested.eq(1)
            with m.Elif(~req_end[2]):
                m.d.sync += step(2)
            with m.Elif(~req_end[1]):
                m.d.sync += restart(2) + step(1)
            with m.Else():
                m.d.sync += restart(2, 1) + step(0)
        # the pop, which comes late in its cycle (the head burst -> the beat -> the row's end),
        # only chooses between two counts made from the request side (timing: the 8x8 top at
        # d439d8e, `store.pending.head1_valid` -> the pop -> a 4.12 ns route -> the
        # count's carry chain, -3.70 ns); the same count every cycle
        popped = rowq.r_en
        counted = Signal.like(in_flight, name="in_flight_req")
        m.d.comb += counted.eq(in_flight + took_req)
        m.d.sync += in_flight.eq(Mux(popped, counted - 1, counted))

        # -- every burst goes to two queues: AW addresses, and W beat shapes -------------------
        # (W does not wait for its AW: AXI4 allows write data before the address, and a slave
        # that takes few addresses ahead would otherwise starve the W channel)
        # (each burst comes with its beats' byte lanes, BeatLanes.entry, from the walker)
        entry = gen.bursts.payload.shape()
        shape = gen.bursts.payload.burst.shape()
        # (the W side's queue has two head registers, so the beat's take reaches only their
        # flags, not its storage's read pointer; timing: the 8x8 top at fc6b413, its `r_rdy`
        # -> the take -> `rptr` -> `late_hit`, -1.89 ns)
        m.submodules.pending = pending = BeatLanes.queue(entry, OUTSTANDING_BURSTS)
        m.submodules.addresses = addresses = HeadFIFO(width=shape.size, depth=OUTSTANDING_BURSTS)
        b = gen.bursts
        both = pending.w_rdy & addresses.w_rdy
        m.d.comb += [b.ready.eq(both),
                     pending.w_en.eq(b.valid & both), pending.w_data.eq(BeatLanes.queued(b.payload)),
                     addresses.w_en.eq(b.valid & both), addresses.w_data.eq(b.payload.burst.as_value())]
        ax = self.axi
        aw = data.View(shape, addresses.r_data)
        awaiting = Signal(range(OUTSTANDING_WRITES + 1))   # bursts whose AW was taken, no B yet
        # at most OUTSTANDING_WRITES awaiting B: once AW is valid this stays true (only B moves)
        m.d.comb += [
            ax.awvalid.eq(addresses.r_rdy & (awaiting < OUTSTANDING_WRITES)),
            ax.awaddr.eq(aw.addr), ax.awlen.eq(aw.beats - 1),
            ax.awsize.eq(lanes), ax.awburst.eq(AxiBurst.INCR),
            addresses.r_en.eq(ax.awvalid & ax.awready),
        ]
        beat_lanes = BeatLanes(m, bb, entry, pending)
        m.d.sync += awaiting.eq(awaiting + (ax.awvalid & ax.awready) - ax.bvalid)

        # -- W: bytes of the head row, placed at the burst's byte lanes ----------------------
        # the beat that ends the row is the last beat of a burst that ends its row vector
        # (`row_end`, from the walker: a row's bytes are its runs'), so no byte count is
        # compared before the pop (timing: before, `k == left`, `left` the row's bytes not
        # yet sent, a register; the 8x8 top at fc6b413, the head burst's flags -> the beat's
        # byte count `_k_next`, -1.32 ns)
        k = beat_lanes.k
        # The beats leave through a two-entry queue (an AXI register slice): W's valid and
        # payload are its head registers, `wready` reaches only its flags, and a beat is
        # made when the queue has room, a register compare (timing: the 8x8 top's path was
        # `wvalid` -> the handshake, placed far away -> the row's end -> the row FIFO's pop
        # -> `in_flight`). Full rate; a beat is on W one cycle after it is made (+1 cycle
        # per STORE).
        beat = data.StructLayout({"data": bb * 8, "strb": bb, "last": 1})
        m.submodules.w_beats = wq = HeadFIFO(width=beat.size, depth=2, heads=2)
        make = running & beat_lanes.ready & rowq.r_rdy & wq.w_rdy
        beat_lanes.register_last(m, make, start)
        # the row's bytes rp .. rp + k - 1 go to the beat's lanes o .. o + k - 1 in one
        # shift of the row, below which bb - 1 zero bytes are set, by `rp_b - o`: `rp_b`
        # is a register, the next byte of the head row plus bb - 1 (so the amount stays
        # unsigned); the lanes below o are cleared, so W's bytes are those of a shift to
        # lane 0 and then to o (timing: those two shifts in a row, the 8x8 top at
        # d5193b6, `store.rp` and the row queue's select -> `w_beats`'s heads, -0.75 ns).
        # The amount and o are registers too, set from the next values of `rp_b` and of
        # the beat's lanes (BeatLanes.offset_next_either), so the shift starts at registers
        # beside it (timing: the 8x8 top at 697a09b, the burst queue's copy select
        # `store.pending.c_oldest` -> a 4.65 ns route -> `rp_b - o` -> `w_beats`'s heads,
        # -1.34 ns, 106 endpoints)
        rp_b = Signal(range(width + bb), init=bb - 1)
        row_done = beat_lanes.ends_row_register(m, make, start)      # the beat ends the row
        # The amount is kept once per byte lane (`w_shift0` ..), each copy steering only
        # its lane's 8 bits, so each can sit by them (timing: the 8x8 top at e54d26e, one
        # `w_shift` placed by the control -> a 5.40 ns route -> `w_beats.head0`, -1.33 ns).
        # Its next value is made for a beat made and for none, from registers, and the make
        # only chooses (timing: the 8x8 top at a6dd47d, `store.rowq.r_rdy` -> the make ->
        # `rp_b`'s next value -> `- o` -> `w_shift`, two carry chains after the make, -0.96 ns).
        # (`rp_b` and `o` take the chosen halves' own next values: the same choice)
        # A command's start (no beat is made then: `running` is low) chooses their values
        # last, after the make's choice, so `start` reaches each register through one
        # select (timing: the 8x8 top at a0840f4, `store.checking` -> `start` -> the W
        # offset's next value -> `rp_b - o` -> `w_shift*`, six LUT levels, -0.45 ns)
        o = Signal(range(bb), name="w_offset")
        o_made, o_kept = beat_lanes.offset_next_either(0)
        o_start = beat_lanes.offset_next_either(1)[1]
        rp_b_made = Mux(row_done, bb - 1, rp_b + k)
        # (a made beat's amount, `rp_b_made - o_made`, made for each source of the next
        # offset and chosen by registers: the burst queue's storage reaches a subtraction
        # and the choice, not the choice first; timing: the 8x8 top at 60ad774 --seed 3,
        # `store.pending`'s entry behind -> the copy's next head as read -> the offset ->
        # `rp_b - o` -> `w_shift*`, nine levels, -1.32 ns)
        offsets, at = beat_lanes.offset_taken_choices()
        amount_made = Array(rp_b_made - x for x in offsets)[at]
        amount_next = Mux(start, (bb - 1) - o_start, Mux(make, amount_made, rp_b - o_kept))
        amounts = kept_copies(m, amount_next, bb, name="w_shift", shape=range(width + bb), init=bb - 1)
        m.d.sync += [rp_b.eq(Mux(start, bb - 1, Mux(make, rp_b_made, rp_b))),
                     o.eq(Mux(start, o_start, Mux(make, o_made, o_kept)))]
        padded = Cat(Const(0, (bb - 1) * 8), rowq.r_data)
        # lane x: byte x of the shifted row (zeros past its end)
        shifted = [(padded[x * 8:] >> (amounts[x] * 8))[:8] for x in range(bb)]
        # (lane bb - 1 is never below o)
        row_bytes = Cat(Mux(o > x, 0, shifted[x]) if x < bb - 1 else shifted[x] for x in range(bb))
        made, out = data.View(beat, wq.w_data), data.View(beat, wq.r_data)
        w = self.axi
        m.d.comb += [
            wq.w_en.eq(make),
            made.data.eq(row_bytes),
            made.strb.eq((beat_lanes.mask << o)[:bb]),
            made.last.eq(beat_lanes.last),
            w.wvalid.eq(wq.r_rdy), w.wdata.eq(out.data), w.wstrb.eq(out.strb), w.wlast.eq(out.last),
            wq.r_en.eq(w.wready),
        ]
        m.d.comb += self.moved.eq(Mux(make, beat_lanes.k_counted, 0))
        with m.If(make):
            beat_lanes.advance(m, pending.r_en)
            with m.If(row_done):
                m.d.comb += rowq.r_en.eq(1)
                m.d.sync += consumed.eq(consumed + 1)

        # -- B: count the answers, keep the first error --------------------------------------
        m.d.comb += w.bready.eq(1)
        with m.If(w.bvalid):
            with m.If((w.bresp == AxiResp.SLVERR) & (err == DmaError.OK)):
                m.d.sync += err.eq(DmaError.AXI_SLVERR)
            with m.If((w.bresp == AxiResp.DECERR) & (err == DmaError.OK)):
                m.d.sync += err.eq(DmaError.AXI_DECERR)

        with m.If(start):
            m.d.sync += [requested.eq(0), consumed.eq(0), awaiting.eq(0),
                         all_requested.eq(0)] + restart(0, 1, 2)
            beat_lanes.restart(m)
        # (every requested row is consumed: all of them once the last is requested)
        m.d.comb += finished.eq(~gen.busy & all_requested & (consumed == requested) & ~pending.r_rdy
                                & ~addresses.r_rdy & (awaiting == 0))
        return m
