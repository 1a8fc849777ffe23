// Weight × activation kernels on quantized GGUF blocks: matrix-vector (decode, GB/s of weights read) and the
// tiled matrix-matrix kernel (prefill, TFLOP/s), at the Llama-3.1-8B FFN shape. Rows are checked against a
// double-precision product over the CPU-dequantized weights first. The sweep suite times matrix-vector workgroup
// shapes around the default.
#include <cmath>
#include <optional>

#include "bench.hpp"
#include "bench_data.hpp"
#include "engine/ops/matmul.hpp"
#include "engine/ops/normed_matmul.hpp"
#include "engine/quant/dequant.hpp"

namespace ckv::bench {

namespace {

constexpr float kNormEps = 1e-5f;

// The RMS norm gain of the normed cases: 0.5 .. 1.5, varying smoothly over the k inputs.
std::vector<float> bench_norm_weight(uint32_t k) {
  std::vector<float> gain(k);
  for (uint32_t i = 0; i < k; ++i) gain[i] = 1.0f + 0.5f * std::sin(0.01f * float(i));
  return gain;
}

// x (gain.size() values) through the RMS norm with `gain`, in double.
std::vector<double> rms_normed(const float* x, const std::vector<float>& gain) {
  std::vector<double> out(x, x + gain.size());
  double squares = 0;
  for (double v : out) squares += v * v;
  const double inv_rms = 1.0 / std::sqrt(squares / double(gain.size()) + kNormEps);
  for (size_t i = 0; i < out.size(); ++i) out[i] *= inv_rms * gain[i];
  return out;
}

// One weight [k, n] of one type with t input vectors, timed under any MatmulOptions. Bandwidth-bound cases (with
// `rotate`) cycle through identical copies of the weight so that every repeat reads it from memory.
class MatmulCase {
 public:
  MatmulCase(vk::Context& ctx, GgmlType type, uint32_t k, uint32_t n, uint32_t t, bool rotate)
      : type_(type), k_(k), n_(n), t_(t), weights_(padded(quant::quantize(type, bench_random(size_t(k) * n, 11)))),
        x_(bench_random(size_t(k) * t, 12)), xb_(device_buffer(ctx, x_, "bench x")),
        yb_(ctx.device(), 4ull * n * t, vk::MemoryKind::DeviceLocal, "bench y") {
    for (size_t c = rotation_copies(weights_.size(), rotate); c > 0; --c)
      wb_.push_back(device_buffer(ctx, weights_, "bench weights"));
  }

