// Several matrix products of one RMS-normed input (a layer's Q/K/V projections, or its FFN gate and up):
// where the matrix-vector kernel runs (decode on GPUs), each product normalises the input itself, so there is
// no norm pass and no barrier before or between the products; elsewhere the input is normalised once into a
// scratch buffer and the products follow as one group of independent dispatches.
#pragma once
#include <cstdint>
#include <span>

#include "engine/ops/matmul.hpp"
#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv::ops {

struct NormedProduct {
  const WeightView* w = nullptr;  // [n, k]
  vk::BufferRange y;              // f32 [t, n], rows y_row_stride floats apart
  uint32_t y_row_stride = 0;
};

// y_p = W_p · rms_norm(x) for every product p. x: f32 [t, k] (rows k floats apart); norm_weight: f32 [k];
// xn: f32 [t, k] scratch, written only when the products cannot normalise their input themselves. All W_p must
// share k. Throws std::invalid_argument on inconsistent shapes (from the ops it records).
void record_normed_matmuls(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& x, uint32_t t,
                           uint32_t k, const vk::BufferRange& norm_weight, float eps, const vk::BufferRange& xn,
                           std::span<const NormedProduct> products, const MatmulOptions& options = {});

// Llama's FFN input: y = silu(W_gate · rms_norm(x)) * (W_up · rms_norm(x)), f32 [t, n] rows n floats apart. One
// SwiGLU matrix-vector pass where swiglu_matvec_supported; otherwise the two normed products (into y and
// up_scratch, f32 [t, n]) and a SiLU pass.
void record_normed_swiglu(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& x, uint32_t t, uint32_t k,
                          const vk::BufferRange& norm_weight, float eps, const vk::BufferRange& xn, const WeightView& gate,
                          const WeightView& up, const vk::BufferRange& y, const vk::BufferRange& up_scratch,
                          const MatmulOptions& options = {});

}  // namespace ckv::ops
