// A model loaded for evaluation commands (ckv heads, ckv niah): the engine's session-level pieces, greedy answers
// with an optional per-step hook, and the named policies the evaluations compare.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/llama_config.hpp"
#include "engine/model/llama_session.hpp"
#include "engine/model/llama_weights.hpp"
#include "engine/tokenizer/tokenizer.hpp"
#include "vk/context.hpp"

namespace ckv {

struct EvalModel {
  std::unique_ptr<vk::Context> ctx;
  LlamaConfig config;
  std::unique_ptr<LlamaWeights> weights;
  std::unique_ptr<Tokenizer> tokenizer;
  std::string name;  // general.name, else the file name

  // Throws std::runtime_error naming the file for a missing or malformed model.
  static std::unique_ptr<EvalModel> load(const std::filesystem::path& gguf, const vk::ContextOptions& options);
};

struct GreedyAnswer {
  std::vector<int32_t> tokens;  // without the end-of-generation token
  std::string text;
  double prefill_seconds = 0, decode_seconds = 0;
};

// Greedy decoding of up to max_tokens tokens, stopping at an end-of-generation token. With
// last_prompt_token_decoded, the prompt's last token runs as a decode step (so the first answer token also comes
// from a decode step, whose attention on_decode sees; FullKV only: compression would lose that token's window
// query). on_decode(generated token, session) runs after every decode step.
GreedyAnswer greedy_answer(EvalModel& model, SessionOptions options, const std::vector<int32_t>& prompt,
                           uint32_t max_tokens, bool last_prompt_token_decoded,
                           const std::function<void(int32_t, const LlamaSession&)>& on_decode = {});

// Session options for a named policy: fullkv, streaming, snapkv, pyramidkv, compresskv (uniform budgets) or
// compresskv-ea (error-aware budgets from layer_weights). compresskv* need `heads`. Throws std::invalid_argument
// for an unknown name, a missing profile or a budget smaller than the window.
SessionOptions policy_session_options(const std::string& policy, int budget,
                                      const std::vector<std::vector<uint32_t>>& heads,
                                      const std::vector<double>& layer_weights);
const std::vector<std::string>& evaluation_policy_names();

}  // namespace ckv
