// AXI4 arithmetic shared by the DRAM model and the protocol monitor (no Verilator here).
//
// Beat addresses follow the AMBA AXI4 specification (A3.4.1): for a burst starting at
// AxADDR with 2^AxSIZE bytes per beat, beat 0 addresses the bytes [AxADDR, container end),
// where the container is the 2^AxSIZE-aligned block holding AxADDR; INCR beat n >= 1
// addresses the whole container n blocks further; FIXED repeats beat 0; WRAP wraps at the
// boundary aligned to the burst's total size.
#pragma once

#include <cstdint>
#include <cstring>

namespace axi {

enum Burst : uint32_t { FIXED = 0, INCR = 1, WRAP = 2 };
enum Resp : uint32_t { OKAY = 0, EXOKAY = 1, SLVERR = 2, DECERR = 3 };

// The worse of two responses for error reporting: DECERR > SLVERR > OKAY.
static inline uint32_t worse(uint32_t a, uint32_t b) {
    auto rank = [](uint32_t r) { return r == DECERR ? 2 : r == SLVERR ? 1 : 0; };
    return rank(b) > rank(a) ? b : a;
}

struct Request {          // an AR or AW
    uint32_t id = 0;
    uint64_t addr = 0;
    uint32_t beats = 1;   // AxLEN + 1
    uint32_t size = 0;    // AxSIZE
    uint32_t burst = INCR;
};

// Addressed bytes [lo, hi) of beat n of r (all inside one 2^size container).
static inline void beat_bytes(const Request& r, uint32_t n, uint64_t& lo, uint64_t& hi) {
    const uint64_t nb = 1ull << r.size;
    const uint64_t aligned = r.addr & ~(nb - 1);
    uint64_t a;
    if (r.burst == INCR) {
        a = n == 0 ? r.addr : aligned + (uint64_t)n * nb;
    } else if (r.burst == WRAP && n != 0) {
        const uint64_t total = nb * r.beats;
        const uint64_t lower = (r.addr / total) * total;
        a = lower + ((aligned - lower) + (uint64_t)n * nb) % total;
    } else {
        a = r.addr;       // FIXED, and beat 0 of WRAP
    }
    lo = a;
    hi = (a & ~(nb - 1)) + nb;
}

// The bytes [lo, hi) the whole burst addresses (INCR/FIXED; WRAP: its wrap block).
static inline void burst_bytes(const Request& r, uint64_t& lo, uint64_t& hi) {
    const uint64_t nb = 1ull << r.size;
    const uint64_t aligned = r.addr & ~(nb - 1);
    if (r.burst == WRAP) {
        const uint64_t total = nb * r.beats;
        lo = (r.addr / total) * total;
        hi = lo + total;
    } else if (r.burst == FIXED) {
        lo = r.addr;
        hi = aligned + nb;
    } else {
        lo = r.addr;
        hi = aligned + nb * r.beats;
    }
}

// Lane mask (bit i = byte lane i of the bus word) of bytes [lo, hi) of one container.
static inline uint64_t lane_mask(uint64_t lo, uint64_t hi, uint32_t bus_bytes) {
    const uint32_t first = (uint32_t)(lo % bus_bytes);
    const uint32_t count = (uint32_t)(hi - lo);
    const uint64_t ones = count >= 64 ? ~0ull : ((1ull << count) - 1);
    return ones << first;
}

// Small, fast, seeded PRNG (xorshift64*).
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed = 1) : s(seed ? seed * 0x9E3779B97F4A7C15ull : 0x853C49E6748FEA9Bull) {}
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1Dull;
    }
    // true with probability threshold / 2^64 (see threshold()).
    bool chance(uint64_t threshold) { return threshold && next() < threshold; }
    static uint64_t threshold(double p) {
        if (p <= 0) return 0;
        if (p >= 1) return ~0ull;
        return (uint64_t)(p * 18446744073709551616.0);
    }
};

}  // namespace axi
