// Verilator-native harness for the whole accelerator (systolica_top, behind the registered
// reset of native_build.harness_top): a DRAM model on the
// AXI4 port, an AXI4-Lite host, an AXI protocol monitor on both; no Python in the loop.
//
//   Vharness <job file> <results.jsonl> <dumps.bin>
//
// Runs every case of the job (job.h) and writes one JSON object per case (one line each)
// to the results file, and the DRAM dumps to the dumps file (offsets in the JSON). Each
// cycle: the models set the design's inputs, eval with clk low (inputs settle through any
// combinational path), the outputs are sampled (monitor, handshakes), eval with clk high.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "Vharness_top.h"
#include "verilated.h"

#include "dram.h"
#include "dram_axiram.h"
#include "host.h"
#include "job.h"
#include "monitor.h"

#ifndef BUS_BYTES
#error "BUS_BYTES (the AXI4 data width in bytes) must be defined"
#endif

namespace {

// -- port access for every width Verilator uses (CData..QData, VlWide) ----------------------
template <class T> inline uint64_t get(const T& v) { return (uint64_t)v; }
template <std::size_t N> inline uint64_t get(const VlWide<N>& v) { return v[0] | (uint64_t)v[1] << 32; }
template <class T> inline void get_bytes(const T& v, uint8_t* out) { memcpy(out, &v, BUS_BYTES); }
template <std::size_t N> inline void get_bytes(const VlWide<N>& v, uint8_t* out) { memcpy(out, v.data(), BUS_BYTES); }
template <class T> inline void set_bytes(T& v, const uint8_t* in) { T t = 0; memcpy(&t, in, BUS_BYTES); v = t; }
template <std::size_t N> inline void set_bytes(VlWide<N>& v, const uint8_t* in) { memcpy(v.data(), in, BUS_BYTES); }

using Top = Vharness_top;   // systolica_top behind a registered reset (native_build.harness_top)
// Verilator spells the ports' "__" as "___05F".
#define AXI(name) axi___05F##name
#define AXIL(name) axil___05F##name
static_assert(sizeof(std::declval<Top&>().AXI(wdata)) == BUS_BYTES, "BUS_BYTES does not match the top's AXI(wdata)");

class Sim {
public:
    Sim(VerilatedContext* ctx, harness::Job& job, FILE* results, FILE* dumps)
        : ctx_(ctx), job_(job), out_(results), dumps_(dumps), mon_(BUS_BYTES) {}

    uint64_t total_cycles = 0;

    void run_case(size_t index) {
        harness::Case& c = job_.cases[index];
        if (!top_ || c.fresh) {
            top_.reset();      // one model at a time in the context
            top_.reset(new Top(ctx_));
            rst_q_ = true;     // the reset register's initial value
        }
        if (c.dram.axiram) dram_.reset(new axi::AxiRamDram(BUS_BYTES));
        else dram_.reset(new axi::QueueDram(BUS_BYTES));
        dram_->configure(c.dram);
        if (c.image_len) memcpy(dram_->mem.data(), &job_.blob[c.image_off], c.image_len);
        mon_.clear();
        mon_.clear_window();
        mon_.read_limit.clear();
        mon_.write_limit.clear();
        for (const auto& l : c.limits) (l.write ? mon_.write_limit : mon_.read_limit)[l.id] = l.n;
        mon_.log_bursts = c.log_bursts;
        mon_.max_violations = c.max_violations;
        stop_on_violation_ = c.stop_on_violation;
        host_.reset();
        cyc_ = 0;
        running_ = false;
        for (auto& n : activity_) n = 0;
        auto t0 = std::chrono::steady_clock::now();

        rst_ = true;
        for (uint32_t i = 0; i < c.reset_cycles; ++i) cycle();
        rst_ = false;
        while (rst_q_) cycle();   // the design leaves reset a cycle after rst falls
        cycle();      // AXI: no VALID in the first cycle after reset, the host's included

        harness::Json j(out_);
        j.raw("{");
        j.kv("case", index);
        j.raw(", ");
        j.kv("name", c.name);
        j.raw(", \"steps\": [");
        std::string ended = "ok";
        uint64_t mark = UINT64_MAX;      // cycle the marked write completed its handshake
        size_t k = 0;
        for (; k < c.steps.size() && ended == "ok"; ++k) {
            if (k) j.raw(", ");
            ended = step(c, c.steps[k], j, mark);
            if (ended == "ok" && stop_on_violation_ && mon_.violation_count) ended = "violation";
        }
        j.raw("], ");
        double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        j.kv("ended", ended);
        j.raw(", ");
        j.kv("steps_run", k);
        j.raw(", ");
        j.kv("cycles", cyc_);
        j.raw(", ");
        j.kvd("wall_s", wall);
        j.raw(", ");
        write_monitor(j);
        j.raw("}\n");
        fflush(out_);
        total_cycles += cyc_;
    }

private:
    VerilatedContext* ctx_;
    harness::Job& job_;
    FILE* out_;
    FILE* dumps_;
    uint64_t dump_offset_ = 0;
    std::unique_ptr<Top> top_;
    std::unique_ptr<axi::DramModel> dram_;
    axi::Host host_;
    axi::Monitor mon_;
    axi::Axi4Sample s_;
    axi::LiteSample l_;
    uint64_t cyc_ = 0;
    bool rst_ = false, irq_ = false, stop_on_violation_ = false;
    // the top's `activity` port: bit 0 `running`; the cycles each bit was high while bit 0
    // was, counted from the cycle after bit 0 last rose (that cycle clears the counters)
    static constexpr int ACTIVITY_BITS = 7;
    uint64_t activity_[ACTIVITY_BITS] = {};
    bool running_ = false;
    bool rst_q_ = true;        // the design's reset: rst as it was in the previous cycle

