// `ratios`: the comparisons the project reports, measured in one run.
// Each round runs every probe and scenario once, interleaved, so machine
// noise hits all of them alike; after `repetitions` rounds (default 3) it
// prints each one's median and the ratio lines. Fails closed: a missing,
// zero or duplicated row is an error, not a footnote.
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "bench_common.h"
#include "probes.h"

namespace netipc::bench {

int run_increment_shape(const Options& o, const std::string& name);

namespace {

struct Row {
  std::string name;
  std::function<void(const Options&)> run;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int run_ratios(const Options& in) {
  Options o = in;
  const int rounds = in.repetitions > 1 ? in.repetitions : 3;
  o.repetitions = 1;
  std::vector<Row> rows = {
      {"limits-socketpair", [](const Options& x) { report(probe_socketpair(x)); }},
      {"uds-ping-pong", [](const Options& x) { run_increment_shape(x, "uds-ping-pong"); }},
      {"limits-futex", [](const Options& x) { report(probe_futex(x)); }},
      {"limits-spin", [](const Options& x) { report(probe_spin(x)); }},
      {"shm-ping-pong", [](const Options& x) { run_increment_shape(x, "shm-ping-pong"); }},
  };
  // (numerator, denominator, target)
  const struct {
    const char* num;
    const char* den;
    double target;
  } ratios[] = {
      {"uds-ping-pong", "limits-socketpair", 0.85},
      {"shm-ping-pong", "uds-ping-pong", 1.5},
      {"shm-ping-pong", "limits-futex", 0.0},
      {"shm-ping-pong", "limits-spin", 0.0},
  };
  std::map<std::string, std::vector<RunResult>> got;
  for (int round = 0; round < rounds; ++round) {
    for (const Row& row : rows) {
      const size_t before = results().size();
      row.run(o);
      if (results().size() != before + 1 || results().back().scenario != row.name) {
        std::fprintf(stderr, "netipc-bench ratios: %s produced %zu rows, expected one\n",
                     row.name.c_str(), results().size() - before);
        return 1;
      }
      got[row.name].push_back(results().back());
    }
  }
  std::map<std::string, double> med;
  for (const auto& [name, runs] : got) {
    std::vector<double> tp, p50, p99, ccpu, scpu;
    for (const RunResult& r : runs) {
      if (r.throughput <= 0) {
        std::fprintf(stderr, "netipc-bench ratios: %s has a zero row\n", name.c_str());
        return 1;
      }
      tp.push_back(r.throughput);
      p50.push_back(r.p50_us);
      p99.push_back(r.p99_us);
      ccpu.push_back(r.client_cpu_pct);
      scpu.push_back(r.server_cpu_pct);
    }
    med[name] = median(tp);
    JsonLine line;
    line.str("summary", name)
        .integer("runs", static_cast<int64_t>(runs.size()))
        .num("median_throughput", median(tp))
        .num("median_p50_us", median(p50))
        .num("median_p99_us", median(p99))
        .num("median_client_cpu_pct", median(ccpu))
        .num("median_server_cpu_pct", median(scpu));
    line.print();
  }
  for (const auto& r : ratios) {
    JsonLine line;
    const double v = med[r.num] / med[r.den];
    line.str("ratio", std::string(r.num) + " / " + r.den).num("value", v);
    if (r.target > 0) line.num("target", r.target).str("meets", v >= r.target ? "yes" : "no");
    line.print();
  }
  return 0;
}

}  // namespace

NETIPC_BENCH_SCENARIO("ratios",
                      "probes and ping-pongs interleaved, medians of N rounds (--repetitions, "
                      "default 3) and the ratios the project reports",
                      run_ratios);

}  // namespace netipc::bench
