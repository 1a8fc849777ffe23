// Window scores alone (the compression step's first part: logits, row statistics, pooled mean) at the 8B attention
// shape, for each logits kernel (key rows split across lanes, one invocation per key) and with the row statistics
// merged by the pool pass or by a separate combine pass.
#include <cmath>
#include <set>

#include "bench.hpp"
#include "bench_data.hpp"
#include "engine/ops/kv_scores.hpp"

namespace ckv::bench {

std::vector<BenchResult> bench_window_scores(vk::Context& ctx, const BenchOptions& options) {
  const bool gpu = options.preset == Preset::Gpu;
  const uint32_t n_q = gpu ? 32 : 8, n_kv = gpu ? 8 : 2, d = gpu ? 128 : 64, window = 8;
  const std::vector<uint32_t> lengths = gpu ? std::vector<uint32_t>{4096, 32768, 131072} : std::vector<uint32_t>{4096};
  const std::vector<uint32_t> heads = {n_q - 1, 1, n_q / 2, 2};  // the compression bench's retrieval heads
  std::set<uint32_t> kv_heads;
  for (uint32_t h : heads) kv_heads.insert(h / (n_q / n_kv));
  const size_t kv_heads_read = kv_heads.size();
  std::vector<BenchResult> results;
  for (uint32_t t : lengths) {
    const auto queries = bench_random(size_t(n_q) * window * d, 7);
    const auto keys = pack_f16(bench_random(size_t(n_kv) * t * d, 8));
    vk::Buffer q_buffer = device_buffer(ctx, queries, "bench window queries");
    vk::Buffer k_buffer = device_buffer(ctx, keys, "bench k");
    vk::Buffer id_buffer = device_buffer(ctx, heads, "bench head ids");
    ops::KvScoreParams p;
    p.n_q = n_q;
    p.n_kv = n_kv;
    p.head_dim = d;
    p.t = p.kv_capacity = t;
    p.window = window;
    p.scale = 1.0f / std::sqrt(float(d));
    p.rows = 1;
    p.heads_per_row = uint32_t(heads.size());
    p.qw_head_stride = window * d;
    p.qw_row_stride = d;
    vk::Buffer scratch(ctx.device(), ops::kv_score_scratch_bytes(p), vk::MemoryKind::DeviceLocal, "bench scratch");
    vk::Buffer out(ctx.device(), size_t(t - window) * 4, vk::MemoryKind::DeviceLocal, "bench scores");
    std::vector<float> first;  // the first variant's scores: the others must agree
    struct Variant {
      bool split, merge;
      const char* name;
    };
    for (const Variant v : {Variant{true, true, "split rows"}, Variant{true, false, "split rows, combine pass"},
                            Variant{false, false, "per key, combine pass"}}) {
      p.split_key_rows = v.split;
      p.merge_stats_in_pool = v.merge;
      const std::string name = std::string("window scores ") + v.name + " T=" + std::to_string(t);
      if (!options.filter.empty() && name.find(options.filter) == std::string::npos) continue;
      const uint32_t lanes = ops::kv_score_key_lanes(p, ctx.device().info());
      auto record = [&](vk::CommandStream& st) {
        ops::record_kv_scores(ctx, st, p, q_buffer, k_buffer, id_buffer, scratch, out);
      };
      const Timing timing = time_on_gpu(ctx, record, options.warmup, options.repeats);
      const auto got = vk::download<float>(ctx.device(), out, t - window);
      double sum = 0, worst = 0;
      for (size_t j = 0; j < got.size(); ++j) {
        sum += got[j];
        if (!first.empty()) worst = std::max(worst, double(std::abs(got[j] - first[j])));
      }
      if (first.empty()) first = got;
      BenchResult r;
      r.name = name;
      r.shape = {{"n_q", n_q}, {"n_kv", n_kv}, {"d", d}, {"T", t}, {"window", window}, {"heads", heads.size()},
                 {"key_lanes", lanes}, {"merge_stats_in_pool", v.merge}};
      r.median_us = timing.median_us;
      r.min_us = timing.min_us;
      r.max_us = timing.max_us;
      r.bytes = double(kv_heads_read) * t * d * 2;  // the K rows of the KV heads the listed heads use
      // Every window row's probabilities sum to 1 over its keys, so the unpooled scores sum to about W; the pooled
      // mean (avg of 5, zero padding) keeps that sum up to the edges.
      r.checked = std::abs(sum - window) < 0.05 * window && worst <= 1e-6;
      r.check = "pooled scores sum to about W; every variant agrees with the first to 1e-6";
      results.push_back(r);
    }
  }
  return results;
}

}  // namespace ckv::bench