    // -- one clock cycle ---------------------------------------------------------------
    inline void cycle() {
        Top& t = *top_;
        const bool in_reset = rst_q_;
        dram_->prepare(cyc_, in_reset);
        host_.prepare();
        t.rst = rst_;
        t.AXI(awready) = dram_->awready;
        t.AXI(wready) = dram_->wready;
        t.AXI(arready) = dram_->arready;
        t.AXI(bvalid) = dram_->bvalid;
        t.AXI(bid) = dram_->bid;
        t.AXI(bresp) = dram_->bresp;
        t.AXI(rvalid) = dram_->rvalid;
        t.AXI(rid) = dram_->rid;
        t.AXI(rresp) = dram_->rresp;
        t.AXI(rlast) = dram_->rlast;
        if (dram_->rvalid) set_bytes(t.AXI(rdata), dram_->rdata);
        t.AXIL(awvalid) = host_.awvalid;
        t.AXIL(awaddr) = host_.awaddr;
        t.AXIL(awprot) = 0;
        t.AXIL(wvalid) = host_.wvalid;
        t.AXIL(wdata) = host_.wdata;
        t.AXIL(wstrb) = host_.wstrb;
        t.AXIL(bready) = host_.bready;
        t.AXIL(arvalid) = host_.arvalid;
        t.AXIL(araddr) = host_.araddr;
        t.AXIL(arprot) = 0;
        t.AXIL(rready) = host_.rready;
        t.clk = 0;
        t.eval();
        sample(t);
        mon_.check(cyc_, in_reset, s_, l_);
        irq_ = t.irq;
        count_activity(t.activity);
        if (!in_reset) {
            dram_->edge(cyc_, s_);
            host_.edge(cyc_, l_);
        }
        t.clk = 1;
        t.eval();
        rst_q_ = rst_;
        ++cyc_;
    }

    inline void count_activity(uint32_t a) {
        const bool running = a & 1;
        if (running && !running_) {
            for (auto& n : activity_) n = 0;        // the start cycle: counters cleared
        } else if (running) {
            for (int b = 0; b < ACTIVITY_BITS; ++b) activity_[b] += (a >> b) & 1;
        }
        running_ = running;
    }

    inline void sample(Top& t) {
        axi::Axi4Sample& s = s_;
        s.awvalid = t.AXI(awvalid);
        s.awready = dram_->awready;
        if (s.awvalid) {
            s.awid = t.AXI(awid); s.awaddr = get(t.AXI(awaddr)); s.awlen = t.AXI(awlen); s.awsize = t.AXI(awsize);
            s.awburst = t.AXI(awburst); s.awprot = t.AXI(awprot); s.awcache = t.AXI(awcache); s.awlock = t.AXI(awlock);
        }
        s.wvalid = t.AXI(wvalid);
        s.wready = dram_->wready;
        if (s.wvalid) {
            get_bytes(t.AXI(wdata), s.wdata);
            s.wstrb = get(t.AXI(wstrb));
            s.wlast = t.AXI(wlast);
        }
        s.bvalid = dram_->bvalid; s.bready = t.AXI(bready); s.bid = dram_->bid; s.bresp = dram_->bresp;
        s.arvalid = t.AXI(arvalid);
        s.arready = dram_->arready;
        if (s.arvalid) {
            s.arid = t.AXI(arid); s.araddr = get(t.AXI(araddr)); s.arlen = t.AXI(arlen); s.arsize = t.AXI(arsize);
            s.arburst = t.AXI(arburst); s.arprot = t.AXI(arprot); s.arcache = t.AXI(arcache); s.arlock = t.AXI(arlock);
        }
        s.rvalid = dram_->rvalid; s.rready = t.AXI(rready);
        if (s.rvalid) {
            s.rid = dram_->rid; s.rresp = dram_->rresp; s.rlast = dram_->rlast;
            memcpy(s.rdata, dram_->rdata, BUS_BYTES);
        }
        axi::LiteSample& l = l_;
        l.awvalid = host_.awvalid; l.awaddr = host_.awaddr; l.awprot = 0; l.awready = t.AXIL(awready);
        l.wvalid = host_.wvalid; l.wdata = host_.wdata; l.wstrb = host_.wstrb; l.wready = t.AXIL(wready);
        l.bvalid = t.AXIL(bvalid); l.bresp = t.AXIL(bresp); l.bready = host_.bready;
        l.arvalid = host_.arvalid; l.araddr = host_.araddr; l.arprot = 0; l.arready = t.AXIL(arready);
        l.rvalid = t.AXIL(rvalid); l.rdata = t.AXIL(rdata); l.rresp = t.AXIL(rresp); l.rready = host_.rready;
    }

