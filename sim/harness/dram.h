// DRAM model: an AXI4 subordinate over a byte array (see sim/native.py for the contract).
//
// Cycle protocol: prepare(c) sets this cycle's outputs (READYs, the R and B beats offered)
// from the model's state only; edge(c, sample) takes the handshakes of cycle c.
//
// - Memory: bytes [0, size); a bus word reaching past size answers DECERR.
// - AR/AW accepted while fewer than read_capacity reads (AR taken, last R not yet) and
//   write_capacity writes (AW taken, B not yet) are in flight; W beats are buffered
//   (w_buffer beats) and may come before their AW.
// - R: a burst's first beat is offered read_latency (>= 1) cycles after its AR handshake
//   at the earliest (plus 0..read_jitter cycles, seeded), then one beat per cycle. Per ID in
//   AR order; between IDs oldest first, or (reorder) a random ready ID per beat, so bursts
//   of different IDs interleave.
// - B: offered write_latency (>= 1) cycles after the later of the AW and the last W beat;
//   per ID in order; between IDs oldest first or random (reorder).
// - Stalls: every cycle ARREADY, AWREADY, WREADY are low with their own probability; an R
//   or B that could be offered is held back with its own probability. One xorshift64*
//   stream seeded per case.
// - Faults: a read beat whose bus word overlaps a fault range answers its response with
//   zero data; a write beat whose strobed span (first to last strobed byte) overlaps a
//   fault range writes nothing, and the burst's B answers the worst response of its beats
//   (DECERR over SLVERR over OKAY). Bytes at or past size behave as a DECERR range.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "axi_common.h"
#include "monitor.h"

namespace axi {

struct Fault {
    uint64_t lo, hi;
    uint32_t resp;
};

struct DramConfig {
    uint64_t size = 0;
    uint32_t read_latency = 2, write_latency = 2, read_jitter = 0;
    uint32_t read_capacity = 16, write_capacity = 16, w_buffer = 16;
    double stall_aw = 0, stall_w = 0, stall_b = 0, stall_ar = 0, stall_r = 0;
    bool reorder = false;
    uint64_t seed = 1;
    std::vector<Fault> faults;
};

class Dram {
public:
    explicit Dram(uint32_t bus_bytes) : bb_(bus_bytes) {}

    std::vector<uint8_t> mem;     // size rounded up to a bus word; bytes >= size_ are DECERR

    // outputs of this cycle (inputs of the design)
    uint8_t awready = 0, wready = 0, arready = 0;
    uint8_t rvalid = 0, rlast = 0, bvalid = 0;
    uint32_t rid = 0, rresp = 0, bid = 0, bresp = 0;
    uint8_t rdata[MAX_BUS_BYTES] = {};

    void configure(const DramConfig& c) {
        cfg_ = c;
        size_ = c.size;
        mem.assign((size_ + bb_ - 1) / bb_ * bb_, 0);
        t_aw_ = Rng::threshold(c.stall_aw);
        t_w_ = Rng::threshold(c.stall_w);
        t_b_ = Rng::threshold(c.stall_b);
        t_ar_ = Rng::threshold(c.stall_ar);
        t_r_ = Rng::threshold(c.stall_r);
        reads_.reserve(c.read_capacity + 1);
        writes_.reserve(c.write_capacity + 1);
        bq_.reserve(c.write_capacity + 1);
        wfifo_.assign(c.w_buffer ? c.w_buffer : 1, WBeat());
        reset();
    }

    // Drop everything in flight (the design is being reset); memory stays.
    void reset() {
        rng_ = Rng(cfg_.seed);
        reads_.clear();
        writes_.clear();
        bq_.clear();
        w_head_ = w_count_ = 0;
        writes_in_flight_ = 0;
        awready = wready = arready = rvalid = bvalid = rlast = 0;
    }

    // Outputs of cycle c (hold = in reset: everything low).
    void prepare(uint64_t c, bool hold) {
        if (hold) {
            awready = wready = arready = rvalid = bvalid = 0;
            return;
        }
        arready = reads_.size() < cfg_.read_capacity && !rng_.chance(t_ar_);
        awready = writes_in_flight_ < cfg_.write_capacity && !rng_.chance(t_aw_);
        wready = w_count_ < wfifo_.size() && !rng_.chance(t_w_);
        if (!rvalid) offer_r(c);
        if (!bvalid) offer_b(c);
    }

    // Handshakes of cycle c.
    void edge(uint64_t c, const Axi4Sample& s) {
        if (rvalid && s.rready) take_r();
        if (bvalid && s.bready) take_b();
        if (arready && s.arvalid) {
            uint32_t jitter = cfg_.read_jitter ? (uint32_t)(rng_.next() % (cfg_.read_jitter + 1)) : 0;
            reads_.push_back({{s.arid, s.araddr, s.arlen + 1, s.arsize, s.arburst}, 0, c + cfg_.read_latency + jitter});
        }
        if (awready && s.awvalid) {
            writes_.push_back({{s.awid, s.awaddr, s.awlen + 1, s.awsize, s.awburst}, 0, OKAY});
            ++writes_in_flight_;
        }
        if (wready && s.wvalid) {
            WBeat& w = wfifo_[(w_head_ + w_count_) % wfifo_.size()];
            memcpy(w.data, s.wdata, bb_);
            w.strb = s.wstrb;
            ++w_count_;
        }
        while (w_count_ && !writes_.empty()) apply_w(c);
    }

private:
    struct ReadBurst { Request req; uint32_t beat; uint64_t ready; };
    struct WriteBurst { Request req; uint32_t beat; uint32_t resp; };
    struct BResp { uint32_t id, resp; uint64_t ready; };
    struct WBeat { uint8_t data[MAX_BUS_BYTES]; uint64_t strb; };

