#include "normed_matmul.hpp"

#include <algorithm>
#include <stdexcept>

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

}  // namespace ckv::ops
