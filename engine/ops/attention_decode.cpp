#include "attention_decode.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/pipelines.hpp"

namespace ckv::ops {

namespace {

constexpr uint32_t kMaxGroup = 8;             // query heads per KV head the split pass keeps in registers
constexpr uint32_t kMaxHeadDim = 256;
// Fewer, longer chunks with 4 rows per team per step: the best of the 108 split shapes swept at 32 K on an H200
// (bench/RESULTS.md run 3: 203 µs against 326 µs for 1024 workgroups and 2 rows).
constexpr uint32_t kTargetWorkgroups = 256;
constexpr uint32_t kDefaultRowsPerTeam = 4;
// Keeps the per-chunk merge and partials small next to the reads; at L = 512 (a CompressKV cache) chunks of 64 took
// 10.0 us against 11.2 for 128 and 12.5 for 16 (H200, RESULTS run 13).
constexpr uint32_t kMinChunk = 64;
constexpr uint32_t kChunkRounding = 64;
// Target floats of query slice (and as many of output) per thread. 32 (16 lanes, one 16-byte vector each per row at
// d = 128) with 256-thread workgroups: 45.3 us at 32 K on an H200 against 50.4 us for 64 (8 lanes) and 128 threads,
// the best of the 108 shapes swept with the clock held up (RESULTS run 13, r13f).
constexpr uint32_t kRegisterFloats = 32;
constexpr uint32_t kSplitWorkgroup = 256;
constexpr uint32_t kReduceWorkgroup = 128;
constexpr uint32_t kMaxChunks = 65535;
// Register-array bounds of the split shader (MAX_VPL, MAX_ROWS in attention_decode_split.comp).
constexpr uint32_t kMaxVectorsPerLane = 8;
constexpr uint32_t kMaxRowsPerTeam = 4;

// The scratch starts with the KV heads' arrival counters, padded so that the partials bind at an offset every
// device accepts (minStorageBufferOffsetAlignment is at most 256).
constexpr uint64_t kArrivalRegionAlignment = 256;

uint32_t ceil_div(uint64_t a, uint64_t b) { return uint32_t((a + b - 1) / b); }

uint64_t arrival_region_bytes(const DecodeAttentionParams& p) {
  return (uint64_t(p.n_kv) * 4 + kArrivalRegionAlignment - 1) / kArrivalRegionAlignment * kArrivalRegionAlignment;
}

uint64_t partials_bytes(const DecodeAttentionParams& p) {
  return uint64_t(p.n_q) * decode_attention_chunks(p) * (uint64_t(p.head_dim) + 2) * sizeof(float);
}

uint32_t elems_per_vec(KvDtype dtype) { return 16 / kv_dtype_bytes(dtype); }

bool is_pow2(uint32_t x) { return x && !(x & (x - 1)); }

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument("decode attention: " + message); }

void check_shape_params(const DecodeAttentionParams& p) {
  if (p.n_q == 0 || p.n_kv == 0) fail("n_q and n_kv must be positive");
  if (p.n_q % p.n_kv)
    fail("n_q (" + std::to_string(p.n_q) + ") must be a multiple of n_kv (" + std::to_string(p.n_kv) + ")");
  if (p.n_q / p.n_kv > kMaxGroup)
    fail("at most " + std::to_string(kMaxGroup) + " query heads per KV head, got " + std::to_string(p.n_q / p.n_kv));
  if (p.head_dim == 0 || p.head_dim % 8 || p.head_dim > kMaxHeadDim)
    fail("head_dim must be a multiple of 8 in 8.." + std::to_string(kMaxHeadDim) + ", got " +
         std::to_string(p.head_dim));
  if (p.kv_length == 0 || p.kv_length > p.kv_capacity)
    fail("kv_length must be in 1..kv_capacity (" + std::to_string(p.kv_capacity) + "), got " +
         std::to_string(p.kv_length));
  if (!std::isfinite(p.scale)) fail("scale must be finite");
  if (decode_attention_chunks(p) > kMaxChunks)
    fail("chunk_size " + std::to_string(p.chunk_size) + " gives more than " + std::to_string(kMaxChunks) + " chunks");
}

void check_size(const vk::BufferRange& range, uint64_t need, const char* what) {
  if (!range.buffer) fail(std::string(what) + ": no buffer");
  if (range.bytes() < need)
    fail(std::string(what) + " needs " + std::to_string(need) + " bytes, buffer range '" + range.buffer->name() +
         "' has " + std::to_string(range.bytes()));
}

uint64_t split_shared_bytes(const DecodeAttentionParams& p, const DecodeAttentionShape& s) {
  const uint64_t group = p.n_q / p.n_kv;
  const uint64_t teams = s.workgroup / s.lanes;
  uint64_t shared_floats = 2 * teams * group + group + uint64_t(s.workgroup) * elems_per_vec(p.kv_dtype);
  if (!s.shuffle) shared_floats += uint64_t(s.workgroup) * s.rows_per_team * group;
  if (s.merge_in_split) shared_floats += group + s.workgroup + 1;  // the merge's sums, per-thread parts, flag
  return shared_floats * 4;
}

void check_split_shape(const vk::DeviceInfo& dev, const DecodeAttentionParams& p, const DecodeAttentionShape& s) {
  const uint32_t vecs_per_row = p.head_dim / elems_per_vec(p.kv_dtype);
  const std::string lanes = "shape lanes " + std::to_string(s.lanes);
  if (!is_pow2(s.lanes) || vecs_per_row % s.lanes)
    fail(lanes + " must be a power of two dividing " + std::to_string(vecs_per_row) + " (16-byte vectors per row)");
  if (s.workgroup == 0 || s.workgroup % s.lanes || s.workgroup > dev.max_workgroup_invocations)
    fail("shape workgroup " + std::to_string(s.workgroup) + " must be a multiple of lanes and at most " +
         std::to_string(dev.max_workgroup_invocations));
  if (vecs_per_row / s.lanes > kMaxVectorsPerLane)
    fail(lanes + " leaves " + std::to_string(vecs_per_row / s.lanes) + " 16-byte vectors per lane, at most " +
         std::to_string(kMaxVectorsPerLane));
  if (s.rows_per_team == 0 || s.rows_per_team > kMaxRowsPerTeam)
    fail("shape rows_per_team must be in 1.." + std::to_string(kMaxRowsPerTeam));
  if (s.shuffle) {
    if (!dev.subgroup_shuffle) fail("device has no subgroup shuffle");
    if (s.lanes > dev.min_subgroup_size) fail(lanes + " exceeds the smallest subgroup size");
    if (s.workgroup % dev.max_subgroup_size) fail("shape workgroup must hold whole subgroups for shuffles");
  }
  const uint64_t shared_bytes = split_shared_bytes(p, s);
  if (shared_bytes > dev.shared_memory_bytes)
    fail("shape needs " + std::to_string(shared_bytes) + " bytes of shared memory, device has " +
         std::to_string(dev.shared_memory_bytes));
}

}  // namespace

