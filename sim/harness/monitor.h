// AXI4 + AXI4-Lite protocol monitor, independent of the design and of Verilator.
//
// It sees one sample per clock cycle: every signal of the AXI4 manager port (the design is
// the manager, the DRAM model the subordinate) and of the AXI4-Lite port (the host model is
// the manager, the design the subordinate), as settled just before the rising edge that
// ends the cycle. A handshake (VALID and READY both high) in a sample completes at that edge.
//
// Rules (names are shared with sim/axi_rules.py, which implements the same checks):
//   <CH>_STABLE      a VALID dropped, or its payload changed, before READY (every channel
//                    of both ports; AXI4 AR/AW/W and AXI4-Lite B/R bind the design, the
//                    rest bind our models)
//   RESET_VALID      a VALID high while reset is high or in the first cycle after it
//   AR/AW_BURST      reserved AxBURST, more than 256 beats, FIXED over 16 beats, WRAP not
//                    2/4/8/16 beats or not aligned to AxSIZE
//   AR/AW_SIZE       2^AxSIZE larger than the data bus
//   AR/AW_4K         an INCR burst's addressed bytes cross a 4 KiB boundary
//   AR/AW_WINDOW     the burst's first addressed byte is below the window's lo, or its
//                    addressed bytes end past hi rounded up to 2^AxSIZE (a beat cannot be
//                    narrower than its container)
//   W_WINDOW         a W beat strobes a byte outside [lo, hi)
//   W_STRB           a W beat strobes a byte lane outside the beat's addressed bytes
//   W_LAST           WLAST high on a beat other than the burst's last (AWLEN+1-th), or low
//                    on the last (W beats are matched to AWs in order; W may come first)
//   W_EARLY          more than 4096 W beats ahead of their AW (the monitor gives up)
//   AR/AW_OUTSTANDING more bursts of one ID in flight (AR..last R, AW..B) than declared
//   R_UNEXPECTED     an R beat for an ID with no read in flight (the model's own bug)
//   R_LAST           RLAST wrong for the beat count of the oldest read of that ID
//   B_UNEXPECTED     a B for an ID with no write whose AW and all W beats were taken
//   L_B_UNEXPECTED   AXI4-Lite: a B with no write whose AW and W were both taken
//   L_R_UNEXPECTED   AXI4-Lite: an R with no AR taken
#pragma once

#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "axi_common.h"

namespace axi {

static const int MAX_BUS_BYTES = 64;

struct Axi4Sample {
    // AW
    uint8_t awvalid = 0, awready = 0;
    uint32_t awid = 0, awlen = 0, awsize = 0, awburst = 0, awprot = 0, awcache = 0, awlock = 0;
    uint64_t awaddr = 0;
    // W
    uint8_t wvalid = 0, wready = 0, wlast = 0;
    uint64_t wstrb = 0;
    uint8_t wdata[MAX_BUS_BYTES] = {};
    // B
    uint8_t bvalid = 0, bready = 0;
    uint32_t bid = 0, bresp = 0;
    // AR
    uint8_t arvalid = 0, arready = 0;
    uint32_t arid = 0, arlen = 0, arsize = 0, arburst = 0, arprot = 0, arcache = 0, arlock = 0;
    uint64_t araddr = 0;
    // R
    uint8_t rvalid = 0, rready = 0, rlast = 0;
    uint32_t rid = 0, rresp = 0;
    uint8_t rdata[MAX_BUS_BYTES] = {};
};

struct LiteSample {
    uint8_t awvalid = 0, awready = 0, wvalid = 0, wready = 0, bvalid = 0, bready = 0;
    uint8_t arvalid = 0, arready = 0, rvalid = 0, rready = 0;
    uint32_t awaddr = 0, awprot = 0, wdata = 0, wstrb = 0, bresp = 0;
    uint32_t araddr = 0, arprot = 0, rdata = 0, rresp = 0;
};

struct Violation {
    uint64_t cycle;
    std::string channel, rule, detail;
};

struct BurstLog {         // an accepted AR or AW
    char channel;         // 'R' or 'W'
    Request req;
    uint64_t cycle;
};

struct IdStats {
    uint64_t ar = 0, r = 0, aw = 0, w = 0, wstrb_bytes = 0, b = 0;
    uint64_t r_resp[4] = {}, b_resp[4] = {};
};

class Monitor {
public:
    explicit Monitor(uint32_t bus_bytes) : bb_(bus_bytes) {}

