#include "calibration.hpp"

#include <stdexcept>
#include <string>

#include "engine/fidelity.hpp"

namespace ckv {

LayerErrors measure_layer_errors(vk::Context& ctx, const LlamaConfig& config, const LlamaWeights& weights,
                                 std::span<const int32_t> prompt, const SessionOptions& compressed, uint32_t steps,
                                 LayerErrorMode mode) {
  if (compressed.compression.policy == KvPolicy::FullKV)
    throw std::invalid_argument("calibration compares a compressed cache with FullKV: choose a compressing policy");
  if (steps == 0) throw std::invalid_argument("calibration needs at least one decode step");
  if (compressed.kv_budget >= int(prompt.size()))
    throw std::invalid_argument("the budget (" + std::to_string(compressed.kv_budget) +
                                " tokens) is not below the prompt length (" + std::to_string(prompt.size()) +
                                " tokens): nothing would be compressed");
  const bool isolated = mode == LayerErrorMode::Isolated;
  SessionOptions full_options = compressed;
  full_options.compression.policy = KvPolicy::FullKV;
  full_options.probes = SessionProbes{true, isolated, nullptr};
  full_options.on_prefill_layer = nullptr;
  LlamaSession full(ctx, config, weights, full_options);
  SessionOptions compressed_options = compressed;
  compressed_options.probes = SessionProbes{true, false, isolated ? &full : nullptr};
  LlamaSession small(ctx, config, weights, compressed_options);

  const SamplingOptions greedy;
  int32_t token = full.prefill(prompt, greedy);
  small.prefill(prompt, greedy);
  LayerErrors out;
  out.sum.assign(config.n_layers, 0.0);
  const size_t row = config.n_embd;
  for (uint32_t step = 0; step < steps; ++step) {
    out.decoded.push_back(token);
    const int32_t next = full.decode(token, greedy);
    small.decode(token, greedy);
    const std::vector<float> of = full.attention_outputs(), oc = small.attention_outputs();
    for (uint32_t l = 0; l < config.n_layers; ++l)
      out.sum[l] += relative_error(std::span(oc).subspan(l * row, row), std::span(of).subspan(l * row, row));
    token = next;
  }
  out.steps = steps;
  out.compressed_stats = small.stats();
  return out;
}

}  // namespace ckv