  // With `normed`, y = W rms_norm(x) through ops::record_normed_matmuls (the decode layers' Q/K/V products): the
  // matrix-vector kernels normalise x themselves.
  BenchResult run(vk::Context& ctx, const BenchOptions& options, const std::string& name,
                  const ops::MatmulOptions& matmul = {}, bool normed = false) {
    const std::vector<float> norm_weight = bench_norm_weight(k_);
    std::optional<vk::Buffer> norm_b, xn_b;
    if (normed) {
      norm_b.emplace(device_buffer(ctx, norm_weight, "bench norm weight"));
      xn_b.emplace(ctx.device(), 4ull * k_ * t_, vk::MemoryKind::DeviceLocal, "bench normed x");
    }
    size_t next = 0;
    const Timing timing = time_on_gpu(
        ctx,
        [&](vk::CommandStream& s) {
          const ops::WeightView w{&wb_[next++ % wb_.size()], 0, type_, k_, n_};
          if (normed) {
            const ops::NormedProduct product{&w, yb_, n_};
            ops::record_normed_matmuls(ctx, s, xb_, t_, k_, *norm_b, kNormEps, *xn_b, {&product, 1}, matmul);
          } else {
            ops::record_matmul(ctx, s, w, xb_, t_, k_, yb_, n_, false, matmul);
          }
        },
        options.warmup, options.repeats);
    // Check rows 0 and n-1 of the last token.
    const float* x_tail = x_.data() + size_t(t_ - 1) * k_;
    const std::vector<double> x_last = normed ? rms_normed(x_tail, norm_weight) : std::vector<double>(x_tail, x_tail + k_);
    double worst = 0;
    const auto y = vk::download<float>(ctx.device(), yb_, n_, 4ull * n_ * (t_ - 1));
    for (uint64_t row : {uint64_t(0), uint64_t(n_ - 1)}) {
      const auto wrow = quant::dequantize_row(type_, weights_, k_, row);
      double dot = 0, mag = 0;
      for (uint32_t i = 0; i < k_; ++i) {
        dot += double(wrow[i]) * x_last[i];
        mag += std::abs(double(wrow[i]) * x_last[i]);
      }
      worst = std::max(worst, std::abs(y[row] - dot) / (mag + 1e-30));
    }
    BenchResult r;
    r.name = name;
    r.shape = {{"k", k_}, {"n", n_}, {"t", t_}, {"type", quant::type_name(type_)}, {"weight_copies", wb_.size()}};
    if (matmul.vector_threads) r.shape["threads"] = matmul.vector_threads;
    if (matmul.vector_rows) r.shape["rows"] = matmul.vector_rows;
    if (!matmul.vector_wide_loads) r.shape["wide_loads"] = 0;
    if (matmul.vector_workgroups) r.shape["workgroups"] = matmul.vector_workgroups;
    if (matmul.vector_batch) r.shape["batch"] = matmul.vector_batch;
    if (matmul.vector_x_loads) r.shape["x_loads"] = matmul.vector_x_loads;
    const bool int8 = ops::matmul_uses_int8_activations(ctx.device().info(), {nullptr, 0, type_, k_, n_}, t_, matmul);
    if (int8) r.shape["int8_activations"] = 1;
    if (normed) r.shape["rms_norm"] = 1;
    r.median_us = timing.median_us;
    r.min_us = timing.min_us;
    r.max_us = timing.max_us;
    r.bytes = double(weights_.size()) + 4.0 * t_ * (k_ + n_);
    r.flops = 2.0 * k_ * n_ * t_;
    // int8 activations: x (uniform in [-1, 1)) rounded to 1/254 of each block's max adds up to ~0.8 % of sum|w x|.
    const double limit = int8 ? 1e-2 : 1e-4;
    r.checked = worst < limit;
    r.check = "rows 0 and n-1 vs fp64 over dequantized weights, rel err " + std::to_string(worst) + " (limit " +
              std::to_string(limit) + ")";
    return r;
  }

 private:
  static std::vector<uint8_t> padded(std::vector<uint8_t> bytes) {
    bytes.resize((bytes.size() + 3) / 4 * 4, 0);
    return bytes;
  }

