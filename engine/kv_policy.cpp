#include "kv_policy.hpp"

#include <stdexcept>
#include <string>

#include "engine/budgets.hpp"

namespace ckv {

namespace {
constexpr struct {
  KvPolicy policy;
  const char* name;
} kPolicies[] = {{KvPolicy::FullKV, "fullkv"},
                 {KvPolicy::Streaming, "streaming"},
                 {KvPolicy::SnapKV, "snapkv"},
                 {KvPolicy::PyramidKV, "pyramidkv"},
                 {KvPolicy::CompressKV, "compresskv"}};
}  // namespace

KvPolicy parse_kv_policy(std::string_view name) {
  for (const auto& p : kPolicies)
    if (name == p.name) return p.policy;
  throw std::invalid_argument("unknown KV policy '" + std::string(name) +
                              "' (fullkv, streaming, snapkv, pyramidkv, compresskv)");
}

const char* kv_policy_name(KvPolicy policy) {
  for (const auto& p : kPolicies)
    if (policy == p.policy) return p.name;
  return "unknown";
}

std::vector<int> layer_budgets(const CompressionConfig& config, uint32_t n_layers, int average_budget,
                               uint32_t prompt_length) {
  if (config.policy == KvPolicy::FullKV) return std::vector<int>(n_layers, int(prompt_length));
  if (average_budget <= 0) throw std::invalid_argument("KV budget must be positive, got " + std::to_string(average_budget));
  if (config.policy != KvPolicy::Streaming && average_budget < int(config.window))
    throw std::invalid_argument("KV budget " + std::to_string(average_budget) + " is smaller than the window (" +
                                std::to_string(config.window) + " tokens)");
  if (config.policy == KvPolicy::Streaming && average_budget < int(config.sink_tokens))
    throw std::invalid_argument("KV budget " + std::to_string(average_budget) + " is smaller than the " +
                                std::to_string(config.sink_tokens) + " sink tokens");
  switch (config.policy) {
    case KvPolicy::PyramidKV:
      if (int(prompt_length) <= average_budget) return uniform_budgets(int(n_layers), average_budget);
      return pyramid_budgets(int(n_layers), average_budget, int(config.window), int(prompt_length), config.pyramid_beta);
    case KvPolicy::CompressKV:
      if (!config.layer_weights.empty()) {
        if (config.layer_weights.size() != n_layers)
          throw std::invalid_argument("layer weights list " + std::to_string(config.layer_weights.size()) +
                                      " layers; the model has " + std::to_string(n_layers));
        const int min_budget = std::min<int>(int(config.min_budget), average_budget);
        return error_aware_budgets(config.layer_weights, average_budget, min_budget, config.max_budget);
      }
      return uniform_budgets(int(n_layers), average_budget);
    default:
      return uniform_budgets(int(n_layers), average_budget);
  }
}

}  // namespace ckv
