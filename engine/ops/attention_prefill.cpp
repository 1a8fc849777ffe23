#include "attention_prefill.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/pipelines.hpp"
#include "shader_registry.hpp"

namespace ckv::ops {

namespace {

constexpr uint32_t kWorkgroup = 128;
constexpr uint32_t kMaxHeadDim = 256;
// Tiles use at most this much shared memory even where a device offers more, so that several workgroups share a
// compute unit (AMD: 64 KiB of LDS per CU) and hide each other's global loads and barriers.
constexpr uint32_t kSharedBudget = 48 * 1024;
constexpr uint32_t kMaxOutputRegisters = 32;  // output floats per thread
constexpr uint32_t kMaxScoreRegisters = 16;   // scores per thread
constexpr uint32_t kMaxRowsPerThread = 4;     // MAX_RPT of the shader
constexpr uint32_t kMaxBlock = 8;             // MAX_KPT, MAX_CPT of the shader

// Must match the shared arrays of attention_prefill.comp (vec4 rows padded by one vec4).
uint32_t shared_bytes(uint32_t d, uint32_t rows, uint32_t keys, uint32_t key_threads) {
  const uint32_t d4 = (d + 3) / 4;
  const uint32_t col_groups_per_thread = (d4 + key_threads - 1) / key_threads;
  const uint32_t vec4s = rows * (d4 + 1) + keys * (col_groups_per_thread * key_threads + 1) + 2 * rows * (keys / 4 + 1);
  return vec4s * 16;
}

// vec4 reads from shared memory per useful multiply-add in the score and output steps (lower is better).
double reads_per_fma(uint32_t d, uint32_t rows_per_thread, uint32_t keys_per_thread, uint32_t col_groups_per_thread,
                     uint32_t key_threads) {
  const double r = rows_per_thread, k = keys_per_thread, c = col_groups_per_thread;
  const double scores = (r + k) / (4 * r * k);
  const double output = (r + 4 * c) / (16 * r * c) * (4 * c * key_threads) / d;  // columns past d are wasted
  return scores + output;
}

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("prefill attention: " + what); }

std::string str(uint64_t x) { return std::to_string(x); }

// Bytes a tensor of count_a x count_b rows of d floats spans, given the row strides (in floats).
uint64_t strided_bytes(uint32_t count_a, uint32_t stride_a, uint32_t count_b, uint32_t stride_b, uint32_t d) {
  return (uint64_t(count_a - 1) * stride_a + uint64_t(count_b - 1) * stride_b + d) * 4;
}

// Rows of d floats at (a * stride_a + b * stride_b) must not overlap, or the kernel would race on them.
bool rows_disjoint(uint32_t count_a, uint32_t stride_a, uint32_t count_b, uint32_t stride_b, uint32_t d) {
  if (count_a == 1) stride_a = 0;
  if (count_b == 1) stride_b = 0;
  if (stride_a > stride_b) {
    std::swap(stride_a, stride_b);
    std::swap(count_a, count_b);
  }
  // Now stride_a <= stride_b: the inner dimension must step past a row, the outer past the inner block.
  const bool inner_ok = count_a == 1 || stride_a >= d;
  const bool outer_ok = count_b == 1 || uint64_t(stride_b) >= uint64_t(count_a - 1) * stride_a + d;
  return inner_ok && outer_ok;
}

void validate(const PrefillAttentionParams& p, const vk::BufferRange& q, const vk::BufferRange& k,
              const vk::BufferRange& v, const vk::BufferRange& o) {
  if (p.n_q == 0 || p.n_kv == 0) fail("n_q and n_kv must be positive (got " + str(p.n_q) + ", " + str(p.n_kv) + ")");
  if (p.n_q % p.n_kv) fail("n_q (" + str(p.n_q) + ") must be a multiple of n_kv (" + str(p.n_kv) + ")");
  if (p.head_dim == 0 || p.head_dim % 2 || p.head_dim > kMaxHeadDim)
    fail("head_dim must be even and in 2.." + str(kMaxHeadDim) + " (got " + str(p.head_dim) + ")");
  if (p.t_q == 0) fail("t_q must be positive");
  if (p.kv_length > p.kv_capacity)
    fail("kv_length (" + str(p.kv_length) + ") exceeds kv_capacity (" + str(p.kv_capacity) + ")");
  if (uint64_t(p.q_offset) + p.t_q > p.kv_length)
    fail("q_offset + t_q (" + str(uint64_t(p.q_offset) + p.t_q) + ") exceeds kv_length (" + str(p.kv_length) +
         "): the chunk's own keys must be in the cache");
  if (!std::isfinite(p.scale)) fail("scale must be finite");
  if (!rows_disjoint(p.n_q, p.o_head_stride, p.t_q, p.o_token_stride, p.head_dim))
    fail("output strides (token " + str(p.o_token_stride) + ", head " + str(p.o_head_stride) +
         ") make output rows of head_dim " + str(p.head_dim) + " overlap");

  const uint64_t q_need = strided_bytes(p.n_q, p.q_head_stride, p.t_q, p.q_token_stride, p.head_dim);
  const uint64_t o_need = strided_bytes(p.n_q, p.o_head_stride, p.t_q, p.o_token_stride, p.head_dim);
  const uint64_t kv_need = uint64_t(p.n_kv) * p.kv_capacity * p.head_dim * kv_dtype_bytes(p.kv_dtype);
  const auto check_size = [](const vk::BufferRange& range, uint64_t need, const char* name) {
    if (!range.buffer) fail(std::string(name) + ": no buffer");
    if (range.bytes() < need)
      fail(std::string(name) + " needs " + str(need) + " bytes, the range has " + str(range.bytes()));
  };
  check_size(q, q_need, "Q");
  check_size(k, kv_need, "K");
  check_size(v, kv_need, "V");
  check_size(o, o_need, "O");
  // The shader indexes elements with 32-bit integers.
  const uint64_t max_index = uint64_t(UINT32_MAX) * 4;
  if (q_need > max_index || o_need > max_index || kv_need > max_index) fail("tensors beyond 2^32 elements");
}

// The push constants of both kernels.
struct Push {
  uint32_t heads_per_kv, t_q, q_offset, kv_length, capacity;
  uint32_t q_head_stride, q_token_stride, o_token_stride, o_head_stride;
  float scale;
};

Push push_for(const PrefillAttentionParams& p) {
  return {.heads_per_kv = p.n_q / p.n_kv,
          .t_q = p.t_q,
          .q_offset = p.q_offset,
          .kv_length = p.kv_length,
          .capacity = p.kv_capacity,
          .q_head_stride = p.q_head_stride,
          .q_token_stride = p.q_token_stride,
          .o_token_stride = p.o_token_stride,
          .o_head_stride = p.o_head_stride,
          .scale = p.scale};
}

void record_validated(vk::Context& ctx, vk::CommandStream& stream, const PrefillAttentionParams& p,
                      const PrefillAttentionTiles& tiles, const vk::BufferRange& q, const vk::BufferRange& k,
                      const vk::BufferRange& v, const vk::BufferRange& o) {
  const Push push = push_for(p);
  const char* variant = p.kv_dtype == KvDtype::F16 ? "attention_prefill_f16" : "attention_prefill_f32";
  const auto& pipeline =
      shader_pipeline(ctx, variant, 4, sizeof(Push),
                      {tiles.workgroup, p.head_dim, tiles.query_rows, tiles.key_cols, tiles.key_threads});
  const uint32_t query_tiles = (p.t_q + tiles.query_rows - 1) / tiles.query_rows;
  stream.dispatch(pipeline, {q, k, v, o}, push, query_tiles, p.n_q);
}

uint32_t coopmat_query_tiles(const PrefillAttentionParams& p, const PrefillAttentionCoopMatTiles& tiles) {
  return (p.t_q + tiles.query_rows() - 1) / tiles.query_rows();
}

// `clocks` set: the stage-profiling variant, with the clocks buffer as binding 4.
void record_validated(vk::Context& ctx, vk::CommandStream& stream, const PrefillAttentionParams& p,
                      const PrefillAttentionCoopMatTiles& tiles, const vk::BufferRange& q, const vk::BufferRange& k,
                      const vk::BufferRange& v, const vk::BufferRange& o,
                      const vk::BufferRange* clocks = nullptr) {
  const Push push = push_for(p);
  std::string variant = prefill_attention_coopmat_variant(tiles, p.head_dim);
  if (clocks) variant += "_profile";
  const auto& pipeline = shader_pipeline(ctx, variant, clocks ? 5 : 4, sizeof(Push), {32 * tiles.subgroups},
                                         tiles.required_subgroup_size);
  if (clocks)
    stream.dispatch(pipeline, {q, k, v, o, *clocks}, push, coopmat_query_tiles(p, tiles), p.n_q);
  else
    stream.dispatch(pipeline, {q, k, v, o}, push, coopmat_query_tiles(p, tiles), p.n_q);
}

// The kernel reads K and V as 16-byte vectors from the start of each range.
void validate_coopmat_ranges(const vk::BufferRange& k, const vk::BufferRange& v) {
  if (k.offset % 16 || v.offset % 16)
    fail("the tensor-core kernel needs K and V ranges at 16-byte offsets (got " + str(k.offset) + ", " +
         str(v.offset) + ")");
}

}  // namespace