    // -- configuration (kept across reset) ----------------------------------------------
    uint32_t max_violations = 20;
    bool log_bursts = false;
    std::map<uint32_t, uint64_t> read_limit, write_limit;   // ID -> bursts in flight allowed

    void set_window(uint64_t lo, uint64_t hi) { win_on_ = true; win_lo_ = lo; win_hi_ = hi; }
    void clear_window() { win_on_ = false; }

    // -- results ----------------------------------------------------------------------
    std::vector<Violation> violations;
    uint64_t violation_count = 0;
    std::map<uint32_t, IdStats> stats;
    std::vector<BurstLog> bursts;
    uint64_t first_request_cycle = UINT64_MAX, last_response_cycle = UINT64_MAX;

    // Everything but the configuration (a new case).
    void clear() {
        violations.clear();
        violation_count = 0;
        stats.clear();
        bursts.clear();
        first_request_cycle = last_response_cycle = UINT64_MAX;
        reset_state();
    }

    // Protocol state back to "nothing in flight" (the design was reset).
    void reset_state() {
        prev4_ = Axi4Sample();
        prevl_ = LiteSample();
        rd_.clear();
        wr_ = std::deque<WriteBurst>();
        early_.clear();
        reads_in_flight_.clear();
        writes_in_flight_.clear();
        writes_complete_.clear();
        lite_writes_aw_ = lite_writes_w_ = lite_b_ = lite_ar_ = lite_r_ = 0;
        prev_lite_aw_ = prev_lite_w_ = prev_lite_ar_ = 0;
        after_reset_ = true;
    }

    void fail(uint64_t cycle, const char* channel, const char* rule, const std::string& detail) {
        ++violation_count;
        if (violations.size() < max_violations) violations.push_back({cycle, channel, rule, detail});
    }

    // One cycle: s (AXI4) and l (AXI4-Lite) as settled before the edge; rst the reset input.
    void check(uint64_t cycle, bool rst, const Axi4Sample& s, const LiteSample& l) {
        if (rst || after_reset_) {
            check_reset(cycle, s, l);
            if (rst) {
                reset_state();
                return;
            }
            after_reset_ = false;
        }
        check_stable4(cycle, s);
        check_stable_lite(cycle, l);
        // responses first: a response in the same cycle as its request is unexpected
        if (s.rvalid && s.rready) on_r(cycle, s);
        if (s.bvalid && s.bready) on_b(cycle, s);
        if (s.arvalid && s.arready) on_ar(cycle, s);
        if (s.awvalid && s.awready) on_aw(cycle, s);
        if (s.wvalid && s.wready) on_w(cycle, s);
        on_lite(cycle, l);
        prev4_ = s;
        prevl_ = l;
    }

private:
    struct ReadBurst { Request req; uint32_t beat; };
    struct WriteBurst { Request req; uint32_t beat; };
    struct EarlyBeat { uint64_t strb; uint8_t last; uint64_t cycle; };

    uint32_t bb_;
    bool win_on_ = false;
    uint64_t win_lo_ = 0, win_hi_ = 0;
    Axi4Sample prev4_;
    LiteSample prevl_;
    bool after_reset_ = true;
    std::map<uint32_t, std::deque<ReadBurst>> rd_;     // per ID, in AR order
    std::deque<WriteBurst> wr_;                        // AWs still waiting for W beats
    std::deque<EarlyBeat> early_;                      // W beats before their AW
    std::map<uint32_t, uint64_t> reads_in_flight_, writes_in_flight_, writes_complete_;
    uint64_t lite_writes_aw_ = 0, lite_writes_w_ = 0, lite_b_ = 0, lite_ar_ = 0, lite_r_ = 0;
    uint64_t prev_lite_aw_ = 0, prev_lite_w_ = 0, prev_lite_ar_ = 0;

