// Top-k selection alone (the compression step's third part) on random scores, for each implementation and
// workgroup size of the one-group kernel: which one a device wants at which prompt length.
#include <algorithm>
#include <numeric>

#include "bench.hpp"
#include "bench_data.hpp"
#include "engine/ops/topk_select.hpp"

namespace ckv::bench {

std::vector<BenchResult> bench_topk(vk::Context& ctx, const BenchOptions& options) {
  const bool gpu = options.preset == Preset::Gpu;
  const std::vector<uint32_t> lengths = gpu ? std::vector<uint32_t>{4096, 32768, 131072} : std::vector<uint32_t>{4096};
  struct Variant {
    const char* name;
    ops::TopkAlgorithm algorithm;
    uint32_t threads;
    bool vec4_loads = true;
  };
  const Variant variants[] = {{"resident 1024", ops::TopkAlgorithm::Resident, 0},
                              {"one group 1024", ops::TopkAlgorithm::OneGroup, 1024},
                              {"one group 512", ops::TopkAlgorithm::OneGroup, 512},
                              {"one group 512 4-byte loads", ops::TopkAlgorithm::OneGroup, 512, false},
                              {"one group 256", ops::TopkAlgorithm::OneGroup, 256},
                              {"one group portable 1024", ops::TopkAlgorithm::OneGroupPortable, 1024},
                              {"multi-pass", ops::TopkAlgorithm::MultiPass, 0}};
  constexpr uint32_t kKeep = 504, kWindow = 8;
  std::vector<BenchResult> results;
  for (uint32_t n : lengths) {
    // Pooled window scores are small, positive and mostly alike: scale random values into [0, 2^-10).
    std::vector<float> scores = bench_random(n, 11);
    for (float& s : scores) s = (s + 1.0f) * (1.0f / 2048.0f);
    std::vector<uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return scores[a] > scores[b]; });
    std::vector<uint32_t> want(order.begin(), order.begin() + kKeep);
    std::sort(want.begin(), want.end());
    vk::Buffer score_buffer = device_buffer(ctx, scores, "bench topk scores");
    vk::Buffer out(ctx.device(), (kKeep + kWindow) * 4, vk::MemoryKind::DeviceLocal, "bench topk indices");
    for (const Variant& v : variants) {
      const std::string name = "topk " + std::string(v.name) + " n=" + std::to_string(n);
      if (!options.filter.empty() && name.find(options.filter) == std::string::npos) continue;
      if (v.threads > ctx.device().info().max_workgroup_invocations) continue;
      if (v.algorithm == ops::TopkAlgorithm::Resident && n > ops::kTopkResidentMaxN) continue;  // it would not run
      ops::TopkParams p{1, n, kKeep, kWindow, v.algorithm, v.threads, v.vec4_loads};
      vk::Buffer scratch(ctx.device(), ops::topk_scratch_bytes(p), vk::MemoryKind::DeviceLocal, "bench topk scratch");
      const Timing t = time_on_gpu(
          ctx, [&](vk::CommandStream& st) { ops::record_topk_select(ctx, st, p, score_buffer, scratch, out); },
          options.warmup, options.repeats);
      const auto got = vk::download<uint32_t>(ctx.device(), out, kKeep);
      BenchResult r;
      r.name = name;
      r.shape = {{"n", n}, {"k", kKeep}, {"window", kWindow}, {"threads", v.threads}, {"vec4_loads", v.vec4_loads}};
      r.median_us = t.median_us;
      r.min_us = t.min_us;
      r.max_us = t.max_us;
      r.bytes = 4.0 * n;
      r.checked = got == want;
      r.check = "indices equal a stable sort's";
      results.push_back(r);
    }
  }
  return results;
}

}  // namespace ckv::bench
