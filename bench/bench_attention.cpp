// Prefill (causal, GQA) and decode attention on Llama-3.1-8B shapes (32 q heads, 8 KV heads, d = 128, f16 KV).
// Each case checks output rows against a double-precision CPU computation before it reports a time.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <cstdio>
#include <optional>

#include "bench.hpp"
#include "bench_data.hpp"
#include "engine/ops/attention_decode.hpp"
#include "engine/ops/attention_prefill.hpp"

namespace ckv::bench {

namespace {

struct AttnShape {
  uint32_t n_q, n_kv, d, t;
};

// Attention of one query row against keys 0..visible-1 of its KV head (double precision).
std::vector<double> reference_row(const std::vector<float>& q_row, const std::vector<float>& k,
                                  const std::vector<float>& v, uint32_t g, uint32_t capacity, uint32_t d,
                                  uint32_t visible) {
  std::vector<double> logits(visible);
  double max_logit = -1e300;
  for (uint32_t j = 0; j < visible; ++j) {
    double dot = 0;
    for (uint32_t c = 0; c < d; ++c)
      dot += double(q_row[c]) * double(round_to_half(k[(size_t(g) * capacity + j) * d + c]));
    logits[j] = dot / std::sqrt(double(d));
    max_logit = std::max(max_logit, logits[j]);
  }
  double sum = 0;
  for (auto& l : logits) sum += (l = std::exp(l - max_logit));
  std::vector<double> out(d, 0.0);
  for (uint32_t j = 0; j < visible; ++j)
    for (uint32_t c = 0; c < d; ++c) out[c] += logits[j] / sum * double(round_to_half(v[(size_t(g) * capacity + j) * d + c]));
  return out;
}

double max_error(const std::vector<float>& got, const std::vector<double>& want) {
  double e = 0;
  for (size_t i = 0; i < want.size(); ++i) e = std::max(e, std::abs(double(got[i]) - want[i]));
  return e;
}

constexpr double kF16Tolerance = 5e-3;  // f16 K/V rounding is in the reference; this bounds fp32 accumulation
// The tensor-core kernel also rounds Q (scaled) and the softmax numerators P to f16 (relative 2^-11 each); with
// |v| <= 1 and outputs that are convex combinations of V, the expected error is a few 1e-4: 5e-3 leaves 10x margin
// and still catches a wrong mask, tile or stride (those give errors of order 0.1).
constexpr double kCoopMatTolerance = 5e-3;

// The stage profile's clocks summed over every subgroup: each stage's share of all cycles, and the cycles of a
// subgroup per stage on average, into r.metrics. The check also requires that the two matrix-product stages ran.
void record_stage_shares(vk::Context& ctx, const ops::PrefillAttentionParams& p,
                         const ops::PrefillAttentionCoopMatTiles& tiles, const vk::Buffer& clocks, BenchResult& r) {
  const auto& names = ops::prefill_attention_coopmat_stage_names();
  const uint64_t words = ops::prefill_attention_coopmat_profile_words(p, tiles);
  const auto cycles = vk::download<uint32_t>(ctx.device(), clocks, words);
  std::vector<double> per_stage(names.size(), 0.0);
  for (uint64_t i = 0; i < words; ++i) per_stage[i % names.size()] += cycles[i];
  double total = 0;
  for (double c : per_stage) total += c;
  const double subgroups = double(words / names.size());
  for (size_t st = 0; st < names.size(); ++st) {
    r.metrics["stage_share_" + names[st]] = total > 0 ? per_stage[st] / total : 0.0;
    r.metrics["stage_cycles_per_subgroup_" + names[st]] = per_stage[st] / subgroups;
  }
  const bool ran = per_stage[2] > 0 && per_stage[4] > 0;  // qk and pv
  r.checked = r.checked && ran;
  r.check += ran ? "; stage clocks recorded" : "; stage clocks missing";
}

}  // namespace

std::vector<BenchResult> bench_prefill_attention(vk::Context& ctx, const BenchOptions& options) {
  const std::vector<AttnShape> shapes = options.preset == Preset::Gpu
                                            ? std::vector<AttnShape>{{32, 8, 128, 4096}, {32, 8, 128, 16384}, {32, 8, 128, 32768}}
                                            : std::vector<AttnShape>{{8, 2, 64, 256}};
  const vk::DeviceInfo& info = ctx.device().info();
  std::vector<BenchResult> results;
  for (const AttnShape& s : shapes) {
    // The scalar kernel always runs (it is the reference for the tensor-core cases); the tensor-core kernel runs with
    // the tiles record_prefill_attention would choose and, at the first shape, with every other candidate too.
    struct Case {
      std::string name;
      std::optional<ops::PrefillAttentionCoopMatTiles> tiles;  // nullopt: the scalar kernel
      bool stages = false;  // the chosen tiles' stage-profiling variant (shader clocks per stage in the metrics)
    };
    const std::string t_text = " T=" + std::to_string(s.t);
    std::vector<Case> cases{{"prefill attention" + t_text, std::nullopt}};
    const ops::CoopMatLayouts layouts = ops::prefill_attention_coopmat_layouts(ctx);
    const auto chosen = ops::choose_prefill_attention_coopmat_tiles(info, s.d, s.t, KvDtype::F16, layouts);
    if (chosen) {
      cases.push_back({"prefill attention coopmat" + t_text, chosen});
      if (const auto why = ops::prefill_attention_coopmat_profile_unsupported(info, *chosen, s.d))
        std::fprintf(stderr, "prefill attention coopmat stages%s: skipped, %s\n", t_text.c_str(), why->c_str());
      else
        cases.push_back({"prefill attention coopmat stages" + t_text, chosen, true});
      if (&s == &shapes.front())
        for (const auto& t : ops::prefill_attention_coopmat_candidates(info, s.d, KvDtype::F16, layouts))
          if (t.name() != chosen->name())
            cases.push_back({"prefill attention coopmat " + t.name() + t_text, t});
    } else if (const auto why = ops::prefill_attention_coopmat_unsupported(info, s.d, KvDtype::F16)) {
      std::fprintf(stderr, "prefill attention coopmat%s: skipped, %s\n", t_text.c_str(), why->c_str());
    }
    bool any_selected = false;
    for (const Case& c : cases) any_selected |= options.filter.empty() || c.name.find(options.filter) != std::string::npos;
    if (!any_selected) continue;

    const auto q = bench_random(size_t(s.n_q) * s.t * s.d, 1);
    const auto k = bench_random(size_t(s.n_kv) * s.t * s.d, 2);
    const auto v = bench_random(size_t(s.n_kv) * s.t * s.d, 3);
    vk::Buffer qb = device_buffer(ctx, q, "bench q");
    vk::Buffer kb = device_buffer(ctx, pack_f16(k), "bench k");
    vk::Buffer vb = device_buffer(ctx, pack_f16(v), "bench v");
    const size_t o_count = size_t(s.n_q) * s.t * s.d;
    vk::Buffer ob(ctx.device(), o_count * 4, vk::MemoryKind::DeviceLocal, "bench o");
    ops::PrefillAttentionParams p;
    p.n_q = s.n_q;
    p.n_kv = s.n_kv;
    p.head_dim = s.d;
    p.t_q = s.t;
    p.q_offset = 0;
    p.kv_length = s.t;
    p.kv_capacity = s.t;
    p.q_head_stride = s.t * s.d;
    p.q_token_stride = s.d;
    p.o_token_stride = s.n_q * s.d;
    p.o_head_stride = s.d;
    p.scale = 1.0f / std::sqrt(float(s.d));
    p.path = ops::PrefillAttentionPath::Scalar;

    std::optional<vk::Buffer> clocks;  // the stage profile's, made by the first stages case
    std::vector<float> scalar_out;  // the whole output of the scalar kernel, once the first case ran
    const auto run_scalar_once = [&] {
      if (!scalar_out.empty()) return;
      vk::CommandStream st(ctx.device());
      ops::record_prefill_attention(ctx, st, p, qb, kb, vb, ob);
      st.submit_and_wait();
      scalar_out = vk::download<float>(ctx.device(), ob, o_count);
    };
    for (const Case& c : cases) {
      if (!options.filter.empty() && c.name.find(options.filter) == std::string::npos) continue;
      if (c.tiles) run_scalar_once();
      if (c.stages && !clocks)
        clocks.emplace(ctx.device(), ops::prefill_attention_coopmat_profile_words(p, *c.tiles) * 4,
                       vk::MemoryKind::DeviceLocal, "bench stage clocks");
      const auto record = [&](vk::CommandStream& st) {
        if (c.stages)
          ops::record_prefill_attention_stage_profile(ctx, st, p, *c.tiles, qb, kb, vb, ob, *clocks);
        else if (c.tiles)
          ops::record_prefill_attention(ctx, st, p, *c.tiles, qb, kb, vb, ob);
        else
          ops::record_prefill_attention(ctx, st, p, qb, kb, vb, ob);
      };
      const Timing t = time_on_gpu(ctx, record, options.warmup, options.repeats);
      // Three rows against fp64: the first and last query of the last head, and a middle one of head 0.
      double err = 0;
      const uint32_t group = s.n_q / s.n_kv;
      for (auto [h, i] : {std::pair<uint32_t, uint32_t>{s.n_q - 1, 0}, {s.n_q - 1, s.t - 1}, {0, s.t / 2 + 1}}) {
        std::vector<float> q_row(q.begin() + (size_t(h) * s.t + i) * s.d, q.begin() + (size_t(h) * s.t + i + 1) * s.d);
        const auto want = reference_row(q_row, k, v, h / group, s.t, s.d, i + 1);
        const auto got = vk::download<float>(ctx.device(), ob, s.d, (size_t(i) * s.n_q + h) * s.d * 4);
        err = std::max(err, max_error(got, want));
      }
      BenchResult r;
      r.name = c.name;
      r.shape = {{"n_q", s.n_q}, {"n_kv", s.n_kv}, {"d", s.d}, {"T", s.t}, {"kv", "f16"}, {"causal", true}};
      r.median_us = t.median_us;
      r.min_us = t.min_us;
      r.max_us = t.max_us;
      r.flops = 2.0 * s.n_q * double(s.d) * double(s.t) * double(s.t);  // 4·n_q·d·T²/2: QKᵀ and PV, causal half
      r.bytes = double(q.size()) * 4 * 2 + double(k.size()) * 2 * 2;
      r.metrics["max_abs_err_vs_fp64_rows"] = err;
      if (!c.tiles) {
        r.shape["path"] = "scalar";
        r.checked = err < kF16Tolerance;
        r.check = "3 output rows vs fp64, max abs err " + std::to_string(err);
      } else {
        // The whole output against the scalar kernel's: Q and P are rounded to f16 on this path.
        const auto got = vk::download<float>(ctx.device(), ob, o_count);
        double diff = 0;
        bool finite = true;
        for (size_t i = 0; i < o_count; ++i) {
          finite &= std::isfinite(got[i]);
          diff = std::max(diff, std::abs(double(got[i]) - double(scalar_out[i])));
        }
        r.shape["path"] = "coopmat";
        r.shape["tiles"] = c.tiles->name();
        r.metrics["max_abs_diff_vs_scalar"] = diff;
        r.metrics["tolerance_vs_scalar"] = kCoopMatTolerance;
        r.checked = finite && diff <= kCoopMatTolerance && err < kCoopMatTolerance;
        r.check = "all outputs vs scalar kernel, max abs diff " + std::to_string(diff) + (finite ? "" : " (non-finite)") +
                  " (tolerance " + std::to_string(kCoopMatTolerance) + "); 3 rows vs fp64 " + std::to_string(err);
      }
      if (c.stages) record_stage_shares(ctx, p, *c.tiles, *clocks, r);
      results.push_back(r);
    }
  }
  return results;
}

namespace {

// One new query per head against a full cache of s.t keys, f16.
ops::DecodeAttentionParams decode_params(const AttnShape& s, uint32_t chunk_size) {
  ops::DecodeAttentionParams p;
  p.n_q = s.n_q;
  p.n_kv = s.n_kv;
  p.head_dim = s.d;
  p.kv_length = s.t;
  p.kv_capacity = s.t;
  p.scale = 1.0f / std::sqrt(float(s.d));
  p.chunk_size = chunk_size;
  return p;
}

struct DecodeCase {
  AttnShape s;
  std::vector<float> q, k, v;
  vk::Buffer qb, ob, scratch;
  std::vector<vk::Buffer> kb, vb;  // identical copies
  ops::DecodeAttentionParams p;

