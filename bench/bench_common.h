// Shared machinery of netipc-bench: scenario registry, options, latency
// histogram, CPU accounting and the JSON line every run prints.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace netipc::bench {

struct Options {
  double seconds = 3.0;   // measured duration per run
  double rate = 0.0;      // requests/s target; 0 = as fast as possible
  uint64_t items = 0;     // scenario-specific size (snapshot items, batch size)
  int repetitions = 1;    // runs per invocation; each prints a line
  int layout = 0;         // codec layout where relevant (0 = scenario default)
  std::string run_dir;    // empty = a private temporary directory
  std::map<std::string, std::string> extra;  // --key value pairs not known here
};

// Round-trip latencies in nanoseconds; percentiles by sorting a sample.
class LatencyRecorder {
 public:
  explicit LatencyRecorder(size_t reserve = 1 << 20) { samples_.reserve(reserve); }
  void add(uint64_t ns) {
    if (samples_.size() < samples_.capacity()) samples_.push_back(ns);
  }
  size_t count() const { return samples_.size(); }
  // q in [0,1]; microseconds.
  double percentile_us(double q);

 private:
  std::vector<uint64_t> samples_;
  bool sorted_ = false;
};

// CPU time (user+system) of this process or of a child, in seconds.
double process_cpu_seconds();
double child_cpu_seconds(pid_t pid);  // reads /proc/<pid>/stat (before reaping)
double thread_cpu_seconds();

uint64_t now_ns();

// One result line. Fields are printed in insertion order as a JSON object.
class JsonLine {
 public:
  JsonLine& str(const std::string& key, const std::string& value);
  JsonLine& num(const std::string& key, double value);
  JsonLine& integer(const std::string& key, int64_t value);
  std::string to_string() const;
  void print() const;  // to stdout, flushed

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// The standard measurements of one run. report() prints them as a JSON line
// (plus any extra fields) and keeps them for in-process aggregation.
struct RunResult {
  std::string scenario;
  double throughput = 0;  // requests (or items, see unit) per second
  std::string unit = "requests";
  double p50_us = 0, p95_us = 0, p99_us = 0;  // round trip
  double client_cpu_pct = 0, server_cpu_pct = 0;  // 100 = one core
  JsonLine extra;  // scenario-specific fields appended to the line
};
void report(const RunResult& r);
std::vector<RunResult>& results();  // every report() of this process

using ScenarioFn = std::function<int(const Options&)>;  // returns exit code

struct ScenarioInfo {
  std::string name;
  std::string help;
  ScenarioFn fn;
};

// Registry filled by static Registrar objects in bench/scenarios/*.cc.
std::vector<ScenarioInfo>& scenarios();

struct Registrar {
  Registrar(const char* name, const char* help, ScenarioFn fn) {
    scenarios().push_back(ScenarioInfo{name, help, std::move(fn)});
  }
};

// Makes a private temporary directory (removed by the caller via
// remove_tree) when opts.run_dir is empty.
std::string make_run_dir(const Options& opts);
void remove_tree(const std::string& path);

// Pins the calling thread to one CPU (best effort); -1 leaves it alone.
void pin_to_cpu(int cpu);

}  // namespace netipc::bench

#define NETIPC_BENCH_CONCAT2(a, b) a##b
#define NETIPC_BENCH_CONCAT(a, b) NETIPC_BENCH_CONCAT2(a, b)
#define NETIPC_BENCH_SCENARIO(name, help, fn) \
  static ::netipc::bench::Registrar NETIPC_BENCH_CONCAT(netipc_bench_reg_, __LINE__)(name, help, fn)