    bool violated() const { return stop_on_violation_ && mon_.violation_count; }

    // A register access; false when it took longer than the case's axil_timeout.
    bool access(const harness::Case& c) {
        const uint64_t limit = cyc_ + c.axil_timeout;
        while (!host_.done && cyc_ < limit && !violated()) cycle();
        return host_.done;
    }

    void stamps(harness::Json& j, uint64_t start) {
        j.kv("start", start);
        j.raw(", ");
        j.kv("end", cyc_);
        j.raw(", ");
        j.kv("irq", irq_);
    }

    // Runs one step and writes its JSON object; returns how the case goes on ("ok" or why
    // it ends).
    std::string step(const harness::Case& c, const harness::Step& s, harness::Json& j, uint64_t& mark) {
        const uint64_t start = cyc_;
        std::string ended = "ok";
        j.raw("{");
        switch (s.op) {
        case harness::Op::WRITE: {
            host_.start_write((uint32_t)s.a, (uint32_t)s.b, (uint32_t)s.c);
            bool ok = access(c);
            if (ok && s.flag) mark = host_.handshake_cycle;
            j.raw("\"op\": \"write\", ");
            j.kv("offset", s.a);
            j.raw(", ");
            j.kv("resp", ok ? host_.resp : 0);
            if (!ok) ended = violated() ? "violation" : "axil_timeout";
            break;
        }
        case harness::Op::READ: {
            host_.start_read((uint32_t)s.a);
            bool ok = access(c);
            j.raw("\"op\": \"read\", ");
            j.kv("offset", s.a);
            j.raw(", ");
            j.kv("value", ok ? host_.rdata : 0);
            j.raw(", ");
            j.kv("resp", ok ? host_.resp : 0);
            if (!ok) ended = violated() ? "violation" : "axil_timeout";
            break;
        }
        case harness::Op::WAIT_IRQ: {
            const uint64_t from = mark == UINT64_MAX ? start : mark;
            const uint64_t limit = cyc_ + s.a;
            bool seen = false;
            for (;;) {
                cycle();                     // irq_ is the value sampled in cycle cyc_ - 1
                if (irq_) { seen = true; break; }
                if (cyc_ >= limit || violated()) break;
            }
            j.raw("\"op\": \"wait_irq\", ");
            j.kv("timeout", !seen);
            j.raw(", ");
            j.kv_opt("timer", seen ? cyc_ - 1 - from : UINT64_MAX);
            j.raw(", ");
            j.kv_opt("irq_cycle", seen ? cyc_ - 1 : UINT64_MAX);
            j.raw(", \"activity\": [");
            for (int b = 0; b < ACTIVITY_BITS; ++b)
                fprintf(j.file(), "%s%llu", b ? ", " : "", (unsigned long long)activity_[b]);
            j.raw("]");
            mark = UINT64_MAX;
            if (!seen && !s.flag) ended = violated() ? "violation" : "timeout";
            break;
        }
        case harness::Op::WAIT_CYCLES:
            for (uint64_t i = 0; i < s.a && !violated(); ++i) cycle();
            j.raw("\"op\": \"wait_cycles\"");
            break;
        case harness::Op::POLL: {
            const uint64_t limit = cyc_ + s.d;
            bool matched = false, ok = true;
            uint64_t reads = 0;
            while (cyc_ < limit && !violated()) {
                host_.start_read((uint32_t)s.a);
                if (!(ok = access(c))) break;
                ++reads;
                if ((host_.rdata & s.b) == s.c) { matched = true; break; }
            }
            j.raw("\"op\": \"poll\", ");
            j.kv("offset", s.a);
            j.raw(", ");
            j.kv("value", host_.rdata);
            j.raw(", ");
            j.kv("reads", reads);
            j.raw(", ");
            j.kv("timeout", !matched);
            if (!ok) ended = violated() ? "violation" : "axil_timeout";
            else if (!matched && !s.flag) ended = violated() ? "violation" : "timeout";
            break;
        }
        case harness::Op::DUMP: {
            const uint64_t n = s.b - s.a;
            fwrite(&dram_->mem[s.a], 1, n, dumps_);
            j.raw("\"op\": \"dump\", ");
            j.kv("lo", s.a);
            j.raw(", ");
            j.kv("offset", dump_offset_);
            j.raw(", ");
            j.kv("length", n);
            dump_offset_ += n;
            break;
        }
        case harness::Op::POKE:
            memcpy(&dram_->mem[s.a], &job_.blob[s.b], s.c);
            j.raw("\"op\": \"poke\"");
            break;
        case harness::Op::WINDOW:
            mon_.set_window(s.a, s.b);
            j.raw("\"op\": \"window\"");
            break;
        case harness::Op::NOWINDOW:
            mon_.clear_window();
            j.raw("\"op\": \"nowindow\"");
            break;
        }
        j.raw(", ");
        stamps(j, start);
        j.raw("}");
        return ended;
    }

