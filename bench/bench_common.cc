#include "bench_common.h"

#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace netipc::bench {

double LatencyRecorder::percentile_us(double q) {
  if (samples_.empty()) return 0.0;
  if (!sorted_) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  size_t idx = static_cast<size_t>(std::ceil(q * static_cast<double>(samples_.size()))) ;
  if (idx > 0) --idx;
  if (idx >= samples_.size()) idx = samples_.size() - 1;
  return static_cast<double>(samples_[idx]) / 1000.0;
}

static double timeval_s(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return timeval_s(ru.ru_utime) + timeval_s(ru.ru_stime);
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double child_cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may contain spaces) start after ')'.
  size_t close = content.rfind(')');
  if (close == std::string::npos) return 0.0;
  std::istringstream in(content.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  // state is field 3; utime 14, stime 15 (1-based in proc(5)).
  for (int i = 3; i <= 15 && (in >> field); ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

static std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

JsonLine& JsonLine::str(const std::string& key, const std::string& value) {
  fields_.emplace_back(key, "\"" + json_escape(value) + "\"");
  return *this;
}

JsonLine& JsonLine::num(const std::string& key, double value) {
  char buf[64];
  if (!std::isfinite(value)) value = 0.0;
  std::snprintf(buf, sizeof buf, "%.3f", value);
  fields_.emplace_back(key, buf);
  return *this;
}

JsonLine& JsonLine::integer(const std::string& key, int64_t value) {
  fields_.emplace_back(key, std::to_string(value));
  return *this;
}

std::string JsonLine::to_string() const {
  std::string out = "{";
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (i) out += ",";
    out += "\"" + json_escape(fields_[i].first) + "\":" + fields_[i].second;
  }
  return out + "}";
}

void JsonLine::print() const {
  std::printf("%s\n", to_string().c_str());
  std::fflush(stdout);
}

std::vector<RunResult>& results() {
  static std::vector<RunResult> list;
  return list;
}

void report(const RunResult& r) {
  JsonLine line;
  line.str("scenario", r.scenario)
      .num("throughput", r.throughput)
      .str("unit", r.unit + "/s")
      .num("p50_us", r.p50_us)
      .num("p95_us", r.p95_us)
      .num("p99_us", r.p99_us)
      .str("latency", "round trip")
      .num("client_cpu_pct", r.client_cpu_pct)
      .num("server_cpu_pct", r.server_cpu_pct);
  std::string s = line.to_string();
  std::string extra = r.extra.to_string();
  if (extra.size() > 2) s = s.substr(0, s.size() - 1) + "," + extra.substr(1);
  std::printf("%s\n", s.c_str());
  std::fflush(stdout);
  results().push_back(r);
}

std::vector<ScenarioInfo>& scenarios() {
  static std::vector<ScenarioInfo> list;
  return list;
}

std::string make_run_dir(const Options& opts) {
  if (!opts.run_dir.empty()) return opts.run_dir;
  char tmpl[] = "/tmp/nipcbXXXXXX";
  char* p = mkdtemp(tmpl);
  return p != nullptr ? std::string(p) : std::string("/tmp");
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

void pin_to_cpu(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

}  // namespace netipc::bench
