#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "bench.hpp"

namespace ckv::bench {

namespace {

// GPUs drop their clocks while the host works between cases (checking outputs, making inputs) and take tens of
// milliseconds of load to raise them again: an H200 was seen at 345 MHz for the first milliseconds of a case. So the
// warm-up also lasts at least this long; with warmup = 0 nothing runs before the repeats.
constexpr auto kMinWarmup = std::chrono::milliseconds(200);

}  // namespace

Timing time_on_gpu(vk::Context& ctx, const RecordFn& record, int warmup, int repeats) {
  if (repeats < 1) throw std::invalid_argument("repeats must be at least 1");
  vk::CommandStream stream(ctx.device());
  const auto submit = [&] {
    stream.timestamp("begin");
    record(stream);
    stream.timestamp("end");
    stream.submit_and_wait();
  };
  const auto warmup_start = std::chrono::steady_clock::now();
  for (int i = 0; i < warmup || (warmup > 0 && std::chrono::steady_clock::now() - warmup_start < kMinWarmup); ++i)
    submit();
  std::vector<double> us;
  for (int i = 0; i < repeats; ++i) {
    submit();
    us.push_back(stream.elapsed_ns("begin", "end") / 1000.0);
  }
  std::sort(us.begin(), us.end());
  Timing t;
  t.min_us = us.front();
  t.max_us = us.back();
  t.median_us = us.size() % 2 ? us[us.size() / 2] : (us[us.size() / 2 - 1] + us[us.size() / 2]) / 2;
  return t;
}

}  // namespace ckv::bench