uint32_t decode_attention_chunk_size(const DecodeAttentionParams& p) {
  if (p.chunk_size) return p.chunk_size;
  const uint32_t chunks_per_head = std::max<uint32_t>(1, kTargetWorkgroups / std::max<uint32_t>(p.n_kv, 1));
  const uint32_t chunk = ceil_div(std::max<uint32_t>(p.kv_length, 1), chunks_per_head);
  return std::max(kMinChunk, ceil_div(chunk, kChunkRounding) * kChunkRounding);
}

uint32_t decode_attention_chunks(const DecodeAttentionParams& p) {
  return ceil_div(std::max<uint32_t>(p.kv_length, 1), decode_attention_chunk_size(p));
}

size_t decode_attention_scratch_bytes(const DecodeAttentionParams& p) {
  return size_t(arrival_region_bytes(p) + partials_bytes(p));
}

DecodeAttentionShape choose_decode_attention_shape(const vk::DeviceInfo& dev, const DecodeAttentionParams& p) {
  check_shape_params(p);
  const uint32_t vecs_per_row = p.head_dim / elems_per_vec(p.kv_dtype);
  const uint32_t group = p.n_q / p.n_kv;
  uint32_t wanted = 1;  // lanes so that a thread's slice of the group's queries is about kRegisterFloats
  while (wanted * kRegisterFloats < group * p.head_dim) wanted *= 2;
  while (wanted * kMaxVectorsPerLane < vecs_per_row) wanted *= 2;
  uint32_t lanes = 1;
  while (lanes < wanted && vecs_per_row % (lanes * 2) == 0) lanes *= 2;
  if (vecs_per_row / lanes > kMaxVectorsPerLane)
    fail("head_dim " + std::to_string(p.head_dim) + " splits into " + std::to_string(vecs_per_row) +
         " 16-byte vectors, which no power-of-two lane count divides into at most " +
         std::to_string(kMaxVectorsPerLane) + " per lane");
  DecodeAttentionShape shape;
  shape.lanes = lanes;
  shape.rows_per_team = kDefaultRowsPerTeam;
  // The largest workgroup up to kSplitWorkgroup that the device takes and whose shared arrays fit.
  for (uint32_t workgroup = kSplitWorkgroup; workgroup >= lanes; workgroup /= 2) {
    shape.workgroup = workgroup;
    shape.shuffle =
        dev.subgroup_shuffle && lanes <= dev.min_subgroup_size && workgroup % dev.max_subgroup_size == 0;
    if (workgroup <= dev.max_workgroup_invocations && split_shared_bytes(p, shape) <= dev.shared_memory_bytes) break;
  }
  return shape;
}

