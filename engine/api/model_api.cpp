// The public API (include/compresskv/compresskv.hpp) on top of the engine's model, session and tokenizer.
#include <stdexcept>

#include "compresskv/compresskv.hpp"
#include "engine/budgets.hpp"
#include "engine/gguf/gguf_file.hpp"
#include "engine/model/gguf_tokenizer.hpp"
#include "engine/model/llama_session.hpp"
#include "engine/profiles.hpp"
#include "engine/tokenizer/chat_template.hpp"
#include "engine/tokenizer/tokenizer.hpp"
#include "engine/tokenizer/utf8_streamer.hpp"
#include "vk/context.hpp"

namespace compresskv {

struct Model::Impl {
  std::unique_ptr<ckv::vk::Context> ctx;
  ckv::LlamaConfig config;
  std::unique_ptr<ckv::LlamaWeights> weights;
  ckv::TokenizerData tokenizer_data;
  std::unique_ptr<ckv::Tokenizer> tokenizer;
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::string& gguf_path, const EngineOptions& options) {
  auto impl = std::make_unique<Impl>();
  const ckv::GgufFile file = ckv::GgufFile::open(gguf_path);
  impl->config = ckv::LlamaConfig::from_gguf(file);
  impl->tokenizer_data = ckv::tokenizer_data_from_gguf(file);
  impl->tokenizer = std::make_unique<ckv::Tokenizer>(impl->tokenizer_data);
  impl->ctx = std::make_unique<ckv::vk::Context>(ckv::vk::ContextOptions{options.validation, true, options.device});
  impl->weights = std::make_unique<ckv::LlamaWeights>(*impl->ctx, file, impl->config);
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

std::string Model::description() const {
  return impl_->config.summary() + "; device: " + impl_->ctx->device().info().name;
}

bool Model::has_chat_template() const { return !impl_->tokenizer_data.chat_template.empty(); }

std::vector<int32_t> Model::tokenize(const std::string& text, bool chat) const {
  if (chat && has_chat_template()) {
    const std::string templated =
        ckv::apply_chat_template(impl_->tokenizer_data, {ckv::ChatMessage{"user", text}}, /*add_generation_prompt=*/true);
    return impl_->tokenizer->encode(templated, impl_->tokenizer_data.add_bos, /*parse_special=*/true);
  }
  return impl_->tokenizer->encode(text, impl_->tokenizer_data.add_bos, /*parse_special=*/false);
}

std::vector<std::string> Model::take_validation_messages() { return impl_->ctx->instance().validation_log().take(); }

std::string Model::detokenize(const std::vector<int32_t>& tokens) const { return impl_->tokenizer->decode(tokens); }

namespace {

ckv::SessionOptions session_options(const ckv::LlamaConfig& config, const KvOptions& kv, const GenerateOptions& gen,
                                    std::string* note) {
  ckv::SessionOptions s;
  ckv::CompressionConfig& c = s.compression;
  c.policy = ckv::parse_kv_policy(kv.policy);
  if (kv.window < 1) throw std::invalid_argument("the window must be at least 1 token");
  if (kv.pool_kernel < 1 || kv.pool_kernel % 2 == 0) throw std::invalid_argument("the pooling kernel must be odd");
  if (kv.pool != "avg" && kv.pool != "max") throw std::invalid_argument("pooling must be avg or max");
  c.window = uint32_t(kv.window);
  c.pool_kernel = uint32_t(kv.pool_kernel);
  c.pool = kv.pool == "max" ? ckv::ops::PoolKind::Max : ckv::ops::PoolKind::Avg;
  c.retrieval_heads_used = uint32_t(std::max(kv.retrieval_heads, 1));
  s.kv_budget = kv.budget;
  if (kv.budget_mib > 0) {
    if (kv.budget > 0) throw std::invalid_argument("give either a KV budget in tokens or in MiB, not both");
    s.kv_budget = ckv::tokens_for_kv_mib(kv.budget_mib, int(config.n_layers), int(config.n_kv_heads),
                                         int(config.head_dim), 2);
  }
  if (c.policy != ckv::KvPolicy::FullKV && s.kv_budget <= 0)
    throw std::invalid_argument("policy " + kv.policy + " needs a KV budget (--kv-budget N or --kv-budget-mib M)");
  if (c.policy == ckv::KvPolicy::CompressKV) {
    if (kv.heads_file.empty())
      throw std::invalid_argument("compresskv needs the model's retrieval heads (--heads heads.json)");
    c.retrieval_heads = ckv::load_retrieval_heads(kv.heads_file, config.n_layers, config.n_heads);
    *note = "heads " + kv.heads_file;
    if (!kv.layers_file.empty()) {
      c.layer_weights = ckv::load_layer_weights(kv.layers_file, config.n_layers);
      *note += ", layer weights " + kv.layers_file;
    }
  }
  if (gen.context < 0 || gen.ubatch < 1 || gen.max_tokens < 0)
    throw std::invalid_argument("context, ubatch and max tokens must not be negative (ubatch at least 1)");
  if (uint32_t(gen.context) > config.context_length)
    throw std::invalid_argument("context " + std::to_string(gen.context) + " is longer than the model's " +
                                std::to_string(config.context_length));
  s.context = uint32_t(gen.context);
  s.ubatch = uint32_t(gen.ubatch);
  if (gen.on_prefill_progress)
    s.on_prefill_layer = [cb = gen.on_prefill_progress](uint32_t done, uint32_t all) { cb(int(done), int(all)); };
  return s;
}

}  // namespace

Stats Model::generate_tokens(const std::vector<int32_t>& prompt, const KvOptions& kv, const GenerateOptions& gen,
                             const std::function<bool(int32_t)>& on_token, std::vector<float>* last_prompt_logits) {
  Stats stats;
  ckv::LlamaSession session(*impl_->ctx, impl_->config, *impl_->weights,
                            session_options(impl_->config, kv, gen, &stats.profile_note));
  const ckv::SamplingOptions sampling{gen.temperature, gen.top_p, gen.seed};
  if (uint64_t(prompt.size()) + uint64_t(gen.max_tokens) >
      uint64_t(gen.context > 0 ? gen.context : int(impl_->config.context_length)))
    throw std::invalid_argument("prompt (" + std::to_string(prompt.size()) + " tokens) plus " +
                                std::to_string(gen.max_tokens) + " new tokens exceed the context of " +
                                std::to_string(gen.context > 0 ? gen.context : int(impl_->config.context_length)));
  int32_t token = session.prefill(prompt, sampling);
  if (last_prompt_logits) *last_prompt_logits = session.last_logits();
  for (int i = 0; i < gen.max_tokens; ++i) {
    if (impl_->tokenizer->is_end_of_generation(token)) break;
    if (!on_token(token)) break;
    if (i + 1 == gen.max_tokens) break;
    token = session.decode(token, sampling);
  }
  const ckv::SessionStats& s = session.stats();
  stats.policy = kv.policy;
  stats.prompt_tokens = int(s.prompt_tokens);
  stats.generated_tokens = int(s.generated_tokens) + (gen.max_tokens > 0 ? 1 : 0);
  stats.prefill_seconds = s.prefill_seconds;
  stats.decode_seconds = s.decode_seconds;
  stats.prefill_tokens_per_second = s.prefill_seconds > 0 ? s.prompt_tokens / s.prefill_seconds : 0;
  stats.decode_tokens_per_second = s.decode_seconds > 0 ? s.generated_tokens / s.decode_seconds : 0;
  stats.kv_bytes_full = s.kv_bytes_full;
  stats.kv_bytes_kept = s.kv_bytes_kept;
  stats.kv_bytes_peak = s.kv_bytes_peak;
  stats.device_bytes_peak = s.device_bytes_peak;
  stats.weight_bytes = s.weight_bytes;
  stats.layer_budgets = s.layer_budgets;
  stats.layer_lengths.assign(s.layer_lengths.begin(), s.layer_lengths.end());
  return stats;
}

Stats Model::generate(const std::string& prompt, const KvOptions& kv, const GenerateOptions& gen,
                      const std::function<bool(std::string_view)>& on_text, std::vector<float>* last_prompt_logits) {
  const std::vector<int32_t> tokens = tokenize(prompt, gen.chat);
  ckv::Utf8Streamer streamer;
  int32_t previous = tokens.empty() ? -1 : tokens.back();
  Stats stats = generate_tokens(
      tokens, kv, gen,
      [&](int32_t id) {
        const std::string piece = streamer.push(impl_->tokenizer->token_text_after(previous, id));
        previous = id;
        return piece.empty() || on_text(piece);
      },
      last_prompt_logits);
  const std::string rest = streamer.flush();
  if (!rest.empty()) on_text(rest);
  return stats;
}

}  // namespace compresskv