  GgmlType type_;
  uint32_t k_, n_, t_;
  std::vector<uint8_t> weights_;
  std::vector<float> x_;
  vk::Buffer xb_, yb_;
  std::vector<vk::Buffer> wb_;
};

// A decode layer's FFN input product: silu(W_gate rms_norm(x)) * (W_up rms_norm(x)) in one matrix-vector pass
// (ops::record_normed_swiglu; devices where the engine would not take that kernel get its fallback, named in the
// check) with gate and up in one buffer, as LlamaWeights keeps them. Rows 0 and n-1 are checked
// against fp64; the bound carries each product's relative error `product_limit` of its sum |w x| through the SiLU.
BenchResult run_swiglu_case(vk::Context& ctx, const BenchOptions& options, const std::string& name, GgmlType type,
                            uint32_t k, uint32_t n, const ops::MatmulOptions& matmul) {
  const std::vector<uint8_t> gate = quant::quantize(type, bench_random(size_t(k) * n, 21));
  const std::vector<uint8_t> up = quant::quantize(type, bench_random(size_t(k) * n, 22));
  const uint64_t up_offset = (gate.size() + 255) / 256 * 256;
  std::vector<uint8_t> both(up_offset + (up.size() + 3) / 4 * 4, 0);
  std::copy(gate.begin(), gate.end(), both.begin());
  std::copy(up.begin(), up.end(), both.begin() + up_offset);
  const std::vector<float> x = bench_random(k, 23);
  const std::vector<float> norm_weight = bench_norm_weight(k);
  std::vector<vk::Buffer> wb;
  for (size_t c = rotation_copies(both.size(), true); c > 0; --c) wb.push_back(device_buffer(ctx, both, "bench gate+up"));
  const vk::Buffer xb = device_buffer(ctx, x, "bench x"), nb = device_buffer(ctx, norm_weight, "bench norm weight");
  const vk::Buffer xn(ctx.device(), 4ull * k, vk::MemoryKind::DeviceLocal, "bench normed x");
  const vk::Buffer y(ctx.device(), 4ull * n, vk::MemoryKind::DeviceLocal, "bench y");
  const vk::Buffer up_scratch(ctx.device(), 4ull * n, vk::MemoryKind::DeviceLocal, "bench up scratch");
  size_t next = 0;
  bool one_pass = true;
  const Timing timing = time_on_gpu(
      ctx,
      [&](vk::CommandStream& s) {
        const vk::Buffer& w = wb[next++ % wb.size()];
        const ops::WeightView gv{&w, 0, type, k, n}, uv{&w, up_offset, type, k, n};
        one_pass = one_pass && ops::swiglu_matvec_supported(ctx.device().info(), gv, uv, 1, matmul);
        ops::record_normed_swiglu(ctx, s, xb, 1, k, nb, kNormEps, xn, gv, uv, y, up_scratch, matmul);
      },
      options.warmup, options.repeats);

  const std::vector<double> xd = rms_normed(x.data(), norm_weight);
  const bool int8 = ops::matmul_uses_int8_activations(ctx.device().info(), {nullptr, 0, type, k, n}, 1, matmul);
  const double product_limit = int8 ? 1e-2 : 1e-4;
  const auto got = vk::download<float>(ctx.device(), y, n);
  double worst = 0;  // error over the bound, at most 1 when the check passes
  for (uint64_t row : {uint64_t(0), uint64_t(n - 1)}) {
    const auto grow = quant::dequantize_row(type, gate, k, row), urow = quant::dequantize_row(type, up, k, row);
    double g = 0, u = 0, g_abs = 0, u_abs = 0;
    for (uint32_t i = 0; i < k; ++i) {
      g += grow[i] * xd[i], u += urow[i] * xd[i];
      g_abs += std::abs(grow[i] * xd[i]), u_abs += std::abs(urow[i] * xd[i]);
    }
    const double silu = g / (1.0 + std::exp(-g));
    const double bound = 1.1 * product_limit * g_abs * (std::abs(u) + product_limit * u_abs) +
                         std::abs(silu) * product_limit * u_abs + 1e-12;
    worst = std::max(worst, std::abs(got[row] - silu * u) / bound);
  }
  BenchResult r;
  r.name = name;
  r.shape = {{"k", k}, {"n", n}, {"t", 1}, {"type", quant::type_name(type)}, {"weight_copies", wb.size()},
             {"rms_norm", 1}, {"swiglu", 1}};
  if (int8) r.shape["int8_activations"] = 1;
  r.median_us = timing.median_us;
  r.min_us = timing.min_us;
  r.max_us = timing.max_us;
  r.bytes = double(gate.size() + up.size()) + 4.0 * (k + n);
  r.flops = 4.0 * k * n;
  r.checked = worst <= 1.0;
  r.check = std::string(one_pass ? "one pass" : "two products + SiLU pass") + "; rows 0 and n-1 vs fp64, error / bound " +
            std::to_string(worst) + " (each product within " + std::to_string(product_limit) + " of sum |w x|)";
  return r;
}

}  // namespace

std::vector<BenchResult> bench_matmul(vk::Context& ctx, const BenchOptions& options) {
  const bool gpu = options.preset == Preset::Gpu;
  const uint32_t k = gpu ? 4096 : 768, n = gpu ? 14336 : 1536;  // k: whole K-quant super-blocks
  std::vector<BenchResult> results;
  for (GgmlType type : {GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_0_X8, GgmlType::Q4_1,
                        GgmlType::Q4_K, GgmlType::Q6_K}) {
    for (uint32_t t : {1u, gpu ? 512u : 64u}) {
      const std::string name = std::string(t == 1 ? "matvec " : "matmul ") + quant::type_name(type) + " t=" + std::to_string(t);
      if (!options.filter.empty() && name.find(options.filter) == std::string::npos) continue;
      MatmulCase c(ctx, type, k, n, t, gpu && t == 1);
      results.push_back(c.run(ctx, options, name));
      ops::MatmulOptions int8;  // the same weights on int8-rounded activations, where the device can
      int8.int8_activations = true;
      if (ops::matmul_uses_int8_activations(ctx.device().info(), {nullptr, 0, type, k, n}, t, int8)) {
        results.push_back(c.run(ctx, options, name + " int8", int8));
        results.push_back(c.run(ctx, options, name + " int8 normed", int8, true));
      }
    }
  }
  // The FFN's gate + up pass, the largest matrix-vector dispatch of a decoded token.
  for (GgmlType type : {GgmlType::F16, GgmlType::Q4_0_X8}) {
    const std::string name = std::string("matvec ") + quant::type_name(type) + " swiglu t=1";
    if (!options.filter.empty() && name.find(options.filter) == std::string::npos) continue;
    ops::MatmulOptions matmul;
    matmul.int8_activations = type == GgmlType::Q4_0_X8;
    const bool int8 = ops::matmul_uses_int8_activations(ctx.device().info(), {nullptr, 0, type, k, n}, 1, matmul);
    results.push_back(run_swiglu_case(ctx, options, name + (int8 ? " int8" : ""), type, k, n, matmul));
  }
  return results;
}

std::vector<BenchResult> bench_matvec_sweep(vk::Context& ctx, const BenchOptions& options) {
  std::vector<BenchResult> results;
  if (options.preset != Preset::Gpu) return results;
  for (GgmlType type : {GgmlType::F16, GgmlType::Q4_0, GgmlType::Q4_K}) {
    const std::string prefix = "matvec sweep " + quant::type_name(type);
    if (!options.filter.empty() && prefix.find(options.filter) == std::string::npos) continue;
    MatmulCase c(ctx, type, 4096, 14336, 1, true);
    for (uint32_t threads : {32u, 64u, 128u, 256u})
      for (uint32_t rows : {1u, 2u, 4u, 8u})
        for (bool wide : {true, false}) {
          if (!wide && type != GgmlType::F16) continue;
          ops::MatmulOptions m;
          m.kernel = ops::MatmulKernel::Vector;
          m.vector_threads = threads;
          m.vector_rows = rows;
          m.vector_wide_loads = wide;
          const std::string name = prefix + " threads=" + std::to_string(threads) + " rows=" + std::to_string(rows) +
                                   (wide ? "" : " 4-byte loads");
          results.push_back(c.run(ctx, options, name, m));
        }
  }
  const std::string prefix = "matvec sweep Q4_0_X8 int8";
  if (!options.filter.empty() && prefix.find(options.filter) == std::string::npos) return results;
  ops::MatmulOptions m;
  m.int8_activations = true;
  if (!ops::matmul_uses_int8_activations(ctx.device().info(), {nullptr, 0, GgmlType::Q4_0_X8, 4096, 14336}, 1, m))
    return results;
  MatmulCase c(ctx, GgmlType::Q4_0_X8, 4096, 14336, 1, true);
  // Threads and rows per subgroup at the FFN's three shapes (the first is c's).
  struct Shape {
    uint32_t k, n;
  };
  for (const Shape shape : {Shape{4096, 14336}, Shape{4096, 4096}, Shape{14336, 4096}}) {
    std::optional<MatmulCase> other;
    if (shape.n != 14336) other.emplace(ctx, GgmlType::Q4_0_X8, shape.k, shape.n, 1, true);
    MatmulCase& sized = other ? *other : c;
    for (uint32_t threads : {256u, 512u, 1024u})
      for (uint32_t rows : {1u, 2u}) {
        m.vector_threads = threads;
        m.vector_rows = rows;
        results.push_back(sized.run(ctx, options, prefix + " k=" + std::to_string(shape.k) + " n=" +
                                                      std::to_string(shape.n) + " threads=" + std::to_string(threads) +
                                                      " rows=" + std::to_string(rows), m));
      }
  }
  m = {};
  m.int8_activations = true;
  {  // x's loads before its rounding, at the FFN down shape (k 14336: 3.5 vec4 per invocation of 1024)
    MatmulCase down(ctx, GgmlType::Q4_0_X8, 14336, 4096, 1, true);
    for (uint32_t x_loads : {1u, 2u, 4u}) {
      m.vector_x_loads = x_loads;
      results.push_back(down.run(ctx, options, prefix + " k=14336 n=4096 x_loads=" + std::to_string(x_loads), m));
    }
    m.vector_x_loads = 0;
  }
  for (uint32_t batch : {1u, 2u, 3u}) {  // fewer blocks per lane in flight than a row's (4 at k 4096): fewer registers
    m.vector_batch = batch;
    for (uint32_t workgroups : {256u, 512u}) {
      m.vector_workgroups = workgroups;
      results.push_back(c.run(ctx, options, prefix + " batch=" + std::to_string(batch) + " workgroups=" +
                                                std::to_string(workgroups), m));
    }
  }
  m.vector_batch = 0;
  for (uint32_t workgroups : {132u, 192u, 256u, 264u, 384u, 1u << 20}) {  // the H100 has 132 SMs
    m.vector_workgroups = workgroups;
    results.push_back(c.run(ctx, options, prefix + " workgroups=" + std::to_string(workgroups), m));
  }
  return results;
}

}  // namespace ckv::bench
