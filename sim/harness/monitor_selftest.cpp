// Drives the protocol monitor (monitor.h) alone with a synthetic trace, no design: the
// self-tests feed the same traces to this program and to sim/axi_rules.py.
//
//   monitor_selftest <trace>
//
// Trace lines: "bus_bytes <n>" (first), "begin <name>" (a fresh monitor), "window <lo>
// <hi>", "nowindow", "limit read|write <id> <n>", "end" (prints that scenario's
// violations), and one line per cycle: "<cycle> <rst>" then every field of
// axi_rules.TRACE_FIELDS in order (numbers in C syntax; wdata/rdata as little-endian hex
// bytes). Output: one line per violation, "<scenario> <cycle> <rule> <channel>".
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "monitor.h"

static void bytes(const std::string& hex, uint8_t* out, uint32_t n) {
    memset(out, 0, axi::MAX_BUS_BYTES);
    for (uint32_t i = 0; i < n && 2 * i + 1 < hex.size(); ++i) out[i] = (uint8_t)strtoul(hex.substr(2 * i, 2).c_str(), nullptr, 16);
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <trace>\n", argv[0]);
        return 2;
    }
    std::ifstream in(argv[1]);
    std::string line, name;
    uint32_t bb = 0;
    std::unique_ptr<axi::Monitor> mon;
    while (std::getline(in, line)) {
        std::istringstream ss(line);
        std::vector<std::string> w;
        for (std::string t; ss >> t;) w.push_back(t);
        if (w.empty()) continue;
        auto u = [&](size_t i) { return (uint64_t)strtoull(w.at(i).c_str(), nullptr, 0); };
        if (w[0] == "bus_bytes") {
            bb = (uint32_t)u(1);
        } else if (w[0] == "begin") {
            name = w.at(1);
            mon.reset(new axi::Monitor(bb));
            mon->max_violations = 1000000;
        } else if (w[0] == "window") {
            mon->set_window(u(1), u(2));
        } else if (w[0] == "nowindow") {
            mon->clear_window();
        } else if (w[0] == "limit") {
            (w.at(1) == "write" ? mon->write_limit : mon->read_limit)[(uint32_t)u(2)] = u(3);
        } else if (w[0] == "end") {
            for (const auto& v : mon->violations)
                printf("%s %llu %s %s\n", name.c_str(), (unsigned long long)v.cycle, v.rule.c_str(), v.channel.c_str());
        } else {
            axi::Axi4Sample s;
            axi::LiteSample l;
            size_t i = 2;
            auto n = [&]() { return u(i++); };
            s.awvalid = n(); s.awready = n(); s.awid = n(); s.awaddr = n(); s.awlen = n(); s.awsize = n();
            s.awburst = n(); s.awprot = n(); s.awcache = n(); s.awlock = n();
            s.wvalid = n(); s.wready = n(); bytes(w.at(i++), s.wdata, bb); s.wstrb = n(); s.wlast = n();
            s.bvalid = n(); s.bready = n(); s.bid = n(); s.bresp = n();
            s.arvalid = n(); s.arready = n(); s.arid = n(); s.araddr = n(); s.arlen = n(); s.arsize = n();
            s.arburst = n(); s.arprot = n(); s.arcache = n(); s.arlock = n();
            s.rvalid = n(); s.rready = n(); s.rid = n(); bytes(w.at(i++), s.rdata, bb); s.rresp = n(); s.rlast = n();
            l.awvalid = n(); l.awready = n(); l.awaddr = n(); l.awprot = n(); l.wvalid = n(); l.wready = n();
            l.wdata = n(); l.wstrb = n(); l.bvalid = n(); l.bready = n(); l.bresp = n(); l.arvalid = n();
            l.arready = n(); l.araddr = n(); l.arprot = n(); l.rvalid = n(); l.rready = n(); l.rdata = n(); l.rresp = n();
            if (i != w.size()) {
                fprintf(stderr, "trace line has %zu fields, expected %zu: %s\n", w.size(), i, line.c_str());
                return 2;
            }
            mon->check(u(0), u(1), s, l);
        }
    }
    return 0;
}
