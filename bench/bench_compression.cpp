// The compression step of one layer (window scores over the retrieval heads, pooling + mean, top-k, gather of K
// and V), at Llama-3.1-8B attention shapes. Planted needle keys must be selected before a time is reported.
#include <algorithm>
#include <cmath>

#include "bench.hpp"
#include "bench_data.hpp"
#include "engine/ops/gather_rows.hpp"
#include "engine/token_selector.hpp"

namespace ckv::bench {

namespace {

struct CompressCase {
  KvPolicy policy;
  uint32_t n_q, n_kv, d, t, budget;
};

}  // namespace

std::vector<BenchResult> bench_compression(vk::Context& ctx, const BenchOptions& options) {
  const std::vector<CompressCase> cases =
      options.preset == Preset::Gpu
          ? std::vector<CompressCase>{{KvPolicy::CompressKV, 32, 8, 128, 4096, 512},
                                      {KvPolicy::CompressKV, 32, 8, 128, 32768, 512},
                                      {KvPolicy::CompressKV, 32, 8, 128, 131072, 512},
                                      {KvPolicy::SnapKV, 32, 8, 128, 32768, 512}}
          : std::vector<CompressCase>{{KvPolicy::CompressKV, 8, 2, 64, 4096, 128}, {KvPolicy::SnapKV, 8, 2, 64, 4096, 128}};
  constexpr uint32_t kWindow = 8;
  std::vector<BenchResult> results;
  for (const CompressCase& c : cases) {
    const std::string name = std::string("compress layer ") + kv_policy_name(c.policy) + " T=" + std::to_string(c.t);
    if (!options.filter.empty() && name.find(options.filter) == std::string::npos) continue;
    // Needles: every window query leans along one direction u, and the needle keys point along u, so every
    // scored head ranks them first whatever its random part.
    auto queries = bench_random(size_t(c.n_q) * kWindow * c.d, 7);
    auto keys = bench_random(size_t(c.n_kv) * c.t * c.d, 8);
    const auto u = bench_random(c.d, 9);
    double norm = 0;
    for (float x : u) norm += double(x) * x;
    const float unit = float(1.0 / std::sqrt(norm));
    for (size_t i = 0; i < queries.size(); ++i) queries[i] = 0.25f * queries[i] + 2.0f * u[i % c.d] * unit;
    const std::vector<uint32_t> needles = {c.t / 7, c.t / 2, c.t - 100};
    for (uint32_t g = 0; g < c.n_kv; ++g)
      for (uint32_t n : needles)
        for (uint32_t i = 0; i < c.d; ++i) keys[(size_t(g) * c.t + n) * c.d + i] = 16.0f * u[i] * unit;

    LayerKv layer;
    layer.capacity = layer.length = layer.positions = c.t;
    const auto packed = pack_f16(keys);
    layer.k = std::make_unique<vk::Buffer>(device_buffer(ctx, packed, "bench k"));
    layer.v = std::make_unique<vk::Buffer>(device_buffer(ctx, packed, "bench v"));
    vk::Buffer window_queries = device_buffer(ctx, queries, "bench window queries");
    const uint64_t rows_bytes = uint64_t(c.n_kv) * c.budget * c.d * 2;
    vk::Buffer k_out(ctx.device(), rows_bytes, vk::MemoryKind::DeviceLocal, "bench k compacted");
    vk::Buffer v_out(ctx.device(), rows_bytes, vk::MemoryKind::DeviceLocal, "bench v compacted");

    CompressionConfig config;
    config.policy = c.policy;
    config.window = kWindow;
    config.retrieval_heads = {{c.n_q - 1, 1, c.n_q / 2, 2}};
    TokenSelector selector(ctx, AttentionShape{1, c.n_q, c.n_kv, c.d, KvDtype::F16}, config);
    selector.reserve(c.t, c.budget);
    Selection selection;
    auto record = [&](vk::CommandStream& st) {
      selection = selector.record(st, 0, c.budget, c.t, window_queries, layer);
      ops::GatherParams gp{c.n_kv, c.d / 2, c.t, c.budget, c.budget, selection.index_rows};
      const vk::IndependentCommands k_and_v(st);  // as in KvCache::compact
      ops::record_gather_rows(ctx, st, gp, *layer.k, *selection.indices, k_out);
      ops::record_gather_rows(ctx, st, gp, *layer.v, *selection.indices, v_out);
    };
    const Timing t = time_on_gpu(ctx, record, options.warmup, options.repeats);

    const auto idx = vk::download<uint32_t>(ctx.device(), *selection.indices, size_t(selection.index_rows) * c.budget);
    bool ok = true;
    for (uint32_t r = 0; r < selection.index_rows; ++r) {
      const auto first = idx.begin() + size_t(r) * c.budget, last = first + c.budget;
      ok = ok && std::adjacent_find(first, last, std::greater_equal<uint32_t>()) == last && *(last - 1) == c.t - 1;
      for (uint32_t n : needles) ok = ok && std::find(first, last, n) != last;
    }
    // One gathered row must equal its source row bit for bit.
    const auto pos = std::find(idx.begin(), idx.begin() + c.budget, needles[1]) - idx.begin();
    const auto row = vk::download<uint32_t>(ctx.device(), k_out, c.d / 2, uint64_t(pos) * c.d * 2);
    ok = ok && std::equal(row.begin(), row.end(), packed.begin() + size_t(needles[1]) * c.d / 2);

    BenchResult r;
    r.name = name;
    r.shape = {{"n_q", c.n_q}, {"n_kv", c.n_kv}, {"d", c.d}, {"T", c.t}, {"budget", c.budget}, {"window", kWindow},
               {"heads", c.policy == KvPolicy::CompressKV ? 4 : c.n_q}};
    r.median_us = t.median_us;
    r.min_us = t.min_us;
    r.max_us = t.max_us;
    // Data that must be read: K of the KV heads that are scored, plus the kept K/V rows read and written.
    const uint32_t kv_heads_read = c.policy == KvPolicy::CompressKV ? std::min<uint32_t>(4, c.n_kv) : c.n_kv;
    r.bytes = double(kv_heads_read) * c.t * c.d * 2 + 2.0 * 2 * rows_bytes;
    r.checked = ok;
    r.check = "needles selected, indices ascending, gathered row bit-exact";
    results.push_back(r);
  }
  return results;
}

}  // namespace ckv::bench