    uint32_t bb_;
    DramConfig cfg_;
    uint64_t size_ = 0;
    Rng rng_{1};
    uint64_t t_aw_ = 0, t_w_ = 0, t_b_ = 0, t_ar_ = 0, t_r_ = 0;
    std::vector<ReadBurst> reads_;      // in AR order
    std::vector<WriteBurst> writes_;    // AWs still waiting for W beats, in order
    std::vector<BResp> bq_;             // B responses not yet taken, in order
    std::vector<WBeat> wfifo_;
    size_t w_head_ = 0, w_count_ = 0;
    uint32_t writes_in_flight_ = 0;

    // Worst response of bytes [lo, hi).
    uint32_t fault(uint64_t lo, uint64_t hi) const {
        uint32_t r = hi > size_ ? DECERR : OKAY;
        for (const Fault& f : cfg_.faults)
            if (f.lo < hi && lo < f.hi) r = worse(r, f.resp);
        return r;
    }

    // Index of the entry to serve: the oldest whose ready cycle has come, or (reorder) a
    // random one among the oldest entry of each ID whose ready cycle has come.
    template <class V>
    int pick(const V& q, uint64_t c) {
        if (q.empty()) return -1;
        if (!cfg_.reorder) return q[0].ready <= c ? 0 : -1;
        int cand[16], n = 0;
        uint64_t seen = 0;   // IDs < 64 seen so far
        for (size_t i = 0; i < q.size() && n < 16; ++i) {
            uint32_t id = id_of(q[i]);
            uint64_t bit = 1ull << (id & 63);
            if (seen & bit) continue;
            seen |= bit;
            if (q[i].ready <= c) cand[n++] = (int)i;
        }
        if (!n) return -1;
        return cand[n == 1 ? 0 : rng_.next() % n];
    }
    static uint32_t id_of(const ReadBurst& r) { return r.req.id; }
    static uint32_t id_of(const BResp& b) { return b.id; }

    void offer_r(uint64_t c) {
        int i = pick(reads_, c);
        if (i < 0 || rng_.chance(t_r_)) return;
        // a burst already started keeps its place: serve that ID's oldest burst
        const ReadBurst& b = reads_[i];
        uint64_t lo, hi;
        beat_bytes(b.req, b.beat, lo, hi);
        const uint64_t word = lo - lo % bb_;
        rresp = fault(word, word + bb_);
        if (rresp == OKAY) memcpy(rdata, &mem[word], bb_);
        else memset(rdata, 0, bb_);
        rid = b.req.id;
        rlast = b.beat + 1 == b.req.beats;
        rvalid = 1;
    }

    void take_r() {
        rvalid = 0;
        for (size_t i = 0; i < reads_.size(); ++i) {
            if (reads_[i].req.id != rid) continue;
            if (++reads_[i].beat == reads_[i].req.beats) reads_.erase(reads_.begin() + i);
            return;
        }
    }

    void offer_b(uint64_t c) {
        int i = pick(bq_, c);
        if (i < 0 || rng_.chance(t_b_)) return;
        bid = bq_[i].id;
        bresp = bq_[i].resp;
        bvalid = 1;
    }

    void take_b() {
        bvalid = 0;
        for (size_t i = 0; i < bq_.size(); ++i) {
            if (bq_[i].id != bid) continue;
            bq_.erase(bq_.begin() + i);
            --writes_in_flight_;
            return;
        }
    }

    void apply_w(uint64_t c) {
        WBeat& w = wfifo_[w_head_];
        WriteBurst& b = writes_.front();
        uint64_t lo, hi;
        beat_bytes(b.req, b.beat, lo, hi);
        const uint64_t word = lo - lo % bb_;
        const uint64_t strb = (1ull << b.req.size) <= bb_ ? w.strb & lane_mask(lo, hi, bb_) : 0;
        if (strb) {
            const uint64_t first = word + __builtin_ctzll(strb), end = word + 64 - __builtin_clzll(strb);
            const uint32_t r = fault(first, end);
            if (r == OKAY) {
                for (uint32_t k = 0; k < bb_; ++k)
                    if (strb >> k & 1) mem[word + k] = w.data[k];
            }
            b.resp = worse(b.resp, r);
        }
        w_head_ = (w_head_ + 1) % wfifo_.size();
        --w_count_;
        if (++b.beat == b.req.beats) {
            bq_.push_back({b.req.id, b.resp, c + cfg_.write_latency});
            writes_.erase(writes_.begin());
        }
    }
};

}  // namespace axi
