#include "matmul.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>

#include "engine/pipelines.hpp"

namespace ckv::ops {

namespace {

constexpr uint32_t kMaxVectorCols = 4;
constexpr uint32_t kVectorRows = 2;          // weight rows per matvec workgroup step
constexpr uint32_t kVectorThreads = 128;
// Int8-activation kernel: threads per workgroup (at most the device's), weight rows per subgroup step (2 for the
// row-pair epilogue), and the most workgroups (each rounds x once first). Measured on an H100 (RESULTS.md run 16).
constexpr uint32_t kInt8Threads = 1024;
constexpr uint32_t kInt8Rows = 1;
constexpr uint32_t kInt8PairRows = 2;
constexpr uint32_t kInt8Workgroups = 256;
constexpr uint32_t kInt8MaxBatch = 8;  // blocks of each row one lane loads before using them, at most
constexpr uint32_t kInt8MaxXLoads = 4;  // vec4 of x one invocation loads before rounding them, at most
static_assert(kInt8PairRows == kVectorRows, "row_pair_epilogue_supported assumes one default row count for pairs");
constexpr uint32_t kMaxPieceRows = 1u << 22;  // keeps every piece's tile count far inside the dispatch limits
// Byte offsets inside a binding are 32-bit in the shaders.
constexpr uint64_t kMaxBindBytes = (uint64_t(1) << 32) - 256;

// Weight rows x tokens x k per workgroup step; every thread computes 4 rows x 4 tokens.
struct TileShape {
  uint32_t bn, bt, bk;
  uint32_t threads() const { return bn / 4 * (bt / 4); }
};
constexpr TileShape kLargeTiles{64, 64, 32};
constexpr TileShape kSmallTiles{64, 16, 32};

// Lane-rows kernel (CPU devices): weight rows per lane and tokens per workgroup (RL and TT in matmul.comp).
constexpr uint32_t kLaneRows = 8;
constexpr uint32_t kLaneTokens = 8;

[[noreturn]] void fail(const char* op, const std::string& message) {
  throw std::invalid_argument(std::string(op) + ": " + message);
}

uint64_t round_up(uint64_t x, uint64_t m) { return (x + m - 1) / m * m; }

uint32_t pow2_at_least(uint32_t x) {
  uint32_t p = 1;
  while (p < x) p *= 2;
  return p;
}

// Elements one matvec thread decodes at a time, for every type (UNIT_K in quant_types.glsl).
constexpr uint32_t kVectorUnit = 8;

std::string lower_type_name(GgmlType type) {
  std::string name = quant::type_name(type);
  for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

void check_range(const char* op, const vk::BufferRange& range, uint64_t need, const char* what) {
  if (!range.buffer) fail(op, std::string(what) + " has no buffer");
  if (range.bytes() < need)
    fail(op, std::string(what) + " needs " + std::to_string(need) + " bytes, buffer range of '" + range.buffer->name() +
                 "' has " + std::to_string(range.bytes()));
}

// Weight bindings start on a multiple of this (the device's storage-buffer offset alignment, at least a word).
uint64_t binding_alignment(const vk::DeviceInfo& device) {
  return std::max<uint64_t>(4, device.min_storage_buffer_offset_alignment);
}

// The most bytes one weight binding may take: the device's range, 32-bit byte offsets, and max_piece_bytes when set.
uint64_t binding_limit(const vk::DeviceInfo& device, uint64_t max_piece_bytes) {
  const uint64_t limit = std::min(device.max_storage_buffer_range, kMaxBindBytes);
  return max_piece_bytes ? std::min(limit, max_piece_bytes) : limit;
}

// Rows first_row .. first_row + rows - 1 whose bytes run from `start` to `end` of the buffer, bound from start rounded
// down to the alignment to end rounded up to a word.
WeightPiece bound_piece(uint32_t first_row, uint32_t rows, uint64_t start, uint64_t end, uint64_t align) {
  WeightPiece p;
  p.first_row = first_row;
  p.rows = rows;
  p.bind_offset = start / align * align;
  p.base = uint32_t(start - p.bind_offset);
  p.bind_bytes = round_up(end, 4) - p.bind_offset;
  return p;
}

// The checks every product shares: tokens, strides, x/y sizes, the input norm.
void check_matmul_args(const char* op, const WeightView& w, const vk::BufferRange& x, uint32_t t, uint32_t x_row_stride,
                       const vk::BufferRange& y, uint32_t y_row_stride, const InputNorm* input_norm) {
  if (t == 0) fail(op, "no tokens (t = 0)");
  if (x_row_stride < w.k || x_row_stride % 4)
    fail(op, "x_row_stride " + std::to_string(x_row_stride) + " must be a multiple of 4 and at least k = " +
                 std::to_string(w.k));
  if (y_row_stride < w.n)
    fail(op, "y_row_stride " + std::to_string(y_row_stride) + " must be at least n = " + std::to_string(w.n));
  check_range(op, x, 4 * (uint64_t(t - 1) * x_row_stride + w.k), "x");
  check_range(op, y, 4 * (uint64_t(t - 1) * y_row_stride + w.n), "y");
  if (x.bytes() >= kMaxBindBytes || y.bytes() >= kMaxBindBytes) fail(op, "x and y must each bind less than 4 GiB");
  if (input_norm) {
    if (!std::isfinite(input_norm->eps) || input_norm->eps < 0) fail(op, "input norm eps must be finite and >= 0");
    check_range(op, input_norm->weight, 4ull * w.k, "input norm weight");
  }
}

struct MatPush {
  uint32_t k, n, w_base, row_bytes, t;
  uint32_t x_col0;  // matvec only
  uint32_t x_stride, y_stride, y_offset, accumulate;
  float norm_eps;  // NORM_INPUT variants only
  uint32_t up_delta;  // GATED variants only
};
struct RowPairPush {  // ROW_PAIRS variants
  MatPush mat;
  uint32_t kv_mode, head_dim, half_rope, capacity, dst_start;
  float log2_inv_freq_step, freq_scale;
};
struct TiledPush {
  uint32_t k, n, w_base, row_bytes, t, x_stride, y_stride, y_offset, accumulate;
};

// Whether every piece's first row starts on a 16-byte boundary of its binding.
bool rows_16_byte_aligned(const std::vector<WeightPiece>& pieces) {
  return std::all_of(pieces.begin(), pieces.end(), [](const WeightPiece& p) { return p.base % 16 == 0; });
}

// Whether every row of an F32/F16 weight starts on a 16-byte boundary (the _v4 variants' precondition).
bool plain_rows_16_byte_aligned(const WeightView& w, const std::vector<WeightPiece>& pieces) {
  if (w.type != GgmlType::F32 && w.type != GgmlType::F16) return false;
  return quant::row_bytes(w.type, w.k) % 16 == 0 && rows_16_byte_aligned(pieces);
}

// kInt8Threads, halved until the device allows it.
uint32_t default_int8_threads(const vk::DeviceInfo& dev) {
  uint32_t threads = kInt8Threads;
  while (threads > dev.max_workgroup_invocations && threads > 8) threads /= 2;
  return threads;
}

// Shared memory of the int8-activation kernel: the rounded x (k bytes), 8 bytes per block, the norm's slots.
uint64_t int8_shared_bytes(const vk::DeviceInfo& dev, uint32_t k, uint32_t threads) {
  return uint64_t(k) + k / 32 * 8 + 4ull * std::max(1u, threads / std::max(1u, dev.min_subgroup_size));
}

// The dispatches of one product, whatever the kernel: its pipeline for the pieces, and their workgroup counts.
void dispatch_pieces(vk::CommandStream& stream, const vk::ComputePipeline& pipeline, const WeightView& w,
                     const std::vector<WeightPiece>& pieces, const MatPush& base, const vk::BufferRange& x,
                     const vk::BufferRange& y, const InputNorm* norm, const RowPairEpilogue* pairs,
                     const std::function<uint32_t(const WeightPiece&)>& groups_for) {
  for (const WeightPiece& p : pieces) {
    MatPush push = base;
    push.n = p.rows;
    push.w_base = p.base;
    push.y_offset = p.first_row;
    const uint32_t groups = groups_for(p);
    const vk::BufferRange weights(*w.buffer, p.bind_offset, p.bind_bytes);
    if (pairs) {
      const RowPairPush pair_push{push,          uint32_t(pairs->mode), pairs->head_dim,         pairs->half_rope,
                                  pairs->capacity, pairs->dst_start,    pairs->log2_inv_freq_step, pairs->freq_scale};
      stream.dispatch(pipeline,
                      {weights, x, y, vk::BufferRange(*norm->weight.buffer, norm->weight.offset, 4ull * w.k),
                       pairs->positions, pairs->cache},
                      pair_push, groups);
    } else if (norm) {
      stream.dispatch(pipeline, {weights, x, y, vk::BufferRange(*norm->weight.buffer, norm->weight.offset, 4ull * w.k)},
                      push, groups);
    } else {
      stream.dispatch(pipeline, {weights, x, y}, push, groups);
    }
  }
}

// The int8-activation kernel (matvec_q4_0_x8_dp4.comp) for one vector.
void record_int8_vector(vk::Context& ctx, vk::CommandStream& stream, const WeightView& w,
                        const std::vector<WeightPiece>& pieces, const vk::BufferRange& x, uint32_t x_stride,
                        const vk::BufferRange& y, uint32_t y_stride, bool accumulate, const MatmulOptions& options,
                        const InputNorm* norm, const WeightView* gated_up, const RowPairEpilogue* pairs) {
  const vk::DeviceInfo& dev = ctx.device().info();
  const uint32_t rows = options.vector_rows ? options.vector_rows : pairs ? kInt8PairRows : kInt8Rows;
  if (options.vector_batch > 16)
    fail("matmul", "int8-activation batch " + std::to_string(options.vector_batch) + " is not in 1..16");
  if (options.vector_x_loads > 16)
    fail("matmul", "int8-activation x loads " + std::to_string(options.vector_x_loads) + " is not in 1..16");
  const uint32_t threads = options.vector_threads ? options.vector_threads : default_int8_threads(dev);
  if (threads != pow2_at_least(threads) || threads > dev.max_workgroup_invocations || rows == 0 || rows > 16)
    fail("matmul", "int8-activation shape " + std::to_string(threads) + " threads x " + std::to_string(rows) +
                       " rows is not a power of two within the device's " +
                       std::to_string(dev.max_workgroup_invocations) + " invocations, or rows not in 1..16");
  const uint32_t max_subgroups = std::max(1u, threads / std::max(1u, dev.min_subgroup_size));
  const uint32_t fewest_subgroups = std::max(1u, threads / std::max(1u, dev.max_subgroup_size));
  const uint32_t up_delta = gated_up ? uint32_t(gated_up->offset - w.offset) : 0;
  const std::string variant = std::string("matvec_q4_0_x8_dp4") + (norm ? "_norm" : "") + (gated_up ? "_gated" : "") +
                              (pairs ? "_pairs" : "");
  // Enough blocks per lane that a row takes few steps (each a memory round trip), within the registers' means.
  const uint32_t lanes = std::max(1u, dev.subgroup_size);
  const uint32_t batch = options.vector_batch ? options.vector_batch
                                              : std::clamp((w.k / 32 + lanes - 1) / lanes, 1u, kInt8MaxBatch);
  const uint32_t x_loads = options.vector_x_loads ? options.vector_x_loads
                                                  : std::clamp((w.k / 4 + threads - 1) / threads, 1u, kInt8MaxXLoads);
  const auto& pipeline = shader_pipeline(ctx, variant, pairs ? 6 : norm ? 4 : 3,
                                         pairs ? sizeof(RowPairPush) : sizeof(MatPush),
                                         {threads, rows, w.k / 32, max_subgroups, batch, x_loads});
  const MatPush base{w.k, 0, 0, uint32_t(quant::row_bytes(w.type, w.k)), 1, 0, x_stride, y_stride, 0, accumulate,
                     norm ? norm->eps : 0.0f, up_delta};
  const uint32_t cap = std::min(options.vector_workgroups ? options.vector_workgroups : kInt8Workgroups,
                                dev.max_workgroup_count[0]);
  dispatch_pieces(stream, pipeline, w, pieces, base, x, y, norm, pairs, [&](const WeightPiece& p) {
    return group_count((p.rows + rows - 1) / rows, fewest_subgroups, cap);
  });
}

void record_vector(vk::Context& ctx, vk::CommandStream& stream, const WeightView& w,
                   const std::vector<WeightPiece>& pieces, const vk::BufferRange& x, uint32_t t, uint32_t x_stride,
                   const vk::BufferRange& y, uint32_t y_stride, bool accumulate, const MatmulOptions& options,
                   const InputNorm* norm, const WeightView* gated_up = nullptr,
                   const RowPairEpilogue* pairs = nullptr) {
  const vk::DeviceInfo& dev = ctx.device().info();
  const uint64_t up_delta = gated_up ? gated_up->offset - w.offset : 0;
  if (matmul_uses_int8_activations(dev, w, t, options) && rows_16_byte_aligned(pieces) && up_delta % 16 == 0) {
    record_int8_vector(ctx, stream, w, pieces, x, x_stride, y, y_stride, accumulate, options, norm, gated_up, pairs);
    return;
  }
  const bool use_subgroups = options.subgroup_ops && dev.subgroup_arithmetic;
  const uint32_t units = w.k / kVectorUnit;
  const uint32_t rows = options.vector_rows ? options.vector_rows : kVectorRows;
  uint32_t threads = options.vector_threads;
  if (threads == 0) threads = std::min(kVectorThreads, std::max(32u, pow2_at_least(units)));
  if (threads != pow2_at_least(threads) || threads > dev.max_workgroup_invocations || rows == 0 || rows > 16)
    fail("matmul", "matrix-vector shape " + std::to_string(threads) + " threads x " + std::to_string(rows) +
                       " rows is not a power of two within the device's " +
                       std::to_string(dev.max_workgroup_invocations) + " invocations, or rows not in 1..16");
  const uint32_t max_subgroups = std::max(1u, threads / std::max(1u, dev.min_subgroup_size));
  const bool wide = use_subgroups && options.vector_wide_loads && plain_rows_16_byte_aligned(w, pieces) &&
                    up_delta % 16 == 0;
  const std::string variant = "matvec_" + lower_type_name(w.type) + (wide ? "_v4" : use_subgroups ? "" : "_shared") +
                              (norm ? "_norm" : "") + (gated_up ? "_gated" : "") + (pairs ? "_pairs" : "");
  const uint32_t row_bytes = uint32_t(quant::row_bytes(w.type, w.k));
  for (uint32_t col0 = 0; col0 < t; col0 += kMaxVectorCols) {
    const uint32_t cols = std::min(t - col0, kMaxVectorCols);
    // One vector, or kMaxVectorCols with the extra columns repeating the last: two variants to build, not four.
    const auto& pipeline = shader_pipeline(ctx, variant, pairs ? 6 : norm ? 4 : 3,
                                           pairs ? sizeof(RowPairPush) : sizeof(MatPush),
                                           {threads, rows, cols == 1 ? 1 : kMaxVectorCols, max_subgroups});
    const MatPush base{w.k,        0,          0,   row_bytes, cols, col0, x_stride, y_stride, 0, accumulate,
                       norm ? norm->eps : 0.0f, uint32_t(up_delta)};
    dispatch_pieces(stream, pipeline, w, pieces, base, x, y, norm, pairs, [&](const WeightPiece& p) {
      return group_count((p.rows + rows - 1) / rows, 1, dev.max_workgroup_count[0]);
    });
  }
}

void record_tiled(vk::Context& ctx, vk::CommandStream& stream, const WeightView& w,
                  const std::vector<WeightPiece>& pieces, const vk::BufferRange& x, uint32_t t, uint32_t x_stride,
                  const vk::BufferRange& y, uint32_t y_stride, bool accumulate, bool large_tiles) {
  const vk::DeviceInfo& dev = ctx.device().info();
  const TileShape shape = large_tiles && t > kSmallTiles.bt ? kLargeTiles : kSmallTiles;
  if (shape.threads() > dev.max_workgroup_invocations)
    fail("matmul", "the device allows " + std::to_string(dev.max_workgroup_invocations) + " invocations per workgroup");
  const uint32_t token_tiles = (t + shape.bt - 1) / shape.bt;
  if (token_tiles > dev.max_workgroup_count[1])
    fail("matmul", std::to_string(t) + " tokens exceed the device's workgroup count limit; split the batch");
  const auto& pipeline = shader_pipeline(ctx, "matmul_" + lower_type_name(w.type), 3, sizeof(TiledPush),
                                         {shape.threads(), shape.bn, shape.bt, shape.bk});
  const uint32_t row_bytes = uint32_t(quant::row_bytes(w.type, w.k));
  for (const WeightPiece& p : pieces) {
    const TiledPush push{w.k, p.rows, p.base, row_bytes, t, x_stride, y_stride, p.first_row, accumulate};
    stream.dispatch(pipeline, {vk::BufferRange(*w.buffer, p.bind_offset, p.bind_bytes), x, y}, push,
                    (p.rows + shape.bn - 1) / shape.bn, token_tiles);
  }
}

void record_lanes(vk::Context& ctx, vk::CommandStream& stream, const WeightView& w,
                  const std::vector<WeightPiece>& pieces, const vk::BufferRange& x, uint32_t t, uint32_t x_stride,
                  const vk::BufferRange& y, uint32_t y_stride, bool accumulate) {
  const vk::DeviceInfo& dev = ctx.device().info();
  if (!lane_rows_supported(dev))
    fail("matmul", "the lane-rows kernel needs a fixed subgroup size of at least 8 with subgroup shuffle, device has " +
                       std::to_string(dev.min_subgroup_size) + ".." + std::to_string(dev.max_subgroup_size));
  if (w.k % 32)
    fail("matmul", "the lane-rows kernel walks rows in 32-element units; k = " + std::to_string(w.k) +
                       " is not a multiple of 32");
  const uint32_t lanes = dev.min_subgroup_size;
  const uint32_t tokens = t == 1 ? 1 : kLaneTokens;  // the two variants: _lanes1 and _lanes
  const uint32_t token_groups = (t + tokens - 1) / tokens;
  if (token_groups > dev.max_workgroup_count[1])
    fail("matmul", std::to_string(t) + " tokens exceed the device's workgroup count limit; split the batch");
  const auto& pipeline = shader_pipeline(ctx, "matmul_" + lower_type_name(w.type) + (t == 1 ? "_lanes1" : "_lanes"), 3,
                                         sizeof(TiledPush), {lanes});
  const uint32_t row_bytes = uint32_t(quant::row_bytes(w.type, w.k));
  for (const WeightPiece& p : pieces) {
    const TiledPush push{w.k, p.rows, p.base, row_bytes, t, x_stride, y_stride, p.first_row, accumulate};
    const uint32_t row_groups = group_count(p.rows, lanes * kLaneRows, dev.max_workgroup_count[0]);
    stream.dispatch(pipeline, {vk::BufferRange(*w.buffer, p.bind_offset, p.bind_bytes), x, y}, push, row_groups,
                    token_groups);
  }
}

}  // namespace

bool lane_rows_supported(const vk::DeviceInfo& device) {
  // The kernel needs subgroupBroadcast (the ballot feature), which DeviceInfo does not record; shuffle stands in
  // for it, as every driver that has shuffle also has ballot.
  return device.subgroup_shuffle && device.min_subgroup_size >= 8 && device.min_subgroup_size == device.max_subgroup_size;
}

std::vector<WeightPiece> split_weight(const vk::DeviceInfo& device, const WeightView& w, const char* op,
                                      uint64_t max_piece_bytes) {
  if (!w.buffer) fail(op, "the weight has no buffer");
  if (!quant::kernel_supported(w.type))
    fail(op, "weight type " + quant::type_name(w.type) + " is not supported (supported: " +
                 quant::kernel_supported_names() + ")");
  const quant::BlockLayout layout = quant::block_layout(w.type);
  const std::string shape = "weight [k " + std::to_string(w.k) + ", n " + std::to_string(w.n) + "] of type " +
                            quant::type_name(w.type);
  if (w.k == 0 || w.n == 0) fail(op, shape + " is empty");
  // Quantized rows are whole blocks (32 or 256 elements); F32/F16 rows are read 4 elements at a time.
  if (layout.block_size == 1 ? w.k % 4 : w.k % layout.block_size)
    fail(op, shape + ": k must be a multiple of " +
                 (layout.block_size == 1 ? std::string("4") : std::to_string(layout.block_size) + " (the block size)"));
  if (w.offset % 4) fail(op, shape + ": offset " + std::to_string(w.offset) + " is not a multiple of 4 bytes");
  const uint64_t row_bytes = quant::row_bytes(w.type, w.k);
  const uint64_t end = w.offset + row_bytes * w.n;
  if (round_up(end, 4) > w.buffer->size())
    fail(op, shape + " at offset " + std::to_string(w.offset) + " needs bytes up to " + std::to_string(round_up(end, 4)) +
                 " (the tensor rounded up to whole words), buffer '" + w.buffer->name() + "' has " +
                 std::to_string(w.buffer->size()));

  const uint64_t align = binding_alignment(device);
  const uint64_t limit = binding_limit(device, max_piece_bytes);
  // A piece binds from its first row's offset rounded down to the alignment to its end rounded up to a word.
  const uint64_t usable = limit > align + 4 ? limit - align - 4 : 0;
  const uint64_t rows_per_piece = std::min<uint64_t>(usable / row_bytes, kMaxPieceRows);
  if (rows_per_piece == 0)
    fail(op, shape + ": one row of " + std::to_string(row_bytes) + " bytes does not fit a binding of " +
                 std::to_string(limit) + " bytes");

  std::vector<WeightPiece> pieces;
  for (uint64_t r0 = 0; r0 < w.n; r0 += rows_per_piece) {
    const uint32_t rows = uint32_t(std::min<uint64_t>(rows_per_piece, w.n - r0));
    const uint64_t start = w.offset + r0 * row_bytes;
    pieces.push_back(bound_piece(uint32_t(r0), rows, start, start + rows * row_bytes, align));
  }
  return pieces;
}

namespace {
bool uses_lanes(const vk::DeviceInfo& dev, const WeightView& w, const MatmulOptions& options) {
  return options.kernel == MatmulKernel::Lanes ||
         (options.kernel == MatmulKernel::Auto && dev.type == VK_PHYSICAL_DEVICE_TYPE_CPU && lane_rows_supported(dev) &&
          w.k % 32 == 0);
}
}  // namespace

bool matmul_uses_vector_kernel(const vk::DeviceInfo& device, const WeightView& w, uint32_t t,
                               const MatmulOptions& options) {
  if (uses_lanes(device, w, options)) return false;
  return options.kernel == MatmulKernel::Vector || (options.kernel == MatmulKernel::Auto && t <= kMaxVectorCols);
}

bool matmul_uses_int8_activations(const vk::DeviceInfo& device, const WeightView& w, uint32_t t,
                                  const MatmulOptions& options) {
  if (!options.int8_activations || w.type != GgmlType::Q4_0_X8 || t != 1 || !device.integer_dot_product ||
      !options.subgroup_ops || !device.subgroup_arithmetic || !device.subgroup_shuffle ||
      device.min_subgroup_size < 8 || !matmul_uses_vector_kernel(device, w, t, options))
    return false;
  const uint32_t threads = options.vector_threads ? options.vector_threads : default_int8_threads(device);
  if (threads > device.max_workgroup_invocations || threads < 8) return false;
  return int8_shared_bytes(device, w.k, threads) <= device.shared_memory_bytes;
}

bool row_pair_epilogue_supported(const vk::DeviceInfo& device, const WeightView& w, uint32_t t,
                                 const MatmulOptions& options, uint32_t head_dim) {
  // The int8 kernel's default for pairs, kInt8PairRows, is the same.
  const uint32_t rows = options.vector_rows ? options.vector_rows : kVectorRows;
  if (!options.fused_epilogues || !matmul_uses_vector_kernel(device, w, t, options) || rows % 2 || head_dim == 0 ||
      head_dim % 2 || w.n % head_dim)
    return false;
  const std::vector<WeightPiece> pieces = split_weight(device, w, "matmul", options.max_piece_bytes);
  return std::all_of(pieces.begin(), pieces.end(), [](const WeightPiece& p) { return p.first_row % 2 == 0; });
}

namespace {
// The one piece that binds W_gate through W_up (the SwiGLU kernel reads both from one binding), or why none can.
std::string swiglu_piece(const vk::DeviceInfo& dev, const WeightView& gate, const WeightView& up,
                         const MatmulOptions& options, WeightPiece& piece) {
  if (gate.buffer != up.buffer) return "W_gate and W_up are not in one buffer";
  if (gate.type != up.type || gate.k != up.k || gate.n != up.n) return "W_gate and W_up differ in type or shape";
  const uint64_t row_bytes = quant::row_bytes(gate.type, gate.k);
  if (up.offset < gate.offset + row_bytes * gate.n) return "W_up does not start after the end of W_gate";
  const uint64_t limit = binding_limit(dev, options.max_piece_bytes);
  piece = bound_piece(0, gate.n, gate.offset, up.offset + row_bytes * up.n, binding_alignment(dev));
  if (piece.bind_bytes > limit)
    return "W_gate through W_up span " + std::to_string(piece.bind_bytes) + " bytes, more than one binding's " +
           std::to_string(limit);
  return {};
}
}  // namespace

bool swiglu_matvec_supported(const vk::DeviceInfo& device, const WeightView& gate, const WeightView& up, uint32_t t,
                             const MatmulOptions& options) {
  WeightPiece piece;
  return options.fused_epilogues && matmul_uses_vector_kernel(device, gate, t, options) &&
         swiglu_piece(device, gate, up, options, piece).empty();
}

void record_swiglu_matvec(vk::Context& ctx, vk::CommandStream& stream, const WeightView& gate, const WeightView& up,
                          const vk::BufferRange& x, uint32_t t, uint32_t x_row_stride, const InputNorm& norm,
                          const vk::BufferRange& y, uint32_t y_row_stride, const MatmulOptions& options) {
  const char* op = "swiglu matvec";
  const vk::DeviceInfo& dev = ctx.device().info();
  split_weight(dev, gate, op, options.max_piece_bytes);  // checks each view on its own
  split_weight(dev, up, op, options.max_piece_bytes);
  WeightPiece piece;
  if (const std::string why = swiglu_piece(dev, gate, up, options, piece); !why.empty()) fail(op, why);
  if (!matmul_uses_vector_kernel(dev, gate, t, options)) fail(op, "needs the matrix-vector kernel (matmul_uses_vector_kernel)");
  check_matmul_args(op, gate, x, t, x_row_stride, y, y_row_stride, &norm);
  record_vector(ctx, stream, gate, {piece}, x, t, x_row_stride, y, y_row_stride, false, options, &norm, &up);
}

void record_matmul(vk::Context& ctx, vk::CommandStream& stream, const WeightView& w, const vk::BufferRange& x,
                   uint32_t t, uint32_t x_row_stride, const vk::BufferRange& y, uint32_t y_row_stride,
                   bool accumulate, const MatmulOptions& options, const InputNorm* input_norm,
                   const RowPairEpilogue* pairs) {
  const char* op = "matmul";
  const std::vector<WeightPiece> pieces = split_weight(ctx.device().info(), w, op, options.max_piece_bytes);
  check_matmul_args(op, w, x, t, x_row_stride, y, y_row_stride, input_norm);
  const vk::DeviceInfo& dev = ctx.device().info();
  const bool vector = matmul_uses_vector_kernel(dev, w, t, options);
  if (input_norm && !vector) fail(op, "an input norm needs the matrix-vector kernel (matmul_uses_vector_kernel)");
  if (pairs) {
    if (!input_norm || accumulate || !row_pair_epilogue_supported(dev, w, t, options, pairs->head_dim))
      fail(op, "a row-pair epilogue needs an input norm, no accumulation and row_pair_epilogue_supported");
    if (2 * pairs->half_rope > pairs->head_dim) fail(op, "row-pair epilogue: rope_dim exceeds head_dim");
    check_range(op, pairs->positions, 4ull * t, "positions");
    if (pairs->mode != RowPairEpilogue::Mode::RotateIntoY) {
      const uint64_t heads = w.n / pairs->head_dim;
      if (uint64_t(pairs->dst_start) + t > pairs->capacity) fail(op, "row-pair epilogue: rows past the cache capacity");
      check_range(op, pairs->cache, heads * pairs->capacity * pairs->head_dim * 2, "cache");
    } else if (!pairs->cache.buffer) {
      fail(op, "row-pair epilogue: no cache buffer to bind");
    }
  }
  if (!vector && uses_lanes(dev, w, options)) {
    record_lanes(ctx, stream, w, pieces, x, t, x_row_stride, y, y_row_stride, accumulate);
    return;
  }
  if (vector)
    record_vector(ctx, stream, w, pieces, x, t, x_row_stride, y, y_row_stride, accumulate, options, input_norm, nullptr,
                  pairs);
  else
    record_tiled(ctx, stream, w, pieces, x, t, x_row_stride, y, y_row_stride, accumulate, options.large_tiles);
}

}  // namespace ckv::ops