bool prefill_attention_scalar_forced() {
  static const bool forced = [] {
    const char* env = std::getenv("CKV_PREFILL_ATTENTION");
    return env && std::string(env) == "scalar";
  }();
  return forced;
}

std::vector<PrefillAttentionTiles> prefill_attention_tile_candidates(uint32_t head_dim, uint32_t shared_memory_bytes) {
  std::vector<PrefillAttentionTiles> tiles;
  for (uint32_t rows : {64u, 32u, 16u, 8u})
    for (uint32_t keys : {64u, 32u, 16u, 8u})
      for (uint32_t key_threads : {8u, 16u, 32u}) {
        const uint32_t row_threads = kWorkgroup / key_threads;
        if (rows % row_threads || keys % key_threads) continue;
        const uint32_t rows_per_thread = rows / row_threads, keys_per_thread = keys / key_threads;
        const uint32_t col_groups_per_thread = ((head_dim + 3) / 4 + key_threads - 1) / key_threads;
        if (rows_per_thread > kMaxRowsPerThread) continue;
        if (keys_per_thread > kMaxBlock || col_groups_per_thread > kMaxBlock) continue;
        if (rows_per_thread * col_groups_per_thread * 4 > kMaxOutputRegisters) continue;
        if (rows_per_thread * keys_per_thread > kMaxScoreRegisters) continue;
        const uint32_t bytes = shared_bytes(head_dim, rows, keys, key_threads);
        if (bytes <= shared_memory_bytes) tiles.push_back({kWorkgroup, rows, keys, key_threads, bytes});
      }
  return tiles;
}