    static std::string hex(uint64_t v) {
        char buf[32];
        snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)v);
        return buf;
    }

    void check_reset(uint64_t cycle, const Axi4Sample& s, const LiteSample& l) {
        const char* names[] = {"AR", "AW", "W", "R", "B", "L_AR", "L_AW", "L_W", "L_R", "L_B"};
        const uint8_t valids[] = {s.arvalid, s.awvalid, s.wvalid, s.rvalid, s.bvalid,
                                  l.arvalid, l.awvalid, l.wvalid, l.rvalid, l.bvalid};
        for (int i = 0; i < 10; ++i)
            if (valids[i]) fail(cycle, names[i], "RESET_VALID", std::string(names[i]) + " VALID high during or right after reset");
    }

    // -- VALID/payload stability ---------------------------------------------------------
    template <class T>
    void stable(uint64_t cycle, const char* ch, const char* rule, bool pvalid, bool pready, bool valid,
                const T& now, const T& before) {
        if (!pvalid || pready) return;
        if (!valid) fail(cycle, ch, rule, std::string(ch) + "VALID dropped before " + ch + "READY");
        else if (!(now == before)) fail(cycle, ch, rule, std::string(ch) + " payload changed before " + ch + "READY");
    }

    struct AxKey {
        uint32_t id, len, size, burst, prot, cache, lock;
        uint64_t addr;
        bool operator==(const AxKey& o) const {
            return id == o.id && len == o.len && size == o.size && burst == o.burst && prot == o.prot &&
                   cache == o.cache && lock == o.lock && addr == o.addr;
        }
    };
    static AxKey ar_key(const Axi4Sample& s) { return {s.arid, s.arlen, s.arsize, s.arburst, s.arprot, s.arcache, s.arlock, s.araddr}; }
    static AxKey aw_key(const Axi4Sample& s) { return {s.awid, s.awlen, s.awsize, s.awburst, s.awprot, s.awcache, s.awlock, s.awaddr}; }
    struct Bytes {
        const uint8_t* p; uint32_t n; uint64_t a, b, c;   // data plus up to three small fields
        bool operator==(const Bytes& o) const { return a == o.a && b == o.b && c == o.c && !memcmp(p, o.p, n); }
    };
    template <class T>
    struct Plain {
        T v;
        bool operator==(const Plain& o) const { return v == o.v; }
    };

    void check_stable4(uint64_t cycle, const Axi4Sample& s) {
        const Axi4Sample& p = prev4_;
        stable(cycle, "AR", "AR_STABLE", p.arvalid, p.arready, s.arvalid, ar_key(s), ar_key(p));
        stable(cycle, "AW", "AW_STABLE", p.awvalid, p.awready, s.awvalid, aw_key(s), aw_key(p));
        stable(cycle, "W", "W_STABLE", p.wvalid, p.wready, s.wvalid, Bytes{s.wdata, bb_, s.wstrb, s.wlast, 0},
               Bytes{p.wdata, bb_, p.wstrb, p.wlast, 0});
        stable(cycle, "R", "R_STABLE", p.rvalid, p.rready, s.rvalid, Bytes{s.rdata, bb_, s.rid, s.rresp, s.rlast},
               Bytes{p.rdata, bb_, p.rid, p.rresp, p.rlast});
        stable(cycle, "B", "B_STABLE", p.bvalid, p.bready, s.bvalid, Plain<uint64_t>{((uint64_t)s.bid << 8) | s.bresp},
               Plain<uint64_t>{((uint64_t)p.bid << 8) | p.bresp});
    }

    void check_stable_lite(uint64_t cycle, const LiteSample& l) {
        const LiteSample& p = prevl_;
        auto k2 = [](uint32_t a, uint32_t b) { return Plain<uint64_t>{((uint64_t)a << 32) | b}; };
        stable(cycle, "L_AW", "L_AW_STABLE", p.awvalid, p.awready, l.awvalid, k2(l.awaddr, l.awprot), k2(p.awaddr, p.awprot));
        stable(cycle, "L_W", "L_W_STABLE", p.wvalid, p.wready, l.wvalid, k2(l.wdata, l.wstrb), k2(p.wdata, p.wstrb));
        stable(cycle, "L_B", "L_B_STABLE", p.bvalid, p.bready, l.bvalid, k2(0, l.bresp), k2(0, p.bresp));
        stable(cycle, "L_AR", "L_AR_STABLE", p.arvalid, p.arready, l.arvalid, k2(l.araddr, l.arprot), k2(p.araddr, p.arprot));
        stable(cycle, "L_R", "L_R_STABLE", p.rvalid, p.rready, l.rvalid, k2(l.rdata, l.rresp), k2(p.rdata, p.rresp));
    }

    // -- requests ------------------------------------------------------------------------
    void check_request(uint64_t cycle, const char* ch, const Request& r, uint32_t len_field) {
        std::string c(ch);
        const uint64_t nb = 1ull << r.size;
        if (r.burst > WRAP) fail(cycle, ch, (c + "_BURST").c_str(), "reserved AxBURST " + std::to_string(r.burst));
        else if (len_field > 255) fail(cycle, ch, (c + "_BURST").c_str(), std::to_string(r.beats) + " beats: over 256");
        else if (r.burst == FIXED && r.beats > 16) fail(cycle, ch, (c + "_BURST").c_str(), "FIXED burst of " + std::to_string(r.beats) + " beats: over 16");
        else if (r.burst == WRAP && (r.beats != 2 && r.beats != 4 && r.beats != 8 && r.beats != 16))
            fail(cycle, ch, (c + "_BURST").c_str(), "WRAP burst of " + std::to_string(r.beats) + " beats: not 2, 4, 8 or 16");
        else if (r.burst == WRAP && (r.addr & (nb - 1))) fail(cycle, ch, (c + "_BURST").c_str(), "WRAP burst at unaligned " + hex(r.addr));
        if (nb > bb_) fail(cycle, ch, (c + "_SIZE").c_str(), "AxSIZE " + std::to_string(r.size) + " (" + std::to_string(nb) + " bytes) > bus " + std::to_string(bb_));
        if (r.burst == INCR && nb <= bb_) {
            uint64_t lo, hi;
            burst_bytes(r, lo, hi);
            if ((lo >> 12) != ((hi - 1) >> 12))
                fail(cycle, ch, (c + "_4K").c_str(), "INCR burst " + hex(r.addr) + " x" + std::to_string(r.beats) + " crosses a 4 KiB boundary");
        }
        if (win_on_ && r.burst <= WRAP && nb <= bb_) {
            uint64_t lo, hi;
            burst_bytes(r, lo, hi);
            const uint64_t whi = (win_hi_ + nb - 1) & ~(nb - 1);
            if (lo < win_lo_ || hi > whi || win_hi_ <= win_lo_)
                fail(cycle, ch, (c + "_WINDOW").c_str(), "burst bytes [" + hex(lo) + ", " + hex(hi) + ") outside window [" +
                     hex(win_lo_) + ", " + hex(win_hi_) + ")");
        }
    }

    void in_flight(uint64_t cycle, const char* ch, const char* rule, std::map<uint32_t, uint64_t>& count,
                   const std::map<uint32_t, uint64_t>& limit, uint32_t id) {
        uint64_t n = ++count[id];
        auto it = limit.find(id);
        if (it != limit.end() && n > it->second)
            fail(cycle, ch, rule, std::to_string(n) + " bursts of ID " + std::to_string(id) + " in flight, declared " +
                 std::to_string(it->second));
    }

    void note_request(uint64_t cycle) {
        if (first_request_cycle == UINT64_MAX) first_request_cycle = cycle;
    }

    void on_ar(uint64_t cycle, const Axi4Sample& s) {
        Request r{s.arid, s.araddr, s.arlen + 1, s.arsize, s.arburst};
        check_request(cycle, "AR", r, s.arlen);
        in_flight(cycle, "AR", "AR_OUTSTANDING", reads_in_flight_, read_limit, s.arid);
        rd_[s.arid].push_back({r, 0});
        ++stats[s.arid].ar;
        note_request(cycle);
        if (log_bursts) bursts.push_back({'R', r, cycle});
    }

    void on_r(uint64_t cycle, const Axi4Sample& s) {
        IdStats& st = stats[s.rid];
        ++st.r;
        ++st.r_resp[s.rresp & 3];
        last_response_cycle = cycle;
        auto it = rd_.find(s.rid);
        if (it == rd_.end() || it->second.empty()) {
            fail(cycle, "R", "R_UNEXPECTED", "R beat for ID " + std::to_string(s.rid) + " with no read in flight");
            return;
        }
        ReadBurst& b = it->second.front();
        const bool last = b.beat + 1 == b.req.beats;
        if (!!s.rlast != last)
            fail(cycle, "R", "R_LAST", "RLAST=" + std::to_string(s.rlast) + " on beat " + std::to_string(b.beat + 1) + " of " +
                 std::to_string(b.req.beats));
        if (last) {
            it->second.pop_front();
            --reads_in_flight_[s.rid];
        } else {
            ++b.beat;
        }
    }

    void on_aw(uint64_t cycle, const Axi4Sample& s) {
        Request r{s.awid, s.awaddr, s.awlen + 1, s.awsize, s.awburst};
        check_request(cycle, "AW", r, s.awlen);
        in_flight(cycle, "AW", "AW_OUTSTANDING", writes_in_flight_, write_limit, s.awid);
        wr_.push_back({r, 0});
        ++stats[s.awid].aw;
        note_request(cycle);
        if (log_bursts) bursts.push_back({'W', r, cycle});
        while (!early_.empty() && !wr_.empty()) {      // W beats that came before this AW
            EarlyBeat e = early_.front();
            early_.pop_front();
            w_beat(e.cycle, e.strb, e.last);
        }
    }

    void on_w(uint64_t cycle, const Axi4Sample& s) {
        if (wr_.empty()) {
            if (early_.size() >= 4096) fail(cycle, "W", "W_EARLY", "over 4096 W beats ahead of their AW");
            else early_.push_back({s.wstrb, s.wlast, cycle});
            return;
        }
        w_beat(cycle, s.wstrb, s.wlast);
    }

    void w_beat(uint64_t cycle, uint64_t strb, uint8_t wlast) {
        WriteBurst& b = wr_.front();
        IdStats& st = stats[b.req.id];
        ++st.w;
        st.wstrb_bytes += __builtin_popcountll(strb);
        const bool last = b.beat + 1 == b.req.beats;
        if (!!wlast != last)
            fail(cycle, "W", "W_LAST", "WLAST=" + std::to_string(wlast) + " on beat " + std::to_string(b.beat + 1) + " of " +
                 std::to_string(b.req.beats) + " (AW " + hex(b.req.addr) + ")");
        if ((1ull << b.req.size) <= bb_) {
            uint64_t lo, hi;
            beat_bytes(b.req, b.beat, lo, hi);
            const uint64_t allowed = lane_mask(lo, hi, bb_);
            if (strb & ~allowed)
                fail(cycle, "W", "W_STRB", "WSTRB " + hex(strb) + " outside lanes " + hex(allowed) + " of beat " +
                     std::to_string(b.beat + 1) + " at " + hex(lo));
            if (win_on_ && strb) {
                const uint64_t word = lo - lo % bb_;
                const uint64_t first = word + __builtin_ctzll(strb);
                const uint64_t end = word + 64 - __builtin_clzll(strb);
                if (first < win_lo_ || end > win_hi_)
                    fail(cycle, "W", "W_WINDOW", "strobed bytes [" + hex(first) + ", " + hex(end) + ") outside window [" +
                         hex(win_lo_) + ", " + hex(win_hi_) + ")");
            }
        }
        if (last) {
            ++writes_complete_[b.req.id];
            wr_.pop_front();
        } else {
            ++b.beat;
        }
    }

    void on_b(uint64_t cycle, const Axi4Sample& s) {
        IdStats& st = stats[s.bid];
        ++st.b;
        ++st.b_resp[s.bresp & 3];
        last_response_cycle = cycle;
        uint64_t& done = writes_complete_[s.bid];
        if (!done) {
            fail(cycle, "B", "B_UNEXPECTED", "B for ID " + std::to_string(s.bid) + " with no complete write in flight");
            return;
        }
        --done;
        --writes_in_flight_[s.bid];
    }

    void on_lite(uint64_t cycle, const LiteSample& l) {
        if (l.awvalid && l.awready) ++lite_writes_aw_;
        if (l.wvalid && l.wready) ++lite_writes_w_;
        if (l.arvalid && l.arready) ++lite_ar_;
        // a response may come in the cycle after both handshakes at the earliest
        if (l.bvalid && l.bready) {
            const uint64_t complete = std::min(prev_lite_aw_, prev_lite_w_);
            if (lite_b_ >= complete) fail(cycle, "L_B", "L_B_UNEXPECTED", "AXI4-Lite B with no write (AW and W) taken");
            else ++lite_b_;
        }
        if (l.rvalid && l.rready) {
            if (lite_r_ >= prev_lite_ar_) fail(cycle, "L_R", "L_R_UNEXPECTED", "AXI4-Lite R with no AR taken");
            else ++lite_r_;
        }
        prev_lite_aw_ = lite_writes_aw_;
        prev_lite_w_ = lite_writes_w_;
        prev_lite_ar_ = lite_ar_;
    }
};

}  // namespace axi
