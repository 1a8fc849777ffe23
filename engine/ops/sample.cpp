#include "sample.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

#include "engine/pipelines.hpp"

namespace ckv::ops {

namespace {

constexpr uint32_t kMaxVocab = 1u << 24;  // token counts are summed in fp32 by the top-p search
constexpr uint32_t kSmallVocab = 8192;

void require(bool ok, const char* op, const std::string& message) {
  if (!ok) throw std::invalid_argument(std::string(op) + ": " + message);
}

void check_buffers(const char* op, const vk::BufferRange& logits, uint32_t vocab, const vk::BufferRange& out_token) {
  require(vocab > 0 && vocab <= kMaxVocab, op, "vocab must be in 1 .. 2^24, got " + std::to_string(vocab));
  require(logits.buffer && out_token.buffer, op, "logits and out_token need buffers");
  require(logits.bytes() >= uint64_t(vocab) * sizeof(float), op,
          "logits holds " + std::to_string(logits.bytes()) + " bytes, need " + std::to_string(vocab * 4ull) +
              " for f32 [vocab]");
  require(out_token.bytes() >= sizeof(uint32_t), op, "out_token must hold a u32");
}

// One workgroup does everything: 256 threads for small vocabularies, else 1024 (or the device's limit). The
// shared-memory fallback needs a power of two.
uint32_t group_size_for(vk::Context& ctx, uint32_t vocab) {
  const uint32_t wanted = vocab < kSmallVocab ? 256 : 1024;
  return std::bit_floor(std::min(wanted, ctx.device().info().max_workgroup_invocations));
}

// The pipeline variant: subgroup reductions when allowed and supported.
std::string variant(vk::Context& ctx, const char* shader, bool use_subgroup_ops) {
  const bool subgroup = use_subgroup_ops && ctx.device().info().subgroup_arithmetic;
  return std::string(shader) + (subgroup ? "" : "_shared");
}

}  // namespace

void record_sample_argmax(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& logits, uint32_t vocab,
                          const vk::BufferRange& out_token, bool use_subgroup_ops) {
  check_buffers("sample_argmax", logits, vocab, out_token);
  require(logits.offset % 16 == 0, "sample_argmax", "logits must start at a multiple of 16 bytes (read 4 at a time)");
  struct Push {
    uint32_t vocab;
  } push{vocab};
  const auto& pipeline = shader_pipeline(ctx, variant(ctx, "sample_argmax", use_subgroup_ops), 2, sizeof(Push),
                                         {group_size_for(ctx, vocab)});
  stream.dispatch(pipeline,
                  {vk::BufferRange(*logits.buffer, logits.offset, uint64_t(vocab) * sizeof(float)),
                   vk::BufferRange(*out_token.buffer, out_token.offset, sizeof(uint32_t))},
                  push, 1);
}

void record_sample_top_p(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& logits, uint32_t vocab,
                         float temperature, float top_p, float uniform_random, const vk::BufferRange& out_token,
                         bool use_subgroup_ops) {
  const char* op = "sample_top_p";
  require(temperature > 0.0f, op,
          "temperature must be > 0, got " + std::to_string(temperature) + " (use record_sample_argmax for greedy)");
  const float log2e_over_temperature = float(std::numbers::log2e / double(temperature));
  require(std::isfinite(log2e_over_temperature), op,
          "temperature " + std::to_string(temperature) + " is too small or not finite");
  require(top_p > 0.0f && top_p <= 1.0f, op, "top_p must be in (0, 1], got " + std::to_string(top_p));
  require(uniform_random >= 0.0f && uniform_random < 1.0f, op,
          "uniform_random must be in [0, 1), got " + std::to_string(uniform_random));
  check_buffers(op, logits, vocab, out_token);
  struct Push {
    uint32_t vocab;
    float log2e_over_temperature, top_p, u;
  } push{vocab, log2e_over_temperature, top_p, uniform_random};
  const auto& pipeline = shader_pipeline(ctx, variant(ctx, "sample_top_p", use_subgroup_ops), 2, sizeof(Push),
                                         {group_size_for(ctx, vocab)});
  stream.dispatch(pipeline,
                  {vk::BufferRange(*logits.buffer, logits.offset, uint64_t(vocab) * sizeof(float)),
                   vk::BufferRange(*out_token.buffer, out_token.offset, sizeof(uint32_t))},
                  push, 1);
}

}  // namespace ckv::ops