PrefillAttentionTiles choose_prefill_attention_tiles(uint32_t head_dim, uint32_t t_q, uint32_t shared_memory_bytes) {
  // Taller query tiles reuse each staged key for more rows, but rows past the chunk are wasted work.
  const uint32_t row_cap = std::max<uint32_t>(16, std::bit_ceil(std::max<uint32_t>(t_q, 1)));
  const PrefillAttentionTiles* best = nullptr;
  double best_cost = 0;
  const std::vector<PrefillAttentionTiles> candidates =
      prefill_attention_tile_candidates(head_dim, shared_memory_bytes);
  for (const PrefillAttentionTiles& t : candidates) {
    if (t.query_rows > row_cap) continue;
    if (best && t.query_rows < best->query_rows) break;  // candidates come tallest first
    const uint32_t row_threads = t.workgroup / t.key_threads;
    const uint32_t col_groups_per_thread = ((head_dim + 3) / 4 + t.key_threads - 1) / t.key_threads;
    const double cost = reads_per_fma(head_dim, t.query_rows / row_threads, t.key_cols / t.key_threads,
                                      col_groups_per_thread, t.key_threads);
    if (!best || cost < best_cost) {
      best = &t;
      best_cost = cost;
    }
  }
  if (!best)
    fail("no tile fits head_dim " + str(head_dim) + " in " + str(shared_memory_bytes) + " bytes of shared memory");
  return *best;
}

void record_prefill_attention(vk::Context& ctx, vk::CommandStream& stream, const PrefillAttentionParams& p,
                              const vk::BufferRange& q, const vk::BufferRange& k, const vk::BufferRange& v,
                              const vk::BufferRange& o) {
  validate(p, q, k, v, o);
  const vk::DeviceInfo& info = ctx.device().info();
  if (prefill_attention_uses_coopmat(info, p)) {
    if (const auto why = prefill_attention_coopmat_unsupported(info, p.head_dim, p.kv_dtype))
      fail("the tensor-core kernel cannot run: " + *why);
    const auto tiles = choose_prefill_attention_coopmat_tiles(info, p.head_dim, p.t_q, p.kv_dtype,
                                                              prefill_attention_coopmat_layouts(ctx));
    if (!tiles) fail("no tensor-core tile fits " + str(info.shared_memory_bytes) + " bytes of shared memory");
    validate_coopmat_ranges(k, v);
    record_validated(ctx, stream, p, *tiles, q, k, v, o);
    return;
  }
  const uint32_t shared = std::min(info.shared_memory_bytes, kSharedBudget);
  record_validated(ctx, stream, p, choose_prefill_attention_tiles(p.head_dim, p.t_q, shared), q, k, v, o);
}

