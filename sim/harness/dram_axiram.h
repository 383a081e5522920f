// DRAM timing of cocotbext-axi's AxiRam (0.1.28), cycle for cycle, so the native harness
// and the cocotb bench (sim/tb_top.py) give the same cycle counts without stalls.
//
// AxiRam is built from 2-entry queues and one process per direction. At each rising edge,
// in cocotb's order: the AR/AW/W sinks take a handshake and set READY = (queue holds < 2);
// the R/B sources, if their beat was taken or none is offered, offer the next queued one;
// then the read process tops the R queue up to 2 beats (taking the next AR when a burst
// is done, reading memory as it queues a beat), and the write process takes the next AW,
// consumes the queued W beats of its burst (writing memory) and queues the B (waiting while
// the B queue holds 2). So a read's first beat is offered 2 cycles after its AR handshake,
// a B 2 cycles after the last W; reads (and writes) are served one burst at a time in
// order; W may come before AW (2 beats). Stalls: a sink's READY is also low, and a source
// offers nothing new, with the channel's probability at each edge.
#pragma once

#include <deque>

#include "dram.h"

namespace axi {

class AxiRamDram : public DramModel {
public:
    explicit AxiRamDram(uint32_t bus_bytes) : DramModel(bus_bytes) {}

    void reset() override {
        rng_ = Rng(cfg_.seed);
        arq_.clear();
        rq_.clear();
        awq_.clear();
        wq_.clear();
        bq_.clear();
        reading_ = writing_ = b_waiting_ = false;
        awready = wready = arready = rvalid = bvalid = rlast = 0;
    }

    void prepare(uint64_t, bool hold) override {
        if (hold) reset();      // AxiRam drops everything while reset is high
    }

    void edge(uint64_t, const Axi4Sample& s) override {
        // sinks
        if (arready && s.arvalid) arq_.push_back(request_ar(s));
        if (awready && s.awvalid) awq_.push_back(request_aw(s));
        if (wready && s.wvalid) {
            WBeat w;
            memcpy(w.data, s.wdata, bb_);
            w.strb = s.wstrb;
            wq_.push_back(w);
        }
        arready = arq_.size() < 2 && !rng_.chance(t_ar_);
        awready = awq_.size() < 2 && !rng_.chance(t_aw_);
        wready = wq_.size() < 2 && !rng_.chance(t_w_);
        // sources
        if (!rvalid || s.rready) {
            rvalid = !rq_.empty() && !rng_.chance(t_r_);
            if (rvalid) {
                const RBeat& b = rq_.front();
                memcpy(rdata, b.data, bb_);
                rid = b.id;
                rresp = b.resp;
                rlast = b.last;
                rq_.pop_front();
            }
        }
        if (!bvalid || s.bready) {
            bvalid = !bq_.empty() && !rng_.chance(t_b_);
            if (bvalid) {
                bid = bq_.front().id;
                bresp = bq_.front().resp;
                bq_.pop_front();
            }
        }
        // processes
        read_process();
        write_process();
    }

private:
    struct RBeat { uint8_t data[MAX_BUS_BYTES]; uint32_t id, resp; uint8_t last; };
    struct WBeat { uint8_t data[MAX_BUS_BYTES]; uint64_t strb; };
    struct BResp { uint32_t id, resp; };

    std::deque<Request> arq_, awq_;
    std::deque<RBeat> rq_;
    std::deque<WBeat> wq_;
    std::deque<BResp> bq_;
    bool reading_ = false, writing_ = false, b_waiting_ = false;
    Request rd_, wr_;
    uint32_t rd_beat_ = 0, wr_beat_ = 0, wr_resp_ = OKAY;
    BResp b_;

    void read_process() {
        while (rq_.size() < 2) {
            if (!reading_) {
                if (arq_.empty()) return;
                rd_ = arq_.front();
                arq_.pop_front();
                rd_beat_ = 0;
                reading_ = true;
            }
            RBeat b;
            b.resp = read_beat(rd_, rd_beat_, b.data);
            b.id = rd_.id;
            b.last = rd_beat_ + 1 == rd_.beats;
            rq_.push_back(b);
            if (++rd_beat_ == rd_.beats) reading_ = false;
        }
    }

    void write_process() {
        for (;;) {
            if (b_waiting_) {
                if (bq_.size() >= 2) return;
                bq_.push_back(b_);
                b_waiting_ = false;
            }
            if (!writing_) {
                if (awq_.empty()) return;
                wr_ = awq_.front();
                awq_.pop_front();
                wr_beat_ = 0;
                wr_resp_ = OKAY;
                writing_ = true;
            }
            if (wq_.empty()) return;
            const WBeat& w = wq_.front();
            wr_resp_ = worse(wr_resp_, write_beat(wr_, wr_beat_, w.data, w.strb));
            wq_.pop_front();
            if (++wr_beat_ == wr_.beats) {
                b_ = {wr_.id, wr_resp_};
                b_waiting_ = true;
                writing_ = false;
            }
        }
    }
};

}  // namespace axi
