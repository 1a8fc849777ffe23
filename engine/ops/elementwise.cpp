#include "elementwise.hpp"

#include <stdexcept>
#include <string>

#include "engine/pipelines.hpp"

namespace ckv::ops {

namespace {

constexpr uint32_t kGroupSize = 256;

// Checks the three operands and records the scalar or the vec4 variant of `shader` over n floats.
void record_binary(vk::Context& ctx, vk::CommandStream& stream, const char* shader, const vk::BufferRange& in0,
                   const vk::BufferRange& in1, const vk::BufferRange& out, uint32_t n) {
  const uint64_t bytes = uint64_t(n) * sizeof(float);
  const vk::BufferRange* ranges[] = {&in0, &in1, &out};
  for (const vk::BufferRange* r : ranges) {
    if (!r->buffer) throw std::invalid_argument(std::string(shader) + ": an operand has no buffer");
    if (r->bytes() < bytes)
      throw std::invalid_argument(std::string(shader) + ": operand '" + r->buffer->name() + "' holds " +
                                  std::to_string(r->bytes()) + " bytes, need " + std::to_string(bytes) + " for n = " +
                                  std::to_string(n));
  }
  if (n == 0) return;
  bool vec4 = n % 4 == 0;
  for (const vk::BufferRange* r : ranges) vec4 = vec4 && r->offset % 16 == 0;
  struct Push {
    uint32_t n;
  } push{vec4 ? n / 4 : n};
  const auto& pipeline =
      shader_pipeline(ctx, std::string(shader) + (vec4 ? "_vec4" : ""), 3, sizeof(Push), {kGroupSize});
  stream.dispatch(pipeline,
                  {vk::BufferRange(*in0.buffer, in0.offset, bytes), vk::BufferRange(*in1.buffer, in1.offset, bytes),
                   vk::BufferRange(*out.buffer, out.offset, bytes)},
                  push, group_count(push.n, kGroupSize));
}

}  // namespace

void record_silu_mul(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& gate,
                     const vk::BufferRange& up, const vk::BufferRange& out, uint32_t n) {
  record_binary(ctx, stream, "silu_mul", gate, up, out, n);
}

void record_add(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& a, const vk::BufferRange& b,
                const vk::BufferRange& out, uint32_t n) {
  record_binary(ctx, stream, "add", a, b, out, n);
}

}  // namespace ckv::ops
