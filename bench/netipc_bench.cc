// netipc-bench: runs one scenario (or the raw-limit probes) and prints one
// JSON line per run. Scenarios register themselves (bench_common.h).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench_common.h"

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "usage: netipc-bench SCENARIO [--seconds S] [--rate R] [--items N] "
               "[--repetitions K] [--layout 1|2] [--run-dir DIR]\n"
               "       netipc-bench --version\n\n"
               "Runs SCENARIO and prints one JSON line per run on stdout with at least\n"
               "scenario, throughput (per second), p50_us, p95_us, p99_us (round trip),\n"
               "client_cpu_pct and server_cpu_pct (100 = one core).\n\n"
               "Options:\n"
               "  --seconds S       measured duration of each run (default 3)\n"
               "  --rate R          target requests per second; 0 = unthrottled (default)\n"
               "  --items N         scenario size (snapshot items, batch size)\n"
               "  --repetitions K   runs per invocation, one line each (default 1)\n"
               "  --layout L        snapshot codec layout, 1 or 2 (snapshot scenarios)\n"
               "  --run-dir DIR     where endpoints live (default: a private temp dir)\n\n"
               "Scenarios:\n");
  for (const auto& s : netipc::bench::scenarios()) {
    std::fprintf(out, "  %-24s %s\n", s.name.c_str(), s.help.c_str());
  }
}

bool parse_number(const char* text, double* out) {
  char* end = nullptr;
  double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || v < 0) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using netipc::bench::Options;
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("netipc-bench %s\n", NETIPC_VERSION);
    return 0;
  }
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  Options opts;
  for (int i = 2; i < argc; ++i) {
    std::string key = argv[i];
    if (key == "--help" || key == "-h") {
      usage(stdout);
      return 0;
    }
    if (key.rfind("--", 0) != 0 || i + 1 >= argc) {
      std::fprintf(stderr, "netipc-bench: expected --option VALUE, got '%s'\n", key.c_str());
      return 2;
    }
    const char* val = argv[++i];
    double num = 0;
    bool numeric = parse_number(val, &num);
    if (key == "--seconds" || key == "--rate" || key == "--items" || key == "--repetitions" ||
        key == "--layout") {
      if (!numeric) {
        std::fprintf(stderr, "netipc-bench: %s needs a non-negative number, got '%s'\n",
                     key.c_str(), val);
        return 2;
      }
    }
    if (key == "--seconds") {
      opts.seconds = num;
    } else if (key == "--rate") {
      opts.rate = num;
    } else if (key == "--items") {
      opts.items = static_cast<uint64_t>(num);
    } else if (key == "--repetitions") {
      opts.repetitions = static_cast<int>(num);
    } else if (key == "--layout") {
      opts.layout = static_cast<int>(num);
    } else if (key == "--run-dir") {
      opts.run_dir = val;
    } else {
      opts.extra[key.substr(2)] = val;
    }
  }
  if (opts.repetitions < 1) opts.repetitions = 1;
  for (const auto& s : netipc::bench::scenarios()) {
    if (s.name == name) return s.fn(opts);
  }
  std::fprintf(stderr, "netipc-bench: unknown scenario '%s' (see --help)\n", name.c_str());
  return 2;
}
