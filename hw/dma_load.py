"""DMA load engine: a strided, padded (optionally transposed) tensor from DRAM into rows
of the scratchpad or the accumulator."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.dma import DmaError, dma_command_layout, encodable_elem_bytes, onchip_rows_limit
from .accumulator import acc_dma_write_layout
from .axi import AxiBurst, AxiResp, axi4_read_members
from .beat_lanes import BeatLanes
from .dma_common import CommandFrontEnd, product_register, window_layout
from .dma_rows import PaddedRows
from .head_fifo import HeadFIFO
from .scratchpad import spad_write_layout

__all__ = ["DmaLoad", "OUTSTANDING_BURSTS"]

#: Read bursts the load engine may have in flight.
OUTSTANDING_BURSTS = 8
#: R beats the engine holds before it places them (``rready`` is room among them).
R_SLOTS = 2


class DmaLoad(wiring.Component):
    """Executes load commands (:func:`~systolica.model.dma.dma_load`), one at a time.

    Attributes
    ----------
    cmd : In(stream.Signature(dma_command_layout(cfg)))
        A load command (``store`` must be 0, else BAD_DESCRIPTOR). Accepted when idle.
    window : In(window_layout(cfg))
        DRAM window; stable while a command runs.
    status : Out(stream.Signature(DmaError))
        One status per command, after its last row was accepted (or at once, with no
        beat issued and no row written, when a check fails). AXI errors (an R beat with
        SLVERR or DECERR) do not stop the transfer: all its beats are taken and its rows
        written (with the data the beats carried); the first error is the status.
    moved : Out(range(bus_bytes + 1))
        Element bytes taken from the R beat of this cycle (the DMA-bytes counter adds them).
    check : bool
        Check commands (``window`` etc.) here; ``False`` when they arrive checked.
    axi : Out(AXI4 read channels)
        AR/R of the shared manager port. R beats enter a queue of :data:`R_SLOTS`
        (``rready`` is room in it) and are placed in rows from there, one cycle later; a
        beat is placed a cycle after it is taken and merged into its row a cycle after that.
    spad_write : Out(stream.Signature(scratchpad.spad_write_layout(cfg)))
    acc_write : Out(stream.Signature(accumulator.acc_dma_write_layout(cfg)))
        Whole rows (all mask bits set), in ascending row order, straight into the
        memories' write ports; backpressure stalls the engine.
    """

    def __init__(self, cfg: AcceleratorConfig, *, check: bool = True):
        self.cfg, self.check = cfg, check
        super().__init__({
            "cmd": In(stream.Signature(dma_command_layout(cfg))),
            "window": In(window_layout(cfg)),
            "status": Out(stream.Signature(DmaError)),
            "moved": Out(range(cfg.bus_bytes + 1)),
            "axi": Out(wiring.Signature(axi4_read_members(cfg.addr_bits, cfg.bus_bits))),
            "spad_write": Out(stream.Signature(spad_write_layout(cfg))),
            "acc_write": Out(stream.Signature(acc_dma_write_layout(cfg))),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        bb = cfg.bus_bytes
        lanes = (bb - 1).bit_length()
        # bytes of a row in DRAM element format: scratchpad operands or int32/int64 sums
        rb = max(cfg.spad_row_elems * cfg.input_bits // 8, cfg.cols * max(4, cfg.acc_elem_bytes))
        width = max(cfg.spad_row_elems, cfg.cols)

        front = CommandFrontEnd(m, cfg, self, store=False, check=self.check)
        c, dec, err, gen = front.c, front.dec, front.err, front.gen
        start, finished = front.start, front.finished

        # -- AR: every burst is issued and remembered for the R beats -----------------------
        # (the queue's room is a register and its head two registers, so the AR handshake,
        # which crosses the read arbiter, reaches only flags; timing: the 8x8 top at 02a6f20,
        # 75.5 MHz: this queue's level -> its room -> ARVALID -> the arbiter's grant -> ARREADY
        # -> the walker's registers, some 220 endpoints late. A burst queued at ``t`` is the
        # head at ``t + 1``, a cycle before ``SyncFIFOBuffered``'s, which no R beat can meet:
        # a burst's first beat is queued in ``r_beats`` at ``t + 2`` at the earliest)
        # (each burst comes with its beats' byte lanes, BeatLanes.entry, from the walker)
        entry = gen.bursts.payload.shape()
        m.submodules.pending = pending = BeatLanes.queue(entry, OUTSTANDING_BURSTS)
        ar, b = self.axi, gen.bursts
        m.d.comb += [
            ar.arvalid.eq(b.valid & pending.w_rdy),
            ar.araddr.eq(b.payload.burst.addr), ar.arlen.eq(b.payload.burst.beats - 1),
            ar.arsize.eq(lanes), ar.arburst.eq(AxiBurst.INCR),
            b.ready.eq(ar.arready & pending.w_rdy),
            pending.w_en.eq(b.valid & ar.arready), pending.w_data.eq(BeatLanes.queued(b.payload)),
        ]
        beat_lanes = BeatLanes(m, bb, entry, pending)

        # -- the padded row walker (which source rows are data; where the dimensions end) --
        m.submodules.rows = rows = PaddedRows(cfg)
        m.d.comb += [rows.cmd.eq(self.cmd.payload), rows.take.eq(front.taking), rows.start.eq(start)]
        data_row, j_end, last_src_row = rows.data_row, rows.end, rows.last

        # (the bounds the row templates below compare with are registers taken with the
        # command: timing, the sum of three command fields sat in front of the compares)
        data_hi = Signal(17, name="data_hi3")       # pad_before + size
        j_last = Signal(signed(18), name="j_last3")  # padded size - 1
        with m.If(front.taking):
            hd = self.cmd.payload
            m.d.sync += [data_hi.eq(hd.pad_before[3] + hd.sizes[3]),
                         j_last.eq(hd.pad_before[3] + hd.sizes[3] + hd.pad_after[3] - 1)]
        eb = dec.eb
        off0 = Signal(20)       # where a row vector's data bytes go in the row buffer
        m.d.comb += off0.eq(dec.bytes_of(dec.pb[3]))

        # row templates: `pattern` for data rows (pad_value in the pad elements, 0 where the
        # data goes and past the vector), `pad_row` for rows that are all padding. They are
        # registers, computed from registers of which elements of a row vector lie in it
        # and which hold data (`tpl_in_vector`, `tpl_in_data`, per element of the smallest
        # size), themselves taken from the command's bounds (timing: the bounds' compares,
        # fanned out to every byte, sat in front of the templates). Valid from RUN's second
        # cycle (`run2`): the row buffer takes `pattern` then, and the first item to reach
        # stage C (a pad row closed in RUN's first cycle) does so in RUN's third
        # (each bound's compare with an element index split at the index's width: whether
        # its high bits are zero, shared by every element, and a compare of its low bits with
        # a constant; timing: the 8x8 top at 02a6f20, `j_last3` -> the compares, which Yosys
        # had shared as one subtraction with multiplexers after it -> `tpl_in_vector`, -2.30)
        lb = max(1, (rb - 1).bit_length())
        high = {name: Signal(name=f"tpl_{name}_high") for name in ("last", "pb", "hi")}
        m.d.comb += [high["last"].eq(~j_last[-1] & (j_last[lb:-1] != 0)),
                     high["pb"].eq(dec.pb[3][lb:] != 0), high["hi"].eq(data_hi[lb:] != 0)]

        def at_least(x, big, el):       # x >= el, for x >= 0 when `big`, el in 0 .. rb
            if el == 0:
                return Const(1)
            return big if el >> lb else big | (x[:lb] >= el)

        in_vector, in_data = Signal(rb, name="tpl_in_vector"), Signal(rb, name="tpl_in_data")
        m.d.sync += [in_vector[el].eq(~j_last[-1] & at_least(j_last, high["last"], el)) for el in range(rb)]
        m.d.sync += [in_data[el].eq(~at_least(dec.pb[3], high["pb"], el + 1) & at_least(data_hi, high["hi"], el + 1))
                     for el in range(rb)]
        pattern_c, pad_row_c = Signal(rb * 8), Signal(rb * 8)
        pattern, pad_row = Signal(rb * 8), Signal(rb * 8)
        m.d.sync += [pattern.eq(pattern_c), pad_row.eq(pad_row_c)]
        sizes = encodable_elem_bytes(cfg)
        pad_value = c.pad_value
        if 16 in sizes:                                  # sign-extended for 16-byte elements
            pad_value = Signal(signed(128))
            m.d.comb += pad_value.eq(c.pad_value)
        for x in range(rb):
            for e in sizes:
                with m.If(eb == e):
                    el = x // e
                    byte = pad_value[8 * (x % e):8 * (x % e) + 8]
                    m.d.comb += [pattern_c[8 * x:8 * x + 8].eq(Mux(in_vector[el] & ~in_data[el], byte, 0)),
                                 pad_row_c[8 * x:8 * x + 8].eq(Mux(in_vector[el], byte, 0))]

        # -- R beats into the row buffer ----------------------------------------------------
        # `pos`, where the beat's bytes go (`off0` + the row's bytes so far; narrow: it is a
        # shift), is a register set a beat ahead. The beat that completes a data row is the
        # last beat of a burst that ends its row vector (`row_end`, from the walker): every
        # burst carries bytes of one run, and a row vector's bytes are its runs, so the row
        # ends exactly there, and no byte count is compared (timing: the 8x8 top at
        # fc6b413, `k == left` -> the row's end -> the placing queue, its room and the row
        # walker, some 300 endpoints late, -4.21 ns; before `left`, `got + k == need`)
        buf = Signal(rb * 8)
        # R beats wait in a two-entry queue whose head is a register: ``rready`` is room in
        # it (a register compare) and the row buffer takes a beat from registers, so neither
        # hangs on the other side of the bus (timing: the 4x4 top's path was the head burst
        # -> `k == left` -> rready, routed by RID at the top -> the row buffer's enable).
        # Full rate; a beat is placed one cycle after it arrives (+1 cycle per LOAD). Its
        # head is two registers, each loading while it is empty, so taking a beat reaches
        # only their flags (timing: the 8x8 top at fc6b413, the burst queue's `oldest` ->
        # the beat's take -> the head's enable, 66 flip-flops, -2.66 ns)
        rq = m.submodules.r_beats = HeadFIFO(width=len(self.axi.rdata) + 2, depth=R_SLOTS, heads=2)
        m.d.comb += [self.axi.rready.eq(rq.w_rdy), rq.w_en.eq(self.axi.rvalid),
                     rq.w_data.eq(Cat(self.axi.rdata, self.axi.rresp))]
        rdata, rresp = rq.r_data[:len(self.axi.rdata)], rq.r_data[len(self.axi.rdata):]
        k = beat_lanes.k
        pos = Signal(range(rb + 1))
        # the beat's lanes o .. o + k - 1 go to the row's bytes pos .. pos + k - 1 in one
        # shift, by pos - o (biased by bb - 1 to stay unsigned), masked by bytes computed
        # from registers alone (timing: two chained shifts, to lane 0 and then to pos, were
        # the load engine's path; the same bytes land). The shift is computed for a first
        # beat and a later one apart and then chosen, and the mask of the row's bytes,
        # ``mask << pos``, is made in stage B from the queued mask and ``pos`` (timing: the
        # 8x8 top at 02a6f20: `first` -> the lanes' offset and mask -> the shift's adder and
        # the mask's shifter -> the placing queue, 66 endpoints late)
        shift = Signal(range(rb + bb), name="beat_shift")
        m.d.comb += shift.eq(Mux(beat_lanes.first, pos + (bb - 1) - beat_lanes.head_offset, pos + (bb - 1)))

        # -- stage A takes a beat (or closes a pad row); stage B places it; stage C merges it
        # into the row. Stage A walks the rows and their bytes exactly as before and queues
        # the beat with its shift amount and byte mask (`placing`, its head `a`); stage B
        # shifts and masks the head into a register of the row's width (`st_bytes`, the
        # beat's bytes alone), so the shift starts and ends at registers (timing: the 8x8
        # top's path was the head burst -> the beat's offset -> `pos - offset` -> the shift,
        # then the shift -> the row buffer -> `out_row`); stage C ORs it into the row buffer
        # and emits a row when the item that closes it leaves. Full rate; +2 cycles per LOAD
        # against placing and merging in stage A. Stage A goes on while a transpose block
        # drains (the item that closes the next block's first row waits in stage C), so a
        # block still follows the one before without a gap.
        # Stage B is a two-entry queue whose head is a register, so stage A's room is a
        # register compare, not stage C's leaving (timing: with one register per stage the
        # ready chain ran from the row's consumer through stages C, B and A to the beat
        # handshake). Full rate; the queue is empty between commands (a command finishes
        # after its last row, and stage A takes nothing after that row is closed)
        item = data.StructLayout({"beat": len(rdata), "shift": len(shift), "mask": bb, "pos": len(pos),
                                  "row": 1, "pad": 1, "blk_end": 1})
        bq = m.submodules.placing = HeadFIFO(width=item.size, depth=2)
        a = data.View(item, bq.r_data)
        a_valid = bq.r_rdy
        placed = (a.beat << (a.shift * 8))[(bb - 1) * 8:(bb - 1) * 8 + rb * 8]
        keep = Signal(rb, name="beat_bytes")          # the row's bytes the beat fills
        m.d.comb += keep.eq(a.mask << a.pos)
        st_valid = Signal()
        st_bytes = Signal(rb * 8)
        st_row = Signal()          # the item closes a row: its last beat, or a pad row
        st_pad = Signal()          # a pad row (no bytes)
        st_blk_end = Signal()      # the row is the last of a transpose block

        # -- output rows: straight, or through the transpose block ----------------------------
        out_valid = Signal()
        out_ready = Mux(c.target, self.acc_write.ready, self.spad_write.ready)
        out_free = ~out_valid | out_ready
        out_row = Signal(rb * 8)
        block = [Signal(width * 8, name=f"block{r}") for r in range(width)]
        draining = Signal()
        r = Signal(range(width + 1))       # source rows in the block
        col = Signal(17)                   # next block column to drain
        src_done = Signal()                # every source row is closed (stage A)
        # stage A is open: RUN and a source row not yet closed (`running & ~src_done`), one
        # register set from its next value: RUN begins with `start`, which clears
        # `src_done`, and cannot end before `src_done` (timing: dma_load alone at e3d6b37,
        # `fsm_state` -> the beat's take -> `_last_next`, 13 levels; the 8x8 top,
        # `placing.w_rdy` -> the take -> the row walker's enables, -2.28 ns)
        open_a = Signal()
        emit_free = Mux(c.transpose, ~draining, out_free)

        st_go = st_valid & (~st_row | emit_free)     # stage C's item leaves this cycle
        st_room = ~st_valid | st_go
        a_go = a_valid & st_room                     # stage B's item moves to stage C
        a_room = bq.w_rdy
        emit = st_go & st_row
        row_value = Mux(st_pad, pad_row, buf | st_bytes)

        # a row is complete: a pad row at once, a data row with the beat that fills it
        # (the beat's `last & row_end`, from a register of its own: BeatLanes.ends_row_register)
        take_beat = open_a & beat_lanes.ready & data_row & a_room
        beat_taken = rq.r_rdy & take_beat
        completes = Mux(data_row, beat_lanes.ends_row_register(m, beat_taken, start), 1)
        closing = Signal()
        m.d.comb += [rq.r_en.eq(take_beat),
                     closing.eq(open_a & a_room &
                                Mux(data_row, beat_taken & completes, 1)),
                     self.moved.eq(Mux(beat_taken, beat_lanes.k_counted, 0)), rows.advance.eq(closing)]
        w = data.View(item, bq.w_data)
        m.d.comb += [bq.w_en.eq(beat_taken | closing), bq.r_en.eq(a_go),
                     w.beat.eq(rdata), w.shift.eq(shift), w.mask.eq(Mux(beat_taken, beat_lanes.mask, 0)), w.pos.eq(pos),
                     w.row.eq(closing), w.pad.eq(~data_row), w.blk_end.eq(j_end[2])]
        with m.If(st_go):
            m.d.sync += st_valid.eq(0)
        with m.If(a_go):
            m.d.sync += [st_valid.eq(1), st_row.eq(a.row), st_pad.eq(a.pad), st_blk_end.eq(a.blk_end),
                         st_bytes.eq(placed & Cat(*(keep[x].replicate(8) for x in range(rb))))]
        with m.If(beat_taken):
            m.d.sync += pos.eq(pos + k)
            beat_lanes.advance(m, pending.r_en)
            with m.If((rresp == AxiResp.SLVERR) & (err == DmaError.OK)):
                m.d.sync += err.eq(DmaError.AXI_SLVERR)
            with m.If((rresp == AxiResp.DECERR) & (err == DmaError.OK)):
                m.d.sync += err.eq(DmaError.AXI_DECERR)
        with m.If(closing):
            m.d.sync += pos.eq(off0)
            with m.If(last_src_row):
                m.d.sync += [src_done.eq(1), open_a.eq(0)]

        with m.If(st_go):
            m.d.sync += buf.eq(Mux(st_row, pattern, buf | st_bytes))
        with m.If(out_valid & out_ready):
            m.d.sync += out_valid.eq(0)
        # (while transposing, a row leaves stage C into the block when the block is not
        # draining: `emit` there, written without the output's ready, which it does not
        # depend on; timing: the 8x8 top at 02a6f20, the accumulator's ready -> `emit` ->
        # the block's enables, some 100 endpoints late)
        into_block = st_valid & st_row & ~draining
        with m.If(c.transpose):
            with m.If(into_block):
                for x in range(width):
                    with m.If(r == x):
                        m.d.sync += block[x].eq(row_value[:width * 8])
                m.d.sync += r.eq(r + 1)
                with m.If(st_blk_end):
                    m.d.sync += [draining.eq(1), col.eq(0)]
            with m.If(draining & out_free):
                m.d.sync += [out_valid.eq(1), col.eq(col + 1)]
                with m.If(col == j_last):
                    m.d.sync += [draining.eq(0), r.eq(0)]
        with m.Elif(emit):
            m.d.sync += out_valid.eq(1)
        # the output row loads whenever it is free, whether or not a row leaves into it
        # (without `out_valid` its bits mean nothing): its wide enable is `out_free`, not
        # the row's leaving from stage C (timing: the 8x8 top at 56e24bb,
        # `bursts.cmd.target` -> the target's ready -> `st_go` -> `emit` -> a 3.13 ns
        # route -> the enables of `acc_write__payload`, -0.38 ns)
        column = Cat(Mux(x < r, block[x].word_select(col[:max(1, (width - 1).bit_length())], 8), 0)
                     for x in range(width))
        with m.If(out_free):
            m.d.sync += out_row.eq(Mux(c.transpose, column, row_value))

        # row addresses: consecutive from the command's row (at most the command's on-chip
        # rows, which are at most the row limit: checked)
        emitted = Signal(range(onchip_rows_limit(cfg) + 1))
        run1, run2 = Signal(), Signal()
        m.d.sync += [run1.eq(start), run2.eq(run1)]
        with m.If(run2):                   # (stage C is empty: no item before RUN's third cycle)
            m.d.sync += buf.eq(pattern)
        with m.If(start):
            m.d.sync += [src_done.eq(0), open_a.eq(1), draining.eq(0), r.eq(0), pos.eq(off0), st_valid.eq(0)]
            beat_lanes.restart(m)
        # the written row's address, `c.row + emitted - 1`, is a register of its own: it
        # takes `c.row - 1` with `start` (the command register is set before it) and counts
        # up with `emitted`, so the write leaves from registers (timing: the 8x8 top at
        # e54d26e, `load.emitted` -> the address's carry chain -> the accumulator's
        # `s2_from_older` and its banks' write, -1.74 ns), and the accumulator's ready, by
        # way of `emitted`'s step, reaches only its select (at 401a5cf, with the address
        # made from `emitted`'s next value: `acc_write.valid` -> the carry chain, -0.25)
        grows = (c.transpose & draining & out_free) | (~c.transpose & emit)
        m.d.sync += emitted.eq(Mux(grows, emitted + 1, Mux(start, 0, emitted)))
        row_addr = Signal(max(len(self.spad_write.payload.addr), len(self.acc_write.payload.addr)),
                          name="row_addr")
        m.d.sync += row_addr.eq(Mux(grows, row_addr + 1, Mux(start, c.row - 1, row_addr)))
        m.d.comb += [self.spad_write.payload.addr.eq(row_addr), self.acc_write.payload.addr.eq(row_addr)]
        # on-chip rows: the padded sizes registered, then two stages of one multiplier each
        # (timing), so valid from RUN's third cycle; `src_done` is low before its fourth:
        # every command has a data row, done no earlier than its first R beat, which
        # follows an AR whose burst leaves the walker's register in RUN's second
        p_r = [Signal(17, name=f"padded{d}_r") for d in range(3)]
        m.d.sync += [p_r[0].eq(dec.p[0]), p_r[1].eq(dec.p[1]), p_r[2].eq(Mux(c.transpose, dec.p[3], dec.p[2]))]
        onchip_rows = product_register(m, "onchip_rows", *p_r, bound=onchip_rows_limit(cfg))
        m.d.comb += finished.eq(src_done & ~draining & ~out_valid & (emitted == onchip_rows))

        # -- element conversion to the target's row -----------------------------------------
        m.d.comb += [self.spad_write.valid.eq(out_valid & ~c.target),
                     self.spad_write.payload.mask.eq(-1),
                     self.acc_write.valid.eq(out_valid & c.target)]
        for e in range(cfg.spad_row_elems):
            m.d.comb += self.spad_write.payload.data[e].eq(out_row[8 * e:8 * e + 8])
        # int32 or native elements (8 bytes; 16 for wide FP8 sums), sign-extended or wrapped
        # to the element's bits; an FP8 element's layout {flags, sum} is that integer
        for e in range(cfg.cols):
            word = {4: out_row[32 * e:32 * e + 32].as_signed()}
            for n in (8, 16) if cfg.acc_elem_bytes == 16 else (8,):
                word[n] = out_row[8 * n * e:8 * n * (e + 1)].as_signed() if 8 * n * (e + 1) <= rb * 8 else word[4]
            value = Mux(eb == 8, word[8], word[4])
            if 16 in word:
                value = Mux(eb == 16, word[16], value)
            m.d.comb += self.acc_write.payload.data[e].eq(value)
        return m
