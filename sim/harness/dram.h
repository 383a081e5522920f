// DRAM models: AXI4 subordinates over a byte array (the contract is documented in
// sim/native.py). Two timings share the memory and its faults:
//
// QueueDram ("queues", the general model):
// - AR/AW accepted while fewer than read_capacity reads (AR taken, last R not yet) and
//   write_capacity writes (AW taken, B not yet) are in flight; W beats are buffered
//   (w_buffer beats) and may come before their AW.
// - R: a burst's first beat is offered read_latency (>= 1) cycles after its AR handshake
//   at the earliest (plus 0..read_jitter cycles, seeded), then one beat per cycle. Per ID in
//   AR order; between IDs oldest first, or (reorder) a random ready ID per beat, so bursts
//   of different IDs interleave.
// - B: offered write_latency (>= 1) cycles after the later of the AW and the last W beat;
//   per ID in order; between IDs oldest first or random (reorder).
// AxiRamDram ("axiram", dram_axiram.h): cocotbext-axi AxiRam's timing.
//
// Both: every cycle ARREADY, AWREADY, WREADY are low with their own probability; an R or B
// that could be offered is held back with its own probability (one xorshift64* stream
// seeded per case). A read beat whose bus word overlaps a fault range answers its
// response with zero data; a write beat whose strobed span (first to last strobed byte)
// overlaps a fault range writes nothing, and the burst's B answers the worst response of
// its beats (DECERR over SLVERR over OKAY). Bytes at or past size behave as a DECERR range.
//
// Cycle protocol: prepare(c) sets this cycle's outputs from the model's state only;
// edge(c, sample) takes the handshakes of cycle c (the rising edge that ends it).
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
    bool axiram = false;          // AxiRam timing instead of the queues
    uint64_t size = 0;
    uint32_t read_latency = 2, write_latency = 2, read_jitter = 0;
    uint32_t read_capacity = 16, write_capacity = 16, w_buffer = 16;
    double stall_aw = 0, stall_w = 0, stall_b = 0, stall_ar = 0, stall_r = 0;
    bool reorder = false;
    uint64_t seed = 1;
    std::vector<Fault> faults;
};

// The memory, its faults, the outputs and the stall draws common to both timings.
class DramModel {
public:
    explicit DramModel(uint32_t bus_bytes) : bb_(bus_bytes) {}
    virtual ~DramModel() = default;

    std::vector<uint8_t> mem;     // size rounded up to a bus word; bytes >= size are DECERR

    // outputs of this cycle (inputs of the design)
    uint8_t awready = 0, wready = 0, arready = 0;
    uint8_t rvalid = 0, rlast = 0, bvalid = 0;
    uint32_t rid = 0, rresp = 0, bid = 0, bresp = 0;
    uint8_t rdata[MAX_BUS_BYTES] = {};

    // A new case: settings, memory of c.size zero bytes, nothing in flight.
    virtual void configure(const DramConfig& c) {
        cfg_ = c;
        size_ = c.size;
        mem.assign((size_ + bb_ - 1) / bb_ * bb_, 0);
        t_aw_ = Rng::threshold(c.stall_aw);
        t_w_ = Rng::threshold(c.stall_w);
        t_b_ = Rng::threshold(c.stall_b);
        t_ar_ = Rng::threshold(c.stall_ar);
        t_r_ = Rng::threshold(c.stall_r);
        reset();
    }
    // Drop everything in flight (the design is being reset); memory stays.
    virtual void reset() = 0;
    // Outputs of cycle c (hold: in reset, everything low).
    virtual void prepare(uint64_t c, bool hold) = 0;
    // Handshakes of cycle c.
    virtual void edge(uint64_t c, const Axi4Sample& s) = 0;

protected:
    uint32_t bb_;
    DramConfig cfg_;
    uint64_t size_ = 0;
    Rng rng_{1};
    uint64_t t_aw_ = 0, t_w_ = 0, t_b_ = 0, t_ar_ = 0, t_r_ = 0;

