// KV-cache policies (FullKV and the compression methods compared in the CompressKV paper) and the per-layer
// budgets each one uses.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ops/kv_scores.hpp"

namespace ckv {

enum class KvPolicy {
  FullKV,      // keep everything
  Streaming,   // StreamingLLM: sink tokens + the most recent ones
  SnapKV,      // window scores of all query heads, per-KV-head top-k, uniform budgets
  PyramidKV,   // SnapKV scoring with budgets shrinking linearly with depth
  CompressKV,  // semantic-retrieval-head scores, one token set per layer, uniform or error-aware budgets
};

KvPolicy parse_kv_policy(std::string_view name);  // throws std::invalid_argument listing the valid names
const char* kv_policy_name(KvPolicy policy);

struct CompressionConfig {
  KvPolicy policy = KvPolicy::CompressKV;
  uint32_t window = 8;
  uint32_t pool_kernel = 5;
  ops::PoolKind pool = ops::PoolKind::Avg;
  uint32_t sink_tokens = 4;                             // StreamingLLM
  uint32_t retrieval_heads_used = 4;                    // CompressKV: first N of each layer's ranked list
  std::vector<std::vector<uint32_t>> retrieval_heads;   // CompressKV: per layer, ranked query head ids
  std::vector<double> layer_weights;                    // CompressKV error-aware budgets; empty = uniform
  uint32_t min_budget = 32;                             // error-aware budgets' bounds
  int max_budget = -1;                                  // -1: 3 × average
  int pyramid_beta = 20;
};

// Tokens each layer keeps for a prompt of `prompt_length` tokens (before clamping to the prompt: a layer whose
// budget is at least the prompt length is not compressed). Throws std::invalid_argument when the average budget
// is smaller than the window or not positive.
std::vector<int> layer_budgets(const CompressionConfig& config, uint32_t n_layers, int average_budget,
                               uint32_t prompt_length);

}  // namespace ckv
