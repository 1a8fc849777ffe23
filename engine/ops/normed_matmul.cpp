#include "normed_matmul.hpp"

#include <algorithm>
#include <stdexcept>

#include "engine/ops/elementwise.hpp"
#include "engine/ops/norm.hpp"

namespace ckv::ops {

void record_normed_matmuls(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& x, uint32_t t,
                           uint32_t k, const vk::BufferRange& norm_weight, float eps, const vk::BufferRange& xn,
                           std::span<const NormedProduct> products, const MatmulOptions& options) {
  for (const NormedProduct& p : products)
    if (!p.w || p.w->k != k) throw std::invalid_argument("normed matmuls: every weight must have k = " + std::to_string(k));
  const vk::DeviceInfo& dev = ctx.device().info();
  const bool fused = std::all_of(products.begin(), products.end(), [&](const NormedProduct& p) {
    return matmul_uses_vector_kernel(dev, *p.w, t, options);
  });
  if (fused) {
    const InputNorm norm{norm_weight, eps};
    const vk::IndependentCommands group(stream);
    for (const NormedProduct& p : products)
      record_matmul(ctx, stream, *p.w, x, t, k, p.y, p.y_row_stride, false, options, &norm);
    return;
  }
  record_rms_norm(ctx, stream, x, norm_weight, xn, t, k, eps);
  const vk::IndependentCommands group(stream);
  for (const NormedProduct& p : products) record_matmul(ctx, stream, *p.w, xn, t, k, p.y, p.y_row_stride, false, options);
}

void record_normed_swiglu(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& x, uint32_t t, uint32_t k,
                          const vk::BufferRange& norm_weight, float eps, const vk::BufferRange& xn, const WeightView& gate,
                          const WeightView& up, const vk::BufferRange& y, const vk::BufferRange& up_scratch,
                          const MatmulOptions& options) {
  if (gate.k != k) throw std::invalid_argument("normed swiglu: the weights must have k = " + std::to_string(k));
  if (swiglu_matvec_supported(ctx.device().info(), gate, up, t, options)) {
    record_swiglu_matvec(ctx, stream, gate, up, x, t, k, InputNorm{norm_weight, eps}, y, gate.n, options);
    return;
  }
  const NormedProduct products[] = {{&gate, y, gate.n}, {&up, up_scratch, up.n}};
  record_normed_matmuls(ctx, stream, x, t, k, norm_weight, eps, xn, products, options);
  record_silu_mul(ctx, stream, y, up_scratch, y, t * gate.n);
}

}  // namespace ckv::ops
