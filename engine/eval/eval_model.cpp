#include "eval_model.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "engine/gguf/gguf_file.hpp"
#include "engine/model/gguf_tokenizer.hpp"

namespace ckv {

std::unique_ptr<EvalModel> EvalModel::load(const std::filesystem::path& gguf, const vk::ContextOptions& options) {
  auto m = std::make_unique<EvalModel>();
  const GgufFile file = GgufFile::open(gguf.string());
  m->config = LlamaConfig::from_gguf(file);
  m->tokenizer = std::make_unique<Tokenizer>(tokenizer_data_from_gguf(file));
  m->ctx = std::make_unique<vk::Context>(options);
  m->weights = std::make_unique<LlamaWeights>(*m->ctx, file, m->config);
  m->name = m->config.name.empty() ? gguf.stem().string() : m->config.name;
  return m;
}

GreedyAnswer greedy_answer(EvalModel& model, SessionOptions options, const std::vector<int32_t>& prompt,
                           uint32_t max_tokens, bool last_prompt_token_decoded,
                           const std::function<void(int32_t, const LlamaSession&)>& on_decode) {
  if (prompt.size() < 2) throw std::invalid_argument("the prompt needs at least two tokens");
  if (last_prompt_token_decoded && options.compression.policy != KvPolicy::FullKV)
    throw std::invalid_argument("the last prompt token can run as a decode step only with FullKV");
  GreedyAnswer answer;
  LlamaSession session(*model.ctx, model.config, *model.weights, std::move(options));
  const SamplingOptions greedy;
  const auto started = std::chrono::steady_clock::now();
  int32_t token = 0;
  if (last_prompt_token_decoded) {
    session.prefill(std::span<const int32_t>(prompt).first(prompt.size() - 1), greedy);
    answer.prefill_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    token = session.decode(prompt.back(), greedy);
    if (on_decode) on_decode(token, session);
  } else {
    token = session.prefill(prompt, greedy);
    answer.prefill_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
  while (!model.tokenizer->is_end_of_generation(token)) {
    answer.tokens.push_back(token);
    if (answer.tokens.size() >= max_tokens) break;
    token = session.decode(token, greedy);
    if (on_decode) on_decode(token, session);
  }
  answer.decode_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() - answer.prefill_seconds;
  answer.text = model.tokenizer->decode(answer.tokens, /*render_special=*/false);
  return answer;
}

const std::vector<std::string>& evaluation_policy_names() {
  static const std::vector<std::string> names{"fullkv",    "streaming",  "snapkv",
                                              "pyramidkv", "compresskv", "compresskv-ea"};
  return names;
}

SessionOptions policy_session_options(const std::string& policy, int budget,
                                      const std::vector<std::vector<uint32_t>>& heads,
                                      const std::vector<double>& layer_weights) {
  const auto& names = evaluation_policy_names();
  if (std::find(names.begin(), names.end(), policy) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown policy '" + policy + "' (valid: " + list + ")");
  }
  SessionOptions s;
  const bool error_aware = policy == "compresskv-ea";
  s.compression.policy = parse_kv_policy(error_aware ? "compresskv" : policy);
  s.kv_budget = budget;
  if (s.compression.policy == KvPolicy::FullKV) return s;
  if (budget < int(s.compression.window))
    throw std::invalid_argument("policy " + policy + ": budget " + std::to_string(budget) +
                                " is smaller than the observation window of " +
                                std::to_string(s.compression.window) + " tokens");
  if (s.compression.policy == KvPolicy::CompressKV) {
    if (heads.empty()) throw std::invalid_argument("policy " + policy + " needs a retrieval heads file (--heads)");
    s.compression.retrieval_heads = heads;
    if (error_aware) {
      if (layer_weights.empty())
        throw std::invalid_argument("policy compresskv-ea needs a layer weights file (--layers)");
      s.compression.layer_weights = layer_weights;
    }
  }
  return s;
}

}  // namespace ckv