    void write_monitor(harness::Json& j) {
        j.kv_opt("first_request_cycle", mon_.first_request_cycle);
        j.raw(", ");
        j.kv_opt("last_response_cycle", mon_.last_response_cycle);
        j.raw(", \"stats\": {");
        bool first = true;
        for (const auto& [id, st] : mon_.stats) {
            if (!first) j.raw(", ");
            first = false;
            fprintf(j.file(), "\"%u\": {\"ar\": %llu, \"r\": %llu, \"aw\": %llu, \"w\": %llu, \"wstrb_bytes\": %llu, "
                    "\"b\": %llu, \"r_resp\": [%llu, %llu, %llu, %llu], \"b_resp\": [%llu, %llu, %llu, %llu]}",
                    id, (unsigned long long)st.ar, (unsigned long long)st.r, (unsigned long long)st.aw,
                    (unsigned long long)st.w, (unsigned long long)st.wstrb_bytes, (unsigned long long)st.b,
                    (unsigned long long)st.r_resp[0], (unsigned long long)st.r_resp[1], (unsigned long long)st.r_resp[2],
                    (unsigned long long)st.r_resp[3], (unsigned long long)st.b_resp[0], (unsigned long long)st.b_resp[1],
                    (unsigned long long)st.b_resp[2], (unsigned long long)st.b_resp[3]);
        }
        j.raw("}, ");
        j.kv("violation_count", mon_.violation_count);
        j.raw(", \"violations\": [");
        for (size_t i = 0; i < mon_.violations.size(); ++i) {
            const axi::Violation& v = mon_.violations[i];
            if (i) j.raw(", ");
            j.raw("{");
            j.kv("cycle", v.cycle);
            j.raw(", ");
            j.kv("channel", v.channel);
            j.raw(", ");
            j.kv("rule", v.rule);
            j.raw(", ");
            j.kv("detail", v.detail);
            j.raw("}");
        }
        j.raw("], \"bursts\": [");
        for (size_t i = 0; i < mon_.bursts.size(); ++i) {
            const axi::BurstLog& b = mon_.bursts[i];
            fprintf(j.file(), "%s[\"%c\", %u, %llu, %u, %u, %u, %llu]", i ? ", " : "", b.channel, b.req.id,
                    (unsigned long long)b.req.addr, b.req.beats, b.req.size, b.req.burst, (unsigned long long)b.cycle);
        }
        j.raw("]");
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s <job file> <results.jsonl> <dumps.bin>\n", argv[0]);
        return 2;
    }
    harness::Job job;
    try {
        job = harness::parse_job(argv[1]);
    } catch (const std::exception& e) {
        fprintf(stderr, "harness: bad job: %s\n", e.what());
        return 2;
    }
    FILE* results = fopen(argv[2], "w");
    FILE* dumps = fopen(argv[3], "wb");
    if (!results || !dumps) {
        fprintf(stderr, "harness: cannot open the output files\n");
        return 2;
    }
    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(1, argv);
    auto t0 = std::chrono::steady_clock::now();
    Sim sim(ctx.get(), job, results, dumps);
    for (size_t i = 0; i < job.cases.size(); ++i) sim.run_case(i);
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fprintf(results, "{\"total_cycles\": %llu, \"wall_s\": %.6f}\n", (unsigned long long)sim.total_cycles, wall);
    fclose(results);
    fclose(dumps);
    return 0;
}
