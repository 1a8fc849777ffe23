#include <algorithm>
#include <stdexcept>

#include "bench.hpp"

namespace ckv::bench {

Timing time_on_gpu(vk::Context& ctx, const RecordFn& record, int warmup, int repeats) {
  if (repeats < 1) throw std::invalid_argument("repeats must be at least 1");
  vk::CommandStream stream(ctx.device());
  std::vector<double> us;
  for (int i = 0; i < warmup + repeats; ++i) {
    stream.timestamp("begin");
    record(stream);
    stream.timestamp("end");
    stream.submit_and_wait();
    if (i >= warmup) us.push_back(stream.elapsed_ns("begin", "end") / 1000.0);
  }
  std::sort(us.begin(), us.end());
  Timing t;
  t.min_us = us.front();
  t.max_us = us.back();
  t.median_us = us.size() % 2 ? us[us.size() / 2] : (us[us.size() / 2 - 1] + us[us.size() / 2]) / 2;
  return t;
}

}  // namespace ckv::bench
