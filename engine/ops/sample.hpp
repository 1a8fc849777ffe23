// Picking the next token from the logits on the GPU; only the chosen id (u32) is written. One workgroup reads
// the whole vocabulary. `use_subgroup_ops` = false forces the shared-memory reductions that devices without
// subgroup arithmetic get.
#pragma once
#include <cstdint>

#include "vk/command_stream.hpp"
#include "vk/context.hpp"

namespace ckv::ops {

// Greedy: out_token[0] = argmax_i logits[i] over i < vocab, the lowest index among equal maxima. NaN logits are
// never chosen (all NaN gives 0). logits: f32 [vocab] from a 16-byte aligned offset; out_token: at least one u32.
// Throws std::invalid_argument when vocab is 0 or above 2^24, a buffer is too small or logits is misaligned.
void record_sample_argmax(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& logits, uint32_t vocab,
                          const vk::BufferRange& out_token, bool use_subgroup_ops = true);

// Temperature + nucleus sampling, exactly this rule (fp32 on the GPU):
//   w_i = exp((logits[i] - max logit) / temperature)      (p_i = w_i / sum_j w_j)
//   theta = the largest w value with sum_{w_j >= theta} w_j >= top_p * sum_j w_j
//   kept = {i : w_i >= theta}: the smallest set of the most probable tokens whose probability mass reaches
//          top_p; tokens tied with the least probable kept one are all kept. top_p = 1 keeps every token.
//   out_token[0] = the first i in id order at which sum_{j <= i, j kept} w_j > u * sum_{j kept} w_j
//                  (tokens with w_i = 0 are never chosen).
// `uniform_random` (u) is drawn by the host from its seeded generator, so a run is reproducible. A tiny top_p
// keeps only the maximum logit(s): with a unique maximum that is argmax. theta is found by bisection over the
// float bit patterns of [0, 1] (at most 30 workgroup reductions over the vocabulary, fewer once a single token
// lies between the bounds), so it is exact, not approximated. Logits must be finite (-inf is allowed for
// tokens that are masked out, as long as one logit is finite).
// temperature <= 0 means greedy decoding: call record_sample_argmax instead.
// Throws std::invalid_argument for temperature <= 0 or so small that 1 / temperature overflows, top_p outside
// (0, 1], uniform_random outside [0, 1), vocab 0 or above 2^24, or buffers too small.
void record_sample_top_p(vk::Context& ctx, vk::CommandStream& stream, const vk::BufferRange& logits, uint32_t vocab,
                         float temperature, float top_p, float uniform_random, const vk::BufferRange& out_token,
                         bool use_subgroup_ops = true);

}  // namespace ckv::ops
