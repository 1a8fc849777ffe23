// Per-layer compression error for CompressKV's error-aware budgets (`ckv calibrate`). Two sessions run the same
// prompt in lockstep, FullKV and a compressed one; both then decode the FullKV session's greedy tokens, and after
// each step the attention output after o_proj of every layer is compared: e_l += ‖o_c − o_f‖ / ‖o_f‖.
//
// Isolated mode (the default, and what the reference implementation measures: there the model runs with the full
// cache and each layer's attention is recomputed over its kept tokens from the same hidden state) replays the
// FullKV session's layer inputs in the compressed session (session_probes.hpp), so e_l is layer l's own error.
// Propagated mode lets the compressed session run on its own residual stream, so e_l also holds the drift
// caused by the layers below.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "engine/model/llama_session.hpp"

namespace ckv {

enum class LayerErrorMode { Isolated, Propagated };

struct LayerErrors {
  std::vector<double> sum;       // per layer, over the steps
  uint32_t steps = 0;
  std::vector<int32_t> decoded;  // the tokens both sessions were fed
  SessionStats compressed_stats;
};

// `compressed` must compress (not FullKV) with an average budget below the prompt length; steps >= 1.
// Throws std::invalid_argument otherwise.
LayerErrors measure_layer_errors(vk::Context& ctx, const LlamaConfig& config, const LlamaWeights& weights,
                                 std::span<const int32_t> prompt, const SessionOptions& compressed, uint32_t steps,
                                 LayerErrorMode mode);

}  // namespace ckv
