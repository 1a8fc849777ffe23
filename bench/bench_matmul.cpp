// Weight × activation kernels on quantized GGUF blocks: matrix-vector (decode, GB/s of weights read) and the
// tiled matrix-matrix kernel (prefill, TFLOP/s), at the Llama-3.1-8B FFN shape. Rows are checked against a
// double-precision product over the CPU-dequantized weights first.
#include <cmath>

#include "bench.hpp"
#include "bench_data.hpp"
#include "engine/ops/matmul.hpp"
#include "engine/quant/dequant.hpp"

namespace ckv::bench {

std::vector<BenchResult> bench_matmul(vk::Context& ctx, const BenchOptions& options) {
  const bool gpu = options.preset == Preset::Gpu;
  const uint32_t k = gpu ? 4096 : 576, n = gpu ? 14336 : 1536;
  std::vector<BenchResult> results;
  for (GgmlType type : {GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q4_K, GgmlType::Q6_K}) {
    for (uint32_t t : {1u, gpu ? 512u : 64u}) {
      const std::string name = std::string(t == 1 ? "matvec " : "matmul ") + quant::type_name(type) + " t=" + std::to_string(t);
      if (!options.filter.empty() && name.find(options.filter) == std::string::npos) continue;
      const std::vector<uint8_t> weights = quant::quantize(type, bench_random(size_t(k) * n, 11));
      std::vector<uint8_t> padded = weights;
      padded.resize((padded.size() + 3) / 4 * 4, 0);
      vk::Buffer wb = device_buffer(ctx, padded, "bench weights");
      const auto x = bench_random(size_t(k) * t, 12);
      vk::Buffer xb = device_buffer(ctx, x, "bench x");
      vk::Buffer yb(ctx.device(), 4ull * n * t, vk::MemoryKind::DeviceLocal, "bench y");
      const ops::WeightView w{&wb, 0, type, k, n};
      const Timing timing = time_on_gpu(ctx, [&](vk::CommandStream& s) { ops::record_matmul(ctx, s, w, xb, t, k, yb, n); },
                                        options.warmup, options.repeats);
      // Check rows 0 and n-1 of the last token.
      double worst = 0;
      const auto y = vk::download<float>(ctx.device(), yb, n, 4ull * n * (t - 1));
      for (uint64_t row : {uint64_t(0), uint64_t(n - 1)}) {
        const auto wrow = quant::dequantize_row(type, weights, k, row);
        double dot = 0, mag = 0;
        for (uint32_t i = 0; i < k; ++i) {
          dot += double(wrow[i]) * x[size_t(t - 1) * k + i];
          mag += std::abs(double(wrow[i]) * x[size_t(t - 1) * k + i]);
        }
        worst = std::max(worst, std::abs(y[row] - dot) / (mag + 1e-30));
      }
      BenchResult r;
      r.name = name;
      r.shape = {{"k", k}, {"n", n}, {"t", t}, {"type", quant::type_name(type)}};
      r.median_us = timing.median_us;
      r.min_us = timing.min_us;
      r.max_us = timing.max_us;
      r.bytes = double(weights.size()) + 4.0 * t * (k + n);
      r.flops = 2.0 * k * n * t;
      r.checked = worst < 1e-4;
      r.check = "rows 0 and n-1 vs fp64 over dequantized weights, rel err " + std::to_string(worst);
      results.push_back(r);
    }
  }
  return results;
}

}  // namespace ckv::bench