void record_decode_attention(vk::Context& ctx, vk::CommandStream& stream, const DecodeAttentionParams& params,
                             const vk::BufferRange& q, const vk::BufferRange& k, const vk::BufferRange& v,
                             const vk::BufferRange& scratch, const vk::BufferRange& o, const vk::BufferRange* probs) {
  record_decode_attention(ctx, stream, params, choose_decode_attention_shape(ctx.device().info(), params), q, k, v,
                          scratch, o, probs);
}

void record_decode_attention(vk::Context& ctx, vk::CommandStream& stream, const DecodeAttentionParams& p,
                             const DecodeAttentionShape& shape, const vk::BufferRange& q, const vk::BufferRange& k,
                             const vk::BufferRange& v, const vk::BufferRange& scratch, const vk::BufferRange& o,
                             const vk::BufferRange* probs) {
  check_shape_params(p);
  const vk::DeviceInfo& dev = ctx.device().info();
  check_split_shape(dev, p, shape);
  if (p.n_kv > dev.max_workgroup_count[1]) fail("n_kv exceeds the device's workgroup count limit");
  const uint64_t kv_bytes = uint64_t(p.n_kv) * p.kv_capacity * p.head_dim * kv_dtype_bytes(p.kv_dtype);
  check_size(q, uint64_t(p.n_q) * p.head_dim * 4, "q");
  check_size(k, kv_bytes, "k");
  check_size(v, kv_bytes, "v");
  check_size(scratch, decode_attention_scratch_bytes(p), "scratch");
  if (scratch.offset % kArrivalRegionAlignment) fail("scratch must start at a multiple of 256 bytes");
  check_size(o, uint64_t(p.n_q) * p.head_dim * 4, "o");
  if (probs) check_size(*probs, uint64_t(p.n_q) * p.kv_length * 4, "probs");

  const uint32_t chunk_size = decode_attention_chunk_size(p);
  const uint32_t n_chunks = decode_attention_chunks(p);
  const bool merged = shape.merge_in_split && !probs;
  const vk::BufferRange arrivals(*scratch.buffer, scratch.offset, 4ull * p.n_kv);
  const vk::BufferRange partials(*scratch.buffer, scratch.offset + arrival_region_bytes(p), partials_bytes(p));
  std::string split = p.kv_dtype == KvDtype::F16 ? "attention_decode_split_f16" : "attention_decode_split_f32";
  if (probs) split += "_probs";
  if (merged) split += "_merged";
  if (!shape.shuffle) split += "_noshuffle";
  struct SplitPush {
    uint32_t kv_length, capacity, chunk_size, n_chunks;
    float logit_scale;
    uint32_t interleaved;
  } split_push{p.kv_length, p.kv_capacity, chunk_size, n_chunks, float(double(p.scale) / std::log(2.0)),
               shape.interleaved ? 1u : 0u};
  const auto& split_pipeline = shader_pipeline(ctx, split, merged ? 6 : probs ? 5 : 4, sizeof(SplitPush),
                                               {shape.workgroup, p.head_dim, p.n_q / p.n_kv, shape.lanes,
                                                shape.rows_per_team});
  if (merged) {
    stream.dispatch(split_pipeline, {q, k, v, partials, o, arrivals}, split_push, n_chunks, p.n_kv);
    return;
  }
  if (probs)
    stream.dispatch(split_pipeline, {q, k, v, partials, *probs}, split_push, n_chunks, p.n_kv);
  else
    stream.dispatch(split_pipeline, {q, k, v, partials}, split_push, n_chunks, p.n_kv);

  stream.barrier();  // the reduce reads the partials even when the stream's automatic barriers are off
  struct ReducePush {
    uint32_t n_chunks, kv_length;
  } reduce_push{n_chunks, p.kv_length};
  const char* reduce = probs ? "attention_decode_reduce_probs" : "attention_decode_reduce";
  const auto& reduce_pipeline =
      shader_pipeline(ctx, reduce, probs ? 3 : 2, sizeof(ReducePush), {kReduceWorkgroup, p.head_dim});
  if (probs)
    stream.dispatch(reduce_pipeline, {partials, o, *probs}, reduce_push, p.n_q);
  else
    stream.dispatch(reduce_pipeline, {partials, o}, reduce_push, p.n_q);
}

}  // namespace ckv::ops