  DecodeCase(vk::Context& ctx, const AttnShape& shape, bool rotate, uint32_t chunk_size)
      : s(shape),
        q(bench_random(size_t(s.n_q) * s.d, 4)),
        k(bench_random(size_t(s.n_kv) * s.t * s.d, 5)),
        v(bench_random(size_t(s.n_kv) * s.t * s.d, 6)),
        qb(device_buffer(ctx, q, "bench q")),
        ob(ctx.device(), size_t(s.n_q) * s.d * 4, vk::MemoryKind::DeviceLocal, "bench o"),
        scratch(ctx.device(), 16, vk::MemoryKind::DeviceLocal, "bench scratch placeholder"),
        p(decode_params(s, chunk_size)) {
    const auto k16 = pack_f16(k), v16 = pack_f16(v);
    const uint64_t kv_bytes = uint64_t(k16.size() + v16.size()) * 4;
    const size_t copies = rotation_copies(kv_bytes, rotate);
    for (size_t c = 0; c < copies; ++c) {
      kb.push_back(device_buffer(ctx, k16, "bench k"));
      vb.push_back(device_buffer(ctx, v16, "bench v"));
    }
    resize_scratch(ctx);
  }
  void resize_scratch(vk::Context& ctx) {
    scratch = vk::Buffer(ctx.device(), ops::decode_attention_scratch_bytes(p), vk::MemoryKind::DeviceLocal,
                         "bench scratch");
    vk::CommandStream zero(ctx.device(), 0);
    zero.fill(scratch, 0);  // the arrival counters start at zero
    zero.submit_and_wait();
  }