    // Worst response of bytes [lo, hi).
    uint32_t fault(uint64_t lo, uint64_t hi) const {
        uint32_t r = hi > size_ ? DECERR : OKAY;
        for (const Fault& f : cfg_.faults)
            if (f.lo < hi && lo < f.hi) r = worse(r, f.resp);
        return r;
    }

    // The bus word of beat n of req into data (zero on an error); its response.
    uint32_t read_beat(const Request& req, uint32_t n, uint8_t* data) const {
        uint64_t lo, hi;
        beat_bytes(req, n, lo, hi);
        const uint64_t word = lo - lo % bb_;
        const uint32_t resp = fault(word, word + bb_);
        if (resp == OKAY) memcpy(data, &mem[word], bb_);
        else memset(data, 0, bb_);
        return resp;
    }

    // Beat n of req: its strobed bytes written unless their span hits a fault; its response.
    uint32_t write_beat(const Request& req, uint32_t n, const uint8_t* data, uint64_t wstrb) {
        uint64_t lo, hi;
        beat_bytes(req, n, lo, hi);
        const uint64_t word = lo - lo % bb_;
        const uint64_t strb = (1ull << req.size) <= bb_ ? wstrb & lane_mask(lo, hi, bb_) : 0;
        if (!strb) return OKAY;
        const uint64_t first = word + __builtin_ctzll(strb), end = word + 64 - __builtin_clzll(strb);
        const uint32_t r = fault(first, end);
        if (r == OKAY)
            for (uint32_t k = 0; k < bb_; ++k)
                if (strb >> k & 1) mem[word + k] = data[k];
        return r;
    }

    static Request request_ar(const Axi4Sample& s) { return {s.arid, s.araddr, s.arlen + 1, s.arsize, s.arburst}; }
    static Request request_aw(const Axi4Sample& s) { return {s.awid, s.awaddr, s.awlen + 1, s.awsize, s.awburst}; }
};

// The general model (see the file comment).
class QueueDram : public DramModel {
public:
    explicit QueueDram(uint32_t bus_bytes) : DramModel(bus_bytes) {}

    void configure(const DramConfig& c) override {
        reads_.reserve(c.read_capacity + 1);
        writes_.reserve(c.write_capacity + 1);
        bq_.reserve(c.write_capacity + 1);
        wfifo_.assign(c.w_buffer ? c.w_buffer : 1, WBeat());
        DramModel::configure(c);
    }

    void reset() override {
        rng_ = Rng(cfg_.seed);
        reads_.clear();
        writes_.clear();
        bq_.clear();
        w_head_ = w_count_ = 0;
        writes_in_flight_ = 0;
        awready = wready = arready = rvalid = bvalid = rlast = 0;
    }

    void prepare(uint64_t c, bool hold) override {
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

    void edge(uint64_t c, const Axi4Sample& s) override {
        if (rvalid && s.rready) take_r();
        if (bvalid && s.bready) take_b();
        if (arready && s.arvalid) {
            uint32_t jitter = cfg_.read_jitter ? (uint32_t)(rng_.next() % (cfg_.read_jitter + 1)) : 0;
            reads_.push_back({request_ar(s), 0, c + cfg_.read_latency + jitter});
        }
        if (awready && s.awvalid) {
            writes_.push_back({request_aw(s), 0, OKAY});
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

    std::vector<ReadBurst> reads_;      // in AR order
    std::vector<WriteBurst> writes_;    // AWs still waiting for W beats, in order
    std::vector<BResp> bq_;             // B responses not yet taken, in order
    std::vector<WBeat> wfifo_;
    size_t w_head_ = 0, w_count_ = 0;
    uint32_t writes_in_flight_ = 0;

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
        const ReadBurst& b = reads_[i];
        rresp = read_beat(b.req, b.beat, rdata);
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
        b.resp = worse(b.resp, write_beat(b.req, b.beat, w.data, w.strb));
        w_head_ = (w_head_ + 1) % wfifo_.size();
        --w_count_;
        if (++b.beat == b.req.beats) {
            bq_.push_back({b.req.id, b.resp, c + cfg_.write_latency});
            writes_.erase(writes_.begin());
        }
    }
};

}  // namespace axi
