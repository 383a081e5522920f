// AXI4-Lite host model: one register access at a time, driven legally.
//
// A write offers AW and W in the same cycle and holds each (VALID and payload) until its
// READY; BREADY is high from the start, the write is done when B is taken. A read offers AR
// until ARREADY; RREADY is high, the read is done when R is taken. prepare() sets this
// cycle's outputs, edge() takes the handshakes of the cycle.
#pragma once

#include <cstdint>

#include "monitor.h"

namespace axi {

class Host {
public:
    // outputs of this cycle (inputs of the design)
    uint8_t awvalid = 0, wvalid = 0, bready = 0, arvalid = 0, rready = 0;
    uint32_t awaddr = 0, wdata = 0, wstrb = 0, araddr = 0;

    // results of the last access
    bool done = true;
    uint32_t resp = 0, rdata = 0;
    uint64_t handshake_cycle = 0;    // cycle the write's AW and W were both taken

    void reset() {
        op_ = NONE;
        done = true;
        awvalid = wvalid = bready = arvalid = rready = 0;
    }

    void start_write(uint32_t addr, uint32_t data, uint32_t strb) {
        op_ = WRITE;
        done = false;
        aw_taken_ = w_taken_ = false;
        awaddr = addr;
        wdata = data;
        wstrb = strb;
    }

    void start_read(uint32_t addr) {
        op_ = READ;
        done = false;
        ar_taken_ = false;
        araddr = addr;
    }

    void prepare() {
        awvalid = op_ == WRITE && !aw_taken_;
        wvalid = op_ == WRITE && !w_taken_;
        bready = op_ == WRITE;
        arvalid = op_ == READ && !ar_taken_;
        rready = op_ == READ;
    }

    void edge(uint64_t c, const LiteSample& l) {
        if (op_ == WRITE) {
            if (awvalid && l.awready) aw_taken_ = true;
            if (wvalid && l.wready) w_taken_ = true;
            if ((awvalid && l.awready) || (wvalid && l.wready))
                if (aw_taken_ && w_taken_) handshake_cycle = c;
            if (bready && l.bvalid) {
                resp = l.bresp;
                finish();
            }
        } else if (op_ == READ) {
            if (arvalid && l.arready) ar_taken_ = true;
            if (rready && l.rvalid) {
                resp = l.rresp;
                rdata = l.rdata;
                finish();
            }
        }
    }

private:
    enum Op { NONE, WRITE, READ } op_ = NONE;
    bool aw_taken_ = false, w_taken_ = false, ar_taken_ = false;

    void finish() {
        op_ = NONE;
        done = true;
    }
};

}  // namespace axi
