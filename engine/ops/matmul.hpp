// Matrix products with ggml weights read straight from their quantized blocks: matrix-vector for decode and tiled
// matrix-matrix for prefill. Weights larger than one binding may cover are split along their rows.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/quant/ggml_type.hpp"
#include "vk/buffer.hpp"
#include "vk/command_stream.hpp"
#include "vk/context.hpp"
#include "vk/device_info.hpp"

namespace ckv::ops {

// A weight as stored in GGUF: ggml shape [k (ne0), n (ne1)], n rows of k elements, each row a run of blocks
// (quantized types: k a multiple of the block size) or of plain values (F32/F16: k a multiple of 4).
// `offset` (bytes into the buffer) must be a multiple of 4; the buffer must hold the tensor's bytes rounded up to
// a multiple of 4.
struct WeightView {
  const vk::Buffer* buffer = nullptr;
  uint64_t offset = 0;
  GgmlType type = GgmlType::F32;
  uint32_t k = 0, n = 0;
};

// One row range of a weight, bound as its own buffer range: rows first_row .. first_row + rows - 1, whose bytes
// start `base` bytes into the binding [bind_offset, bind_offset + bind_bytes).
struct WeightPiece {
  uint32_t first_row = 0, rows = 0;
  uint64_t bind_offset = 0, bind_bytes = 0;
  uint32_t base = 0;
};

// Checks the view (std::invalid_argument naming `op` and the problem: unsupported type, k not a multiple of the
// block size (of 4 for F32/F16), tensor outside the buffer, ...) and splits it into pieces of at most `max_piece_bytes` bound bytes
// (0: the device's maxStorageBufferRange), each binding starting at a multiple of minStorageBufferOffsetAlignment.
std::vector<WeightPiece> split_weight(const vk::DeviceInfo& device, const WeightView& w, const char* op,
                                      uint64_t max_piece_bytes = 0);

enum class MatmulKernel {
  Auto,   // CPU devices (lane_rows_supported): lane rows; else matrix-vector for t <= 4 tokens, tiled otherwise
  Vector, // matrix-vector, up to 4 tokens per dispatch
  Tiled,  // tiled matrix-matrix
  Lanes,  // one subgroup per workgroup, weight rows across the lanes, no shared memory (for CPU devices)
};

struct MatmulOptions {
  MatmulKernel kernel = MatmulKernel::Auto;
  bool subgroup_ops = true;      // matrix-vector reduces with subgroupAdd where the device has it
  bool large_tiles = true;       // tiled: 64 rows x 64 tokens per workgroup for t > 16, else 64 x 16
  uint64_t max_piece_bytes = 0;  // 0: the device limit; smaller values exercise the split in tests
  // Matrix-vector workgroup shape (0: the defaults): threads per workgroup (a power of two) and weight rows per
  // workgroup step. For benchmark sweeps; any valid shape gives the same sums up to rounding.
  uint32_t vector_threads = 0, vector_rows = 0;
  bool vector_wide_loads = true;  // F32/F16 rows on 16-byte boundaries: 16-byte loads
  bool fused_epilogues = true;    // false: no SwiGLU or row-pair epilogue (swiglu / row_pair *_supported say no)
  // Q4_0_X8 products of one vector on devices with integer dot products (matmul_uses_int8_activations): x rounded to
  // int8 per 32-element block (scale max|x| / 127, llama.cpp's Q8 activations), 4 x int8 dot products. Adds an
  // error of at most sum_i |w_i| * max|x in i's block| / 254 to each output (plus fp32 rounding).
  bool int8_activations = false;
  // Int8-activation kernel: the most workgroups per dispatch (each rounds x once, then takes rows in grid stride);
  // 0: the default. For benchmark sweeps.
  uint32_t vector_workgroups = 0;
  uint32_t vector_batch = 0;  // int8-activation kernel: blocks per lane per step (0: the default for k)
  uint32_t vector_x_loads = 0;  // int8-activation kernel: vec4 of x per invocation loaded at once (0: k's, <= 4)
};

// Whether record_matmul (and record_swiglu_matvec) take the int8-activation kernel for this weight and token count:
// options.int8_activations, a Q4_0_X8 weight, t = 1, the matrix-vector kernel, integer dot products, subgroup
// arithmetic and shuffles with subgroups of at least 8 on the device, and the rounded x fitting shared memory. The
// kernel also needs every weight piece (and W_up after W_gate) on 16-byte boundaries of its binding; where they are
// not, the fp32 kernel runs instead.
bool matmul_uses_int8_activations(const vk::DeviceInfo& device, const WeightView& w, uint32_t t,
                                  const MatmulOptions& options);

// Whether the device runs MatmulKernel::Lanes: a fixed subgroup size of at least 8 with subgroup shuffle/ballot.
bool lane_rows_supported(const vk::DeviceInfo& device);

// Whether record_matmul runs the matrix-vector kernel for this weight, token count and options on this device: the
// one kernel that can take an InputNorm.
bool matmul_uses_vector_kernel(const vk::DeviceInfo& device, const WeightView& w, uint32_t t,
                               const MatmulOptions& options = {});

// An RMS norm applied to every input vector on its way into the product: x · weight / sqrt(mean(x²) + eps).
struct InputNorm {
  vk::BufferRange weight;  // f32 [k]
  float eps = 0;
};

// What the matrix-vector kernel does with each finished pair of rows (2i, 2i + 1) in place of the plain write of y:
// a decode step's Q, K or V projection, rotated by RoPE in ggml's normal mode (pair i of a head turns by pair i's
// angle, rope_angles) and/or stored f16 into a KV cache [heads, capacity, head_dim] at rows dst_start + token.
struct RowPairEpilogue {
  enum class Mode : uint32_t { RotateIntoY = 0, RotateIntoCache = 1, IntoCache = 2 };
  Mode mode = Mode::RotateIntoY;
  uint32_t head_dim = 0, half_rope = 0;  // half_rope: rope_dim / 2 (pairs past it are not rotated)
  float log2_inv_freq_step = 0, freq_scale = 1;
  uint32_t capacity = 0, dst_start = 0;
  vk::BufferRange positions;  // u32 [t]
  vk::BufferRange cache;      // the f16 cache (Into* modes; any buffer for RotateIntoY)
};

// Whether record_matmul can take this epilogue: the matrix-vector kernel, an even row count per workgroup, every
// weight piece starting on an even row, head_dim even and dividing n.
bool row_pair_epilogue_supported(const vk::DeviceInfo& device, const WeightView& w, uint32_t t,
                                 const MatmulOptions& options, uint32_t head_dim);

// Y[i, :] = W · X[i, :] for tokens i < t (Y[i, j] = Σ_k W[j, k] · X[i, k]), or Y += W · X with accumulate.
// x: f32 [t, k] with rows x_row_stride floats apart (a multiple of 4, >= k); y: f32 [t, n] with rows
// y_row_stride floats apart (>= n).
// input_norm (matrix-vector kernel only, see matmul_uses_vector_kernel): Y = W · rms_norm(X) without a norm pass.
// pairs (with input_norm, where row_pair_epilogue_supported): the rows go through the epilogue instead (y is
// written only in mode RotateIntoY; accumulate must be false).
void record_matmul(vk::Context& ctx, vk::CommandStream& stream, const WeightView& w, const vk::BufferRange& x,
                   uint32_t t, uint32_t x_row_stride, const vk::BufferRange& y, uint32_t y_row_stride,
                   bool accumulate = false, const MatmulOptions& options = {}, const InputNorm* input_norm = nullptr,
                   const RowPairEpilogue* pairs = nullptr);

// Llama's SwiGLU input in one matrix-vector pass: Y[i, :] = silu(W_gate · rms_norm(X[i, :])) * (W_up · rms_norm(X[i, :])),
// silu(g) = g / (1 + exp(-g)). Each workgroup reads the same rows of both matrices, so no SiLU pass and no barrier
// follow. gate and up: one type and shape, in one buffer, up starting after gate's end, the span from gate's
// first byte to up's last within one binding (see swiglu_matvec_supported). x, y as record_matmul.
bool swiglu_matvec_supported(const vk::DeviceInfo& device, const WeightView& gate, const WeightView& up, uint32_t t,
                             const MatmulOptions& options = {});
void record_swiglu_matvec(vk::Context& ctx, vk::CommandStream& stream, const WeightView& gate, const WeightView& up,
                          const vk::BufferRange& x, uint32_t t, uint32_t x_row_stride, const InputNorm& norm,
                          const vk::BufferRange& y, uint32_t y_row_stride, const MatmulOptions& options = {});

}  // namespace ckv::ops
