// The public API (include/compresskv/compresskv.hpp) on top of the engine's model, session and tokenizer.
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "compresskv/compresskv.hpp"
#include "engine/budgets.hpp"
#include "engine/calibration.hpp"
#include "engine/gguf/gguf_file.hpp"
#include "engine/model/gguf_tokenizer.hpp"
#include "engine/model/llama_session.hpp"
#include "engine/model_profile.hpp"
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
  ckv::ModelIdentity identity;  // for finding its CompressKV profile
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::string& gguf_path, const EngineOptions& options) {
  auto impl = std::make_unique<Impl>();
  const ckv::GgufFile file = ckv::GgufFile::open(gguf_path);
  impl->config = ckv::LlamaConfig::from_gguf(file);
  impl->tokenizer_data = ckv::tokenizer_data_from_gguf(file);
  impl->tokenizer = std::make_unique<ckv::Tokenizer>(impl->tokenizer_data);
  impl->identity = ckv::model_identity(file);
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

std::string identity_text(const ckv::ModelIdentity& id) {
  const auto v = [&](const char* key) { return id.values.count(key) ? id.values.at(key) : std::string(); };
  return "\"" + v("general.name") + "\" (" + v("general.architecture") + ", " + v("block_count") + " layers, " +
         v("head_count") + "/" + v("head_count_kv") + " heads)";
}

// The profile kv.profile names ("": the shipped one that fits the model). `folder` holds one loaded from disk.
const ckv::ModelProfile& choose_profile(const KvOptions& kv, const ckv::ModelIdentity& id,
                                        std::optional<ckv::ModelProfile>& folder, const char* what) {
  if (kv.profile == "none")
    throw std::invalid_argument(std::string("compresskv needs ") + what + " and profiles are off (--profile none)");
  const auto& shipped = ckv::shipped_profiles();
  if (kv.profile.empty()) {
    if (const ckv::ModelProfile* p = ckv::find_profile(shipped, id)) return *p;
    throw std::invalid_argument(std::string("compresskv needs ") + what + ": no shipped profile fits the model " +
                                identity_text(id) + "; give them as files (--heads from ckv heads, --layers from "
                                "ckv calibrate) or a profile folder (--profile DIR)");
  }
  const ckv::ModelProfile* chosen = nullptr;
  for (const auto& p : shipped)
    if (p.name == kv.profile) chosen = &p;
  if (!chosen) {
    if (!std::filesystem::is_directory(kv.profile)) {
      std::string names;
      for (const auto& p : shipped) names += (names.empty() ? "" : ", ") + p.name;
      throw std::invalid_argument("profile \"" + kv.profile + "\" is neither a shipped profile (" +
                                  (names.empty() ? std::string("none shipped") : names) + ") nor a folder");
    }
    folder = ckv::load_profile_folder(kv.profile);
    chosen = &*folder;
  }
  const std::string mismatch = ckv::profile_mismatch(*chosen, id);
  if (!mismatch.empty()) throw std::invalid_argument("profile " + chosen->name + " does not fit this model: " + mismatch);
  return *chosen;
}

void set_compresskv_profile(ckv::CompressionConfig& c, const ckv::LlamaConfig& config, const KvOptions& kv,
                            const ckv::ModelIdentity& id, std::string* note) {
  const bool profile_heads = kv.heads_file.empty();
  const bool profile_layers = kv.error_aware && kv.layers_file.empty();
  std::optional<ckv::ModelProfile> folder;
  const ckv::ModelProfile* profile = nullptr;
  if (profile_heads || profile_layers)
    profile = &choose_profile(kv, id, folder, profile_heads ? "the model's retrieval heads" : "error-aware layer weights");
  std::vector<std::string> parts;
  if (profile_heads) {
    c.retrieval_heads = ckv::parse_retrieval_heads(profile->heads_json, profile->source + "/heads.json",
                                                   config.n_layers, config.n_heads);
  } else {
    c.retrieval_heads = ckv::load_retrieval_heads(kv.heads_file, config.n_layers, config.n_heads);
    parts.push_back("heads " + kv.heads_file);
  }
  if (!kv.layers_file.empty()) {
    c.layer_weights = ckv::load_layer_weights(kv.layers_file, config.n_layers);
    parts.push_back("layer weights " + kv.layers_file);
  } else if (profile_layers) {
    if (profile->layers_json.empty())
      throw std::invalid_argument("profile " + profile->name + " has no layer weights: give --layers layers.json "
                                  "(made with ckv calibrate) for error-aware budgets");
    c.layer_weights = ckv::parse_layer_weights(profile->layers_json, profile->source + "/layers.json", config.n_layers);
  }
  if (profile) {
    std::string used = profile_heads ? "heads" : "";
    if (profile_layers) used += std::string(used.empty() ? "" : " and ") + "layer weights";
    parts.insert(parts.begin(), "profile " + profile->name + " (" + used + "; " +
                                    (ckv::measured_on(*profile, id) ? "measured on this model file"
                                                                    : "fits the model's metadata, measured on another file") +
                                    ")");
  }
  parts.push_back(c.layer_weights.empty() ? "uniform budgets" : "error-aware budgets");
  for (size_t i = 0; i < parts.size(); ++i) *note += (i ? ", " : "") + parts[i];
}

ckv::SessionOptions session_options(const ckv::LlamaConfig& config, const ckv::ModelIdentity& identity,
                                    const KvOptions& kv, const GenerateOptions& gen, std::string* note) {
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
    set_compresskv_profile(c, config, kv, identity, note);
  } else if (kv.error_aware) {
    throw std::invalid_argument("error-aware budgets belong to compresskv, not to " + kv.policy);
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

void fill_stats(Stats& stats, const ckv::SessionStats& s, const KvOptions& kv) {
  stats.policy = kv.policy;
  stats.prompt_tokens = int(s.prompt_tokens);
  stats.generated_tokens = int(s.generated_tokens);
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
}

}  // namespace

Stats Model::generate_tokens(const std::vector<int32_t>& prompt, const KvOptions& kv, const GenerateOptions& gen,
                             const std::function<bool(int32_t)>& on_token, std::vector<float>* last_prompt_logits) {
  Stats stats;
  ckv::LlamaSession session(*impl_->ctx, impl_->config, *impl_->weights,
                            session_options(impl_->config, impl_->identity, kv, gen, &stats.profile_note));
  const ckv::SamplingOptions sampling{gen.temperature, gen.top_p, gen.seed};
  if (uint64_t(prompt.size()) + uint64_t(gen.max_tokens) >
      uint64_t(gen.context > 0 ? gen.context : int(impl_->config.context_length)))
    throw std::invalid_argument("prompt (" + std::to_string(prompt.size()) + " tokens) plus " +
                                std::to_string(gen.max_tokens) + " new tokens exceed the context of " +
                                std::to_string(gen.context > 0 ? gen.context : int(impl_->config.context_length)));
  int32_t token = session.prefill(prompt, sampling);
  if (last_prompt_logits) *last_prompt_logits = session.last_logits();
  // Each token goes to on_token unless it ends the generation; decode_stream keeps the GPU one step ahead.
  auto wanted = [&](int32_t t) { return !impl_->tokenizer->is_end_of_generation(t) && on_token(t); };
  if (gen.max_tokens > 0 && wanted(token) && gen.max_tokens > 1)
    session.decode_stream(token, uint32_t(gen.max_tokens - 1), sampling, wanted);
  fill_stats(stats, session.stats(), kv);
  stats.generated_tokens += gen.max_tokens > 0 ? 1 : 0;  // the last token is sampled but not run
  return stats;
}

std::string Model::profile_identity_json() const {
  nlohmann::json match = nlohmann::json::object();
  for (const auto& [key, value] : impl_->identity.values) {
    const bool count = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
    match[key] = count ? nlohmann::json(std::stoull(value)) : nlohmann::json(value);
  }
  return nlohmann::json{{"match", match}, {"fingerprint", impl_->identity.fingerprint}}.dump();
}

std::string Model::check_kv_options(const KvOptions& kv) const {
  std::string note;
  session_options(impl_->config, impl_->identity, kv, {}, &note);
  return note;
}

Stats Model::teacher_force(const std::vector<int32_t>& prompt, const std::vector<int32_t>& continuation,
                           const KvOptions& kv, const GenerateOptions& gen,
                           const std::function<void(int, const std::vector<float>&)>& on_logits) {
  Stats stats;
  ckv::LlamaSession session(*impl_->ctx, impl_->config, *impl_->weights,
                            session_options(impl_->config, impl_->identity, kv, gen, &stats.profile_note));
  const uint64_t context = gen.context > 0 ? uint64_t(gen.context) : impl_->config.context_length;
  if (prompt.size() + continuation.size() > context)
    throw std::invalid_argument("prompt (" + std::to_string(prompt.size()) + " tokens) plus continuation (" +
                                std::to_string(continuation.size()) + ") exceed the context of " +
                                std::to_string(context));
  const ckv::SamplingOptions greedy;
  session.prefill(prompt, greedy);
  for (size_t i = 0; i < continuation.size(); ++i) {
    if (i > 0) session.decode(continuation[i - 1], greedy);
    on_logits(int(i), session.last_logits());
  }
  fill_stats(stats, session.stats(), kv);
  return stats;
}

std::vector<double> Model::layer_attention_errors(const std::vector<int32_t>& prompt, const KvOptions& kv, int steps,
                                                  bool isolated, const GenerateOptions& gen, Stats* stats) {
  std::string note;
  const ckv::SessionOptions options = session_options(impl_->config, impl_->identity, kv, gen, &note);
  if (steps < 1) throw std::invalid_argument("calibration needs at least one decode step");
  const uint64_t context = gen.context > 0 ? uint64_t(gen.context) : impl_->config.context_length;
  if (prompt.size() + uint64_t(steps) > context)
    throw std::invalid_argument("prompt (" + std::to_string(prompt.size()) + " tokens) plus " + std::to_string(steps) +
                                " steps exceed the context of " + std::to_string(context));
  const ckv::LayerErrors errors =
      ckv::measure_layer_errors(*impl_->ctx, impl_->config, *impl_->weights, prompt, options, uint32_t(steps),
                                isolated ? ckv::LayerErrorMode::Isolated : ckv::LayerErrorMode::Propagated);
  if (stats) {
    fill_stats(*stats, errors.compressed_stats, kv);
    stats->profile_note = note;
  }
  return errors.sum;
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
