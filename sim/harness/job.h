// The harness's job file (written by sim/native.py) and its JSON result writer.
//
// Job: a text file, one directive per line, '#' starts a comment, numbers in C syntax
// (decimal or 0x hex). Binary data (DRAM images, pokes) lives in the blob file named by
// `blob`, referenced by (offset, length).
//
//   systolica-harness 1
//   blob <path>
//   case <name>                          starts a case; settings below apply to it
//   fresh <0|1>                          build a new model (power-on state, memories zero)
//   reset <cycles>                       rst high this many cycles (default 3)
//   dram <size> <blob offset> <length>   DRAM size and its initial image (from address 0)
//   timing <axiram|queues>               the DRAM model's timing (dram_axiram.h, dram.h)
//   latency <read> <write> <jitter>      see dram.h
//   capacity <reads> <writes> <w buffer>
//   stall <aw> <w> <b> <ar> <r>          per-cycle probabilities
//   reorder <0|1>
//   seed <n>
//   fault <lo> <hi> <resp>               resp 2 = SLVERR, 3 = DECERR
//   limit <read|write> <id> <n>          bursts of that ID allowed in flight
//   log_bursts <0|1>
//   max_violations <n>                   violations kept (all are counted)
//   stop_on_violation <0|1>              end the case at the first violation
//   axil_timeout <cycles>                a register access that takes longer ends the case
//   -- host steps, in order --
//   write <offset> <value> <strobe> <mark>
//   read <offset>
//   wait_irq <timeout> <continue>
//   wait_cycles <n>
//   poll <offset> <mask> <value> <timeout> <continue>
//   dump <lo> <hi>
//   poke <addr> <blob offset> <length>
//   window <lo> <hi>
//   nowindow
//   end                                  ends the case
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "dram.h"

