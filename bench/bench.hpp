// GPU-timestamp benchmarks: each case records its work between two timestamps, runs warm-up submissions,
// then reports the median of the repeats. Cases check their own output before a time is reported.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv::bench {

enum class Preset { Small, Gpu };

struct BenchOptions {
  Preset preset = Preset::Small;
  int warmup = 3;
  int repeats = 10;
  std::string filter;  // run only cases whose name contains this
  bool pipeline_stats = false;  // also report the driver's statistics (registers...) of every pipeline used
};

struct BenchResult {
  std::string name;
  nlohmann::json shape;
  double median_us = 0, min_us = 0, max_us = 0;
  double bytes = 0;  // bytes the work must move at least (for GB/s)
  double flops = 0;  // useful floating-point operations (for TFLOP/s)
  bool checked = false;  // output verified against a reference before timing
  std::string check;     // what was verified
  nlohmann::json metrics;  // numbers behind the check (e.g. max abs diff), recorded in the JSON when set
};

// Records the work to time into a stream; called once per warm-up and repeat.
using RecordFn = std::function<void(vk::CommandStream&)>;

// Median/min/max of GPU time between timestamps around `record`, in microseconds.
struct Timing {
  double median_us = 0, min_us = 0, max_us = 0;
};
Timing time_on_gpu(vk::Context& ctx, const RecordFn& record, int warmup, int repeats);

// Copy bandwidth over `bytes` bytes (a multiple of 4; bytes = read + written), checked: the roofline reference.
BenchResult measure_copy(vk::Context& ctx, uint64_t bytes, int warmup, int repeats, bool transfer = false,
                         uint64_t piece_limit = 0);

// A family of cases; returns one result per shape.
struct BenchSuite {
  std::string name;
  std::function<std::vector<BenchResult>(vk::Context&, const BenchOptions&)> run;
};

// All suites, in report order (bench/registry.cpp).
std::vector<BenchSuite> all_suites();

// Runs the suites that match, prints a table to stdout and returns the JSON report.
nlohmann::json run_benchmarks(vk::Context& ctx, const BenchOptions& options);

// One suite per bench_*.cpp file.
std::vector<BenchResult> bench_copy(vk::Context& ctx, const BenchOptions& options);
std::vector<BenchResult> bench_memory_probe(vk::Context& ctx, const BenchOptions& options);
std::vector<BenchResult> bench_prefill_attention(vk::Context& ctx, const BenchOptions& options);
std::vector<BenchResult> bench_decode_attention(vk::Context& ctx, const BenchOptions& options);
std::vector<BenchResult> bench_decode_sweep(vk::Context& ctx, const BenchOptions& options);
std::vector<BenchResult> bench_compression(vk::Context& ctx, const BenchOptions& options);
std::vector<BenchResult> bench_window_scores(vk::Context& ctx, const BenchOptions& options);
std::vector<BenchResult> bench_topk(vk::Context& ctx, const BenchOptions& options);
std::vector<BenchResult> bench_matmul(vk::Context& ctx, const BenchOptions& options);
std::vector<BenchResult> bench_matvec_sweep(vk::Context& ctx, const BenchOptions& options);

}  // namespace ckv::bench