void record_prefill_attention(vk::Context& ctx, vk::CommandStream& stream, const PrefillAttentionParams& p,
                              const PrefillAttentionTiles& tiles, const vk::BufferRange& q, const vk::BufferRange& k,
                              const vk::BufferRange& v, const vk::BufferRange& o) {
  validate(p, q, k, v, o);
  const auto candidates = prefill_attention_tile_candidates(p.head_dim, ctx.device().info().shared_memory_bytes);
  const bool supported = std::any_of(candidates.begin(), candidates.end(), [&](const PrefillAttentionTiles& t) {
    return t.workgroup == tiles.workgroup && t.query_rows == tiles.query_rows && t.key_cols == tiles.key_cols &&
           t.key_threads == tiles.key_threads;
  });
  if (!supported)
    fail("tile " + str(tiles.query_rows) + "x" + str(tiles.key_cols) + " with " + str(tiles.key_threads) +
         " key threads is not supported for head_dim " + str(p.head_dim) + " on this device");
  record_validated(ctx, stream, p, tiles, q, k, v, o);
}

namespace {

void validate_coopmat_tiles(vk::Context& ctx, const PrefillAttentionParams& p,
                            const PrefillAttentionCoopMatTiles& tiles) {
  const vk::DeviceInfo& info = ctx.device().info();
  if (const auto why = prefill_attention_coopmat_unsupported(info, p.head_dim, p.kv_dtype))
    fail("the tensor-core kernel cannot run: " + *why);
  const auto candidates =
      prefill_attention_coopmat_candidates(info, p.head_dim, p.kv_dtype, prefill_attention_coopmat_layouts(ctx));
  const bool supported = std::any_of(candidates.begin(), candidates.end(), [&](const PrefillAttentionCoopMatTiles& t) {
    return t.khr == tiles.khr && t.subgroups == tiles.subgroups && t.key_cols == tiles.key_cols &&
           t.required_subgroup_size == tiles.required_subgroup_size && t.register_softmax == tiles.register_softmax;
  });
  if (!supported) fail("tensor-core tile " + tiles.name() + " is not supported for head_dim " + str(p.head_dim) +
                       " on this device");
}

}  // namespace

void record_prefill_attention(vk::Context& ctx, vk::CommandStream& stream, const PrefillAttentionParams& p,
                              const PrefillAttentionCoopMatTiles& tiles, const vk::BufferRange& q,
                              const vk::BufferRange& k, const vk::BufferRange& v, const vk::BufferRange& o) {
  validate(p, q, k, v, o);
  validate_coopmat_tiles(ctx, p, tiles);
  validate_coopmat_ranges(k, v);
  record_validated(ctx, stream, p, tiles, q, k, v, o);
}

const std::vector<std::string>& prefill_attention_coopmat_stage_names() {
  static const std::vector<std::string> names{"q", "stage_kv", "qk", "softmax", "pv", "output"};
  return names;
}

std::optional<std::string> prefill_attention_coopmat_profile_unsupported(const vk::DeviceInfo& info,
                                                                         const PrefillAttentionCoopMatTiles& tiles,
                                                                         uint32_t head_dim) {
  if (!info.subgroup_clock) return "the device has no subgroup shader clock (VK_KHR_shader_clock)";
  if (!shaders::has(prefill_attention_coopmat_variant(tiles, head_dim) + "_profile"))
    return "no profiling variant for head_dim " + str(head_dim) + " (built for 128)";
  return std::nullopt;
}

uint64_t prefill_attention_coopmat_profile_words(const PrefillAttentionParams& p,
                                                 const PrefillAttentionCoopMatTiles& tiles) {
  return uint64_t(coopmat_query_tiles(p, tiles)) * p.n_q * tiles.subgroups *
         prefill_attention_coopmat_stage_names().size();
}

void record_prefill_attention_stage_profile(vk::Context& ctx, vk::CommandStream& stream,
                                            const PrefillAttentionParams& p,
                                            const PrefillAttentionCoopMatTiles& tiles, const vk::BufferRange& q,
                                            const vk::BufferRange& k, const vk::BufferRange& v,
                                            const vk::BufferRange& o, const vk::BufferRange& clocks) {
  validate(p, q, k, v, o);
  validate_coopmat_tiles(ctx, p, tiles);
  validate_coopmat_ranges(k, v);
  if (const auto why = prefill_attention_coopmat_profile_unsupported(ctx.device().info(), tiles, p.head_dim))
    fail("the stage profile cannot run: " + *why);
  if (clocks.bytes() < prefill_attention_coopmat_profile_words(p, tiles) * 4)
    fail("the clocks buffer holds " + str(clocks.bytes()) + " bytes, the profile writes " +
         str(prefill_attention_coopmat_profile_words(p, tiles) * 4));
  record_validated(ctx, stream, p, tiles, q, k, v, o, &clocks);
}

}  // namespace ckv::ops