namespace harness {

enum class Op { WRITE, READ, WAIT_IRQ, WAIT_CYCLES, POLL, DUMP, POKE, WINDOW, NOWINDOW };

struct Step {
    Op op;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    bool flag = false;
};

struct Limit {
    bool write;
    uint32_t id;
    uint64_t n;
};

struct Case {
    std::string name;
    bool fresh = false;
    uint32_t reset_cycles = 3;
    axi::DramConfig dram;
    uint64_t image_off = 0, image_len = 0;
    std::vector<Limit> limits;
    bool log_bursts = false, stop_on_violation = false;
    uint32_t max_violations = 20;
    uint64_t axil_timeout = 10000;
    std::vector<Step> steps;
};

struct Job {
    std::string blob_path;
    std::vector<uint8_t> blob;
    std::vector<Case> cases;
};

static uint64_t num(const std::string& s) {
    char* end = nullptr;
    uint64_t v = strtoull(s.c_str(), &end, 0);
    if (s.empty() || *end) throw std::runtime_error("not a number: '" + s + "'");
    return v;
}

static Job parse_job(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open job file " + path);
    Job job;
    std::string line;
    int lineno = 0;
    Case* c = nullptr;
    bool header = false;
    while (std::getline(in, line)) {
        ++lineno;
        auto hash = line.find('#');
        if (hash != std::string::npos) line.resize(hash);
        std::istringstream ss(line);
        std::vector<std::string> w;
        for (std::string t; ss >> t;) w.push_back(t);
        if (w.empty()) continue;
        auto need = [&](size_t n) {
            if (w.size() != n + 1)
                throw std::runtime_error("job line " + std::to_string(lineno) + ": '" + w[0] + "' takes " +
                                         std::to_string(n) + " arguments");
        };
        auto in_case = [&]() {
            if (!c) throw std::runtime_error("job line " + std::to_string(lineno) + ": '" + w[0] + "' outside a case");
        };
        const std::string& k = w[0];
        if (k == "systolica-harness") {
            need(1);
            if (w[1] != "1") throw std::runtime_error("job format version " + w[1] + ", this harness reads 1");
            header = true;
        } else if (!header) {
            throw std::runtime_error("job file does not start with 'systolica-harness 1'");
        } else if (k == "blob") {
            need(1);
            job.blob_path = w[1];
        } else if (k == "case") {
            need(1);
            job.cases.emplace_back();
            c = &job.cases.back();
            c->name = w[1];
        } else if (k == "end") {
            in_case();
            c = nullptr;
        } else {
            in_case();
            Step s;
            if (k == "fresh") { need(1); c->fresh = num(w[1]); }
            else if (k == "reset") { need(1); c->reset_cycles = (uint32_t)num(w[1]); }
            else if (k == "dram") { need(3); c->dram.size = num(w[1]); c->image_off = num(w[2]); c->image_len = num(w[3]); }
            else if (k == "timing") {
                need(1);
                if (w[1] != "axiram" && w[1] != "queues")
                    throw std::runtime_error("job line " + std::to_string(lineno) + ": timing axiram|queues");
                c->dram.axiram = w[1] == "axiram";
            } else if (k == "latency") {
                need(3);
                c->dram.read_latency = (uint32_t)num(w[1]);
                c->dram.write_latency = (uint32_t)num(w[2]);
                c->dram.read_jitter = (uint32_t)num(w[3]);
                if (!c->dram.read_latency || !c->dram.write_latency)
                    throw std::runtime_error("job line " + std::to_string(lineno) + ": latencies must be >= 1");
            } else if (k == "capacity") {
                need(3);
                c->dram.read_capacity = (uint32_t)num(w[1]);
                c->dram.write_capacity = (uint32_t)num(w[2]);
                c->dram.w_buffer = (uint32_t)num(w[3]);
            } else if (k == "stall") {
                need(5);
                double* p[] = {&c->dram.stall_aw, &c->dram.stall_w, &c->dram.stall_b, &c->dram.stall_ar, &c->dram.stall_r};
                for (int i = 0; i < 5; ++i) *p[i] = atof(w[i + 1].c_str());
            } else if (k == "reorder") { need(1); c->dram.reorder = num(w[1]); }
            else if (k == "seed") { need(1); c->dram.seed = num(w[1]); }
            else if (k == "fault") { need(3); c->dram.faults.push_back({num(w[1]), num(w[2]), (uint32_t)num(w[3])}); }
            else if (k == "limit") {
                need(3);
                if (w[1] != "read" && w[1] != "write")
                    throw std::runtime_error("job line " + std::to_string(lineno) + ": limit read|write");
                c->limits.push_back({w[1] == "write", (uint32_t)num(w[2]), num(w[3])});
            } else if (k == "log_bursts") { need(1); c->log_bursts = num(w[1]); }
            else if (k == "max_violations") { need(1); c->max_violations = (uint32_t)num(w[1]); }
            else if (k == "stop_on_violation") { need(1); c->stop_on_violation = num(w[1]); }
            else if (k == "axil_timeout") { need(1); c->axil_timeout = num(w[1]); }
            else if (k == "write") { need(4); s.op = Op::WRITE; s.a = num(w[1]); s.b = num(w[2]); s.c = num(w[3]); s.flag = num(w[4]); c->steps.push_back(s); }
            else if (k == "read") { need(1); s.op = Op::READ; s.a = num(w[1]); c->steps.push_back(s); }
            else if (k == "wait_irq") { need(2); s.op = Op::WAIT_IRQ; s.a = num(w[1]); s.flag = num(w[2]); c->steps.push_back(s); }
            else if (k == "wait_cycles") { need(1); s.op = Op::WAIT_CYCLES; s.a = num(w[1]); c->steps.push_back(s); }
            else if (k == "poll") {
                need(5);
                s.op = Op::POLL; s.a = num(w[1]); s.b = num(w[2]); s.c = num(w[3]); s.d = num(w[4]); s.flag = num(w[5]);
                c->steps.push_back(s);
            } else if (k == "dump") { need(2); s.op = Op::DUMP; s.a = num(w[1]); s.b = num(w[2]); c->steps.push_back(s); }
            else if (k == "poke") { need(3); s.op = Op::POKE; s.a = num(w[1]); s.b = num(w[2]); s.c = num(w[3]); c->steps.push_back(s); }
            else if (k == "window") { need(2); s.op = Op::WINDOW; s.a = num(w[1]); s.b = num(w[2]); c->steps.push_back(s); }
            else if (k == "nowindow") { need(0); s.op = Op::NOWINDOW; c->steps.push_back(s); }
            else throw std::runtime_error("job line " + std::to_string(lineno) + ": unknown directive '" + k + "'");
        }
    }
    if (c) throw std::runtime_error("job file ends inside case '" + c->name + "' (no 'end')");
    if (!job.blob_path.empty()) {
        std::ifstream b(job.blob_path, std::ios::binary);
        if (!b) throw std::runtime_error("cannot open blob file " + job.blob_path);
        job.blob.assign(std::istreambuf_iterator<char>(b), std::istreambuf_iterator<char>());
    }
    for (const Case& k : job.cases) {
        if (k.image_off + k.image_len > job.blob.size())
            throw std::runtime_error("case " + k.name + ": DRAM image beyond the blob");
        if (k.image_len > k.dram.size) throw std::runtime_error("case " + k.name + ": DRAM image larger than the DRAM");
        for (const Step& s : k.steps) {
            if (s.op == Op::POKE && s.b + s.c > job.blob.size())
                throw std::runtime_error("case " + k.name + ": poke data beyond the blob");
            if ((s.op == Op::POKE && s.a + s.c > k.dram.size) || (s.op == Op::DUMP && (s.b < s.a || s.b > k.dram.size)))
                throw std::runtime_error("case " + k.name + ": poke/dump range outside the DRAM");
        }
    }
    return job;
}

// Minimal JSON output.
class Json {
public:
    explicit Json(FILE* f) : f_(f) {}
    void raw(const char* s) { fputs(s, f_); }
    void str(const std::string& s) {
        fputc('"', f_);
        for (char ch : s) {
            if (ch == '"' || ch == '\\') { fputc('\\', f_); fputc(ch, f_); }
            else if ((unsigned char)ch < 0x20) fprintf(f_, "\\u%04x", ch);
            else fputc(ch, f_);
        }
        fputc('"', f_);
    }
    void key(const char* k) { fprintf(f_, "\"%s\": ", k); }
    void u(uint64_t v) { fprintf(f_, "%llu", (unsigned long long)v); }
    void kv(const char* k, uint64_t v) { key(k); u(v); }
    void kv(const char* k, const std::string& v) { key(k); str(v); }
    void kvd(const char* k, double v) { key(k); fprintf(f_, "%.6f", v); }
    void kv_opt(const char* k, uint64_t v) {   // UINT64_MAX = null
        key(k);
        if (v == UINT64_MAX) raw("null");
        else u(v);
    }
    FILE* file() { return f_; }

private:
    FILE* f_;
};

}  // namespace harness
