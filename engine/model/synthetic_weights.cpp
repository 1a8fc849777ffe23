#include "synthetic_weights.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

#include "engine/half.hpp"
#include "engine/model/llama_weights.hpp"
#include "engine/quant/dequant.hpp"
#include "vk/command_stream.hpp"
#include "vk/transfer.hpp"

namespace ckv {

namespace {

// Host patterns are at most this large; tensors are rotated copies of them, made on the device, so an 8B model
// (16 GB in F16) costs two 32 MiB uploads and 16 GB of device-to-device copies.
constexpr uint64_t kMaxPatternBytes = 32ull << 20;

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [-1, 1).
float uniform_pm1(uint64_t& state) { return float(int64_t(splitmix64(state) >> 11) - (1ll << 52)) * 0x1p-52f; }

// The repeating unit of a pattern of rows of k elements: whole blocks (Q4_0_X8 super-blocks where the rows take
// that layout, quant::device_weight_type), and a multiple of 4 bytes so copies stay word-aligned.
uint64_t pattern_unit(GgmlType type, uint32_t k) {
  if (type != GgmlType::Q4_0) return 4;
  return quant::device_weight_type(type, k) == GgmlType::Q4_0_X8 ? 144 : 36;
}
constexpr uint64_t kLargestUnit = 144;  // a multiple of every unit: pattern sizes fit every row length

// Random weights for rows of k elements with standard deviation 1/sqrt(k) (unit-variance outputs for
// unit-RMS inputs), in `bytes` bytes of the type's blocks.
std::vector<uint8_t> random_pattern(GgmlType type, uint32_t k, uint64_t bytes, uint64_t seed) {
  uint64_t state = seed * 0x2545F4914F6CDD1Dull + k;
  std::vector<uint8_t> out(bytes);
  if (type == GgmlType::F16) {
    const float amplitude = std::sqrt(3.0f / float(k));  // uniform ±a has std a/sqrt(3)
    for (uint64_t i = 0; i + 2 <= bytes; i += 2) {
      const uint16_t h = float_to_half(amplitude * uniform_pm1(state));
      out[i] = uint8_t(h & 0xff);
      out[i + 1] = uint8_t(h >> 8);
    }
  } else {
    // Q4_0 block: f16 d, then 32 nibbles q; value (q - 8) * d. Uniform q gives E[(q-8)^2] = 21.5; d's random sign
    // makes the mean zero.
    const float scale = 1.0f / std::sqrt(21.5f * float(k));
    for (uint64_t b = 0; b + 18 <= bytes; b += 18) {
      uint64_t r = splitmix64(state);
      const uint16_t d = float_to_half((r & 1) ? -scale : scale);
      out[b] = uint8_t(d & 0xff);
      out[b + 1] = uint8_t(d >> 8);
      for (int i = 0; i < 16; ++i) {
        if (i % 8 == 0) r = splitmix64(state);
        out[b + 2 + i] = uint8_t(r >> (8 * (i % 8)));
      }
    }
    if (quant::device_weight_type(type, k) == GgmlType::Q4_0_X8) {
      std::vector<uint8_t> x8(bytes);
      quant::repack_q4_0_x8(out, x8);
      out.swap(x8);
    }
  }
  return out;
}

// One device-resident random pattern per row length k, and the copies that fill a tensor from it.
class PatternFiller {
 public:
  PatternFiller(vk::Context& ctx, const SyntheticWeightOptions& options, uint64_t largest_tensor_bytes)
      : ctx_(ctx), options_(options) {
    const uint64_t unit = options.type == GgmlType::Q4_0 ? kLargestUnit : 4;
    bytes_ = std::max(unit, std::min(kMaxPatternBytes, largest_tensor_bytes) / unit * unit);
  }

  // Records copies that fill `bytes` bytes of `dst` from byte `dst_offset` on with the pattern for row length k,
  // rotated by an offset drawn from the seed and `tensor_index` (so no two tensors are the same).
  void record_fill(vk::CommandStream& s, const vk::Buffer& dst, uint64_t dst_offset, uint64_t bytes, uint32_t k,
                   uint64_t tensor_index) {
    const vk::Buffer& pattern = pattern_for(k);
    uint64_t state = options_.seed ^ (tensor_index * 0xD1B54A32D192ED03ull);
    const uint64_t unit = pattern_unit(options_.type, k);
    uint64_t src = splitmix64(state) % (bytes_ / unit) * unit;
    for (uint64_t done = 0; done < bytes; src = 0) {
      const uint64_t n = std::min(bytes_ - src, bytes - done);
      s.copy(vk::BufferRange(pattern, src, n), vk::BufferRange(dst, dst_offset + done, n));
      done += n;
    }
  }