  // Times the kernel (with `shape` when given), cycling through the K/V copies, and checks two heads' outputs.
  BenchResult run(vk::Context& ctx, const BenchOptions& options, const std::string& name,
                  const ops::DecodeAttentionShape* shape) {
    size_t next = 0;
    const Timing t = time_on_gpu(
        ctx,
        [&](vk::CommandStream& st) {
          const size_t c = next++ % kb.size();
          if (shape)
            ops::record_decode_attention(ctx, st, p, *shape, qb, kb[c], vb[c], scratch, ob);
          else
            ops::record_decode_attention(ctx, st, p, qb, kb[c], vb[c], scratch, ob);
        },
        options.warmup, options.repeats);
    const auto got = vk::download<float>(ctx.device(), ob, size_t(s.n_q) * s.d);
    double err = 0;
    const uint32_t group = s.n_q / s.n_kv;
    for (uint32_t h : {0u, s.n_q - 1}) {
      std::vector<float> q_row(q.begin() + size_t(h) * s.d, q.begin() + size_t(h + 1) * s.d);
      const auto want = reference_row(q_row, k, v, h / group, s.t, s.d, s.t);
      err = std::max(err, max_error(std::vector<float>(got.begin() + size_t(h) * s.d, got.begin() + size_t(h + 1) * s.d), want));
    }
    const ops::DecodeAttentionShape used = shape ? *shape : ops::choose_decode_attention_shape(ctx.device().info(), p);
    BenchResult r;
    r.name = name;
    r.shape = {{"n_q", s.n_q}, {"n_kv", s.n_kv}, {"d", s.d}, {"kv_length", s.t}, {"kv", "f16"},
               {"chunk", ops::decode_attention_chunk_size(p)}, {"chunks", ops::decode_attention_chunks(p)},
               {"lanes", used.lanes}, {"rows_per_team", used.rows_per_team}, {"workgroup", used.workgroup},
               {"interleaved", used.interleaved}, {"kv_copies", kb.size()}};
    r.median_us = t.median_us;
    r.min_us = t.min_us;
    r.max_us = t.max_us;
    r.bytes = double(k.size()) * 2 * 2;  // K and V read once
    r.flops = 4.0 * s.n_q * double(s.d) * s.t;
    r.checked = err < kF16Tolerance;
    r.check = "2 heads vs fp64, max abs err " + std::to_string(err);
    return r;
  }
};

}  // namespace

std::vector<BenchResult> bench_decode_attention(vk::Context& ctx, const BenchOptions& options) {
  const bool gpu = options.preset == Preset::Gpu;
  const std::vector<AttnShape> shapes =
      gpu ? std::vector<AttnShape>{{32, 8, 128, 512}, {32, 8, 128, 4096}, {32, 8, 128, 16384}, {32, 8, 128, 32768}, {32, 8, 128, 131072}}
          : std::vector<AttnShape>{{8, 2, 64, 4096}};
  std::vector<BenchResult> results;
  auto wanted = [&](const std::string& name) {
    return options.filter.empty() || name.find(options.filter) != std::string::npos;
  };
  for (const AttnShape& s : shapes) {
    const std::string name = "decode attention L=" + std::to_string(s.t);
    // The default shape, then the same buffers with each chunk one run of rows, as before interleaving (each case
    // filtered on its own name, so that either can run first in a process of its own).
    std::vector<std::pair<std::string, std::optional<ops::DecodeAttentionShape>>> variants = {{name, std::nullopt}};
    ops::DecodeAttentionShape two_passes = ops::choose_decode_attention_shape(ctx.device().info(), decode_params(s, 0));
    two_passes.merge_in_split = false;  // the separate reduce pass, as before the merge moved into the split pass
    variants.push_back({name + " two passes", two_passes});
    if (s.t >= 32768) {
      ops::DecodeAttentionShape contiguous =
          ops::choose_decode_attention_shape(ctx.device().info(), decode_params(s, 0));
      contiguous.interleaved = false;
      variants.push_back({name + " contiguous chunks", contiguous});
    }
    if (std::none_of(variants.begin(), variants.end(), [&](const auto& v) { return wanted(v.first); })) continue;
    DecodeCase c(ctx, s, gpu, 0);
    for (const auto& [case_name, shape] : variants)
      if (wanted(case_name)) results.push_back(c.run(ctx, options, case_name, shape ? &*shape : nullptr));
  }
  return results;
}

// Split shapes and chunk sizes around the default at one long context, and chunk sizes alone (default split
// shape) at 512 (a CompressKV cache), 32 K and 128 K (GPU preset only): which ones a device wants.
std::vector<BenchResult> bench_decode_sweep(vk::Context& ctx, const BenchOptions& options) {
  std::vector<BenchResult> results;
  if (options.preset != Preset::Gpu) return results;
  auto wanted = [&](const std::string& prefix) {
    return options.filter.empty() || prefix.find(options.filter) != std::string::npos;
  };
  const std::string shapes_prefix = "decode sweep L=32768";
  if (wanted(shapes_prefix)) {
    DecodeCase c(ctx, {32, 8, 128, 32768}, true, 0);
    for (uint32_t chunk : {128u, 256u, 512u, 1024u}) {
      c.p.chunk_size = chunk;
      c.resize_scratch(ctx);
      for (uint32_t workgroup : {64u, 128u, 256u})
        for (uint32_t lanes : {4u, 8u, 16u})
          for (uint32_t rows : {1u, 2u, 4u}) {
            ops::DecodeAttentionShape shape;
            shape.workgroup = workgroup;
            shape.lanes = lanes;
            shape.rows_per_team = rows;
            shape.shuffle = ctx.device().info().subgroup_shuffle && lanes <= ctx.device().info().min_subgroup_size;
            const std::string name = shapes_prefix + " chunk=" + std::to_string(chunk) + " wg=" +
                                     std::to_string(workgroup) + " lanes=" + std::to_string(lanes) +
                                     " rows=" + std::to_string(rows);
            try {
              results.push_back(c.run(ctx, options, name, &shape));
            } catch (const std::invalid_argument&) {
              // a shape this device cannot run; the sweep covers the others
            }
          }
    }
  }
  // L = 512 is a CompressKV cache at budget 512; chunks longer than L are left out.
  for (uint32_t length : {512u, 32768u, 131072u}) {
    const std::string chunks_prefix = "decode chunks L=" + std::to_string(length);
    if (!wanted(chunks_prefix)) continue;
    DecodeCase c(ctx, {32, 8, 128, length}, true, 0);
    for (uint32_t chunk : {16u, 32u, 64u, 128u, 256u, 512u, 1024u, 4096u}) {
      if (chunk > length || (length > 512 && chunk < 64)) continue;
      c.p.chunk_size = chunk;
      c.resize_scratch(ctx);
      results.push_back(c.run(ctx, options, chunks_prefix + " chunk=" + std::to_string(chunk), nullptr));
    }
  }
  return results;
}

}  // namespace ckv::bench
