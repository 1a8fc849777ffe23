#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "bench.hpp"

namespace ckv::bench {

namespace {

// GPUs lower their clocks while the host works between cases (building inputs, checking outputs) and raise them
// only after sustained load: on an H200 the SM clock read 345-1125 MHz (nvidia-smi every 200 ms, "GPU idle") through
// most of a kernel bench whose cases each ran ~30 short submissions, and the same kernel timed 2.5-4x apart between
// processes. So on GPUs the warm-up ends with kSustainedWarmup of back-to-back work: submissions of as many
// repetitions as take ~kBatchTargetUs each, with no host gap inside them. CPU devices (lavapipe) skip it.
constexpr auto kSustainedWarmup = std::chrono::milliseconds(1000);
constexpr double kBatchTargetUs = 20000;
constexpr int kMaxBatch = 256;

}  // namespace

Timing time_on_gpu(vk::Context& ctx, const RecordFn& record, int warmup, int repeats) {
  if (repeats < 1) throw std::invalid_argument("repeats must be at least 1");
  vk::CommandStream stream(ctx.device());
  const auto submit = [&](int copies) {
    stream.timestamp("begin");
    for (int c = 0; c < copies; ++c) record(stream);
    stream.timestamp("end");
    stream.submit_and_wait();
    return stream.elapsed_ns("begin", "end") / 1000.0;
  };
  double last_us = 0;
  for (int i = 0; i < warmup; ++i) last_us = submit(1);
  if (warmup > 0 && ctx.device().info().type != VK_PHYSICAL_DEVICE_TYPE_CPU) {
    const int batch = std::clamp(int(kBatchTargetUs / std::max(last_us, 1.0)), 1, kMaxBatch);
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < kSustainedWarmup) submit(batch);
  }
  std::vector<double> us;
  for (int i = 0; i < repeats; ++i) us.push_back(submit(1));
  std::sort(us.begin(), us.end());
  Timing t;
  t.min_us = us.front();
  t.max_us = us.back();
  t.median_us = us.size() % 2 ? us[us.size() / 2] : (us[us.size() / 2 - 1] + us[us.size() / 2]) / 2;
  return t;
}

}  // namespace ckv::bench