 private:
  const vk::Buffer& pattern_for(uint32_t k) {
    auto& slot = patterns_[k];
    if (!slot) {
      const std::vector<uint8_t> host = random_pattern(options_.type, k, bytes_, options_.seed);
      slot = std::make_unique<vk::Buffer>(ctx_.device(), bytes_, vk::MemoryKind::DeviceLocal, "synthetic weight pattern");
      vk::upload_bytes(ctx_.device(), *slot, host.data(), host.size());
    }
    return *slot;
  }

  vk::Context& ctx_;
  SyntheticWeightOptions options_;
  uint64_t bytes_ = 0;
  std::map<uint32_t, std::unique_ptr<vk::Buffer>> patterns_;
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

const char* synthetic_preset_names() { return "llama-3.1-8b, tiny"; }

LlamaConfig synthetic_config(std::string_view preset) {
  LlamaConfig c;
  c.architecture = "llama";
  c.name = "synthetic " + std::string(preset);
  c.rope_style = RopeStyle::Normal;
  c.rope_freq_scale = 1.0f;
  if (preset == "llama-3.1-8b") {
    c.n_layers = 32;
    c.n_embd = 4096;
    c.n_ff = 14336;
    c.n_heads = 32;
    c.n_kv_heads = 8;
    c.head_dim = 128;
    c.vocab_size = 128256;
    c.context_length = 131072;
    c.rope_freq_base = 500000.0f;
    c.norm_eps = 1e-5f;
  } else if (preset == "tiny") {
    c.n_layers = 2;
    c.n_embd = 256;
    c.n_ff = 512;
    c.n_heads = 8;
    c.n_kv_heads = 2;
    c.head_dim = 32;
    c.vocab_size = 1000;
    c.context_length = 131072;  // like the real model: any prompt length the memory allows
    c.rope_freq_base = 10000.0f;
    c.norm_eps = 1e-5f;
  } else {
    throw std::invalid_argument("unknown synthetic model '" + std::string(preset) + "' (known: " +
                                synthetic_preset_names() + ")");
  }
  c.rope_dim = c.head_dim;
  return c;
}

GgmlType parse_synthetic_weight_type(std::string_view name) {
  const std::string n = lower(name);
  if (n == "f16") return GgmlType::F16;
  if (n == "q4_0") return GgmlType::Q4_0;
  throw std::invalid_argument("synthetic weight type '" + std::string(name) + "' is not supported (supported: f16, q4_0)");
}

LlamaWeights::LlamaWeights(vk::Context& ctx, const LlamaConfig& c, const SyntheticWeightOptions& options) {
  if (options.type != GgmlType::F16 && options.type != GgmlType::Q4_0)
    throw std::invalid_argument("synthetic weights are F16 or Q4_0, not " + quant::type_name(options.type));
  const uint32_t block = quant::block_layout(options.type).block_size;
  const uint32_t q_width = c.n_heads * c.head_dim;
  for (uint32_t k : {c.n_embd, q_width, c.n_ff})
    if (k == 0 || k % block)
      throw std::invalid_argument("synthetic " + quant::type_name(options.type) + " weights need row lengths that are " +
                                  "multiples of " + std::to_string(block) + ", not " + std::to_string(k));
  const uint64_t largest = weight_bytes({nullptr, 0, options.type, c.n_embd, std::max(c.vocab_size, c.n_ff)});
  PatternFiller filler(ctx, options, largest);
  vk::CommandStream stream(ctx.device(), 0);
  stream.set_auto_barrier(false);  // only copies from read-only patterns and fills, each into its own bytes
  uint64_t tensor_index = 0;
  tied_output = false;
  make_all(ctx, c, [&](const std::string&, uint32_t k, uint32_t n) {
    const bool norm = n == 1;  // the only vectors are the RMS-norm weights
    const GgmlType type = norm ? GgmlType::F32 : quant::device_weight_type(options.type, k);
    const uint64_t bytes = weight_bytes({nullptr, 0, type, k, n});
    const uint64_t index = norm ? 0 : tensor_index++;
    return TensorSource{type, bytes, [&, norm, bytes, k, index](const vk::Buffer& dst, uint64_t offset) {
                          if (norm)
                            stream.fill(vk::BufferRange(dst, offset, (bytes + 3) / 4 * 4), 0x3f800000u);  // 1.0f
                          else
                            filler.record_fill(stream, dst, offset, bytes, k, index);
                        }};
  });
  stream.submit_and_wait();
}

}  // namespace ckv
