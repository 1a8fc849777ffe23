// compresskv-vk public C++ API: load a GGUF Llama-family model onto a Vulkan device and generate text with a
// compressed KV cache (CompressKV, SnapKV, PyramidKV, StreamingLLM or FullKV).
//
//   auto model = compresskv::Model::load("model.gguf", {});
//   compresskv::KvOptions kv;  kv.policy = "compresskv";  kv.budget = 128;  kv.heads_file = "heads.json";
//   compresskv::GenerateOptions gen;  gen.max_tokens = 64;
//   auto stats = model->generate("Why is the sky blue?", kv, gen, [](std::string_view text) {
//     std::cout << text << std::flush;  return true;  // false stops generation
//   });
//
// Errors are thrown as std::exception with one clear message.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace compresskv {

struct EngineOptions {
  std::string device;       // Vulkan device index or name substring; empty: CKV_DEVICE or the best GPU
  bool validation = false;  // Khronos validation layer (also CKV_VALIDATION=1)
};

struct KvOptions {
  std::string policy = "fullkv";  // fullkv | streaming | snapkv | pyramidkv | compresskv
  int budget = 0;                 // average tokens kept per layer (window included)
  double budget_mib = 0;          // or: KV memory in MiB, converted to tokens from the model's shape
  std::string heads_file;         // compresskv: {"layer": [ranked query heads]}; empty: the profile's
  std::string layers_file;        // compresskv: per-layer weights; given, budgets are error-aware
  bool error_aware = false;       // compresskv: error-aware budgets from layers_file, else from the profile
  // compresskv profile when heads (or error-aware weights) are not given as files: "" picks the shipped profile
  // that matches the model, "none" uses none, a shipped profile's name or a profile folder picks that one.
  std::string profile;
  int window = 8;
  int pool_kernel = 5;
  std::string pool = "avg";  // avg | max
  int retrieval_heads = 4;   // heads used per layer
};

struct GenerateOptions {
  int max_tokens = 128;
  float temperature = 0.0f;  // 0: greedy
  float top_p = 1.0f;
  uint64_t seed = 0;
  int context = 0;   // max prompt + generated tokens; 0: the model's
  int ubatch = 256;  // prompt tokens per prefill chunk
  bool chat = true;  // wrap the prompt in the model's chat template when it has one
  std::function<void(int layers_done, int layers)> on_prefill_progress;
};

struct Stats {
  std::string policy;
  int prompt_tokens = 0, generated_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
  double prefill_tokens_per_second = 0, decode_tokens_per_second = 0;
  uint64_t kv_bytes_full = 0;      // what FullKV holds for the same tokens
  uint64_t kv_bytes_kept = 0;      // what this run's cache holds
  uint64_t kv_bytes_peak = 0;      // peak KV allocation during the run
  uint64_t device_bytes_peak = 0;  // peak of all engine buffers (weights, activations, KV)
  uint64_t weight_bytes = 0;
  std::vector<int> layer_budgets;
  std::vector<int> layer_lengths;
  std::string profile_note;  // which heads/weights profile was used
};

class Model {
 public:
  static std::unique_ptr<Model> load(const std::string& gguf_path, const EngineOptions& options);
  ~Model();

  std::string description() const;  // architecture, sizes, device
  bool has_chat_template() const;
  std::vector<int32_t> tokenize(const std::string& text, bool chat) const;
  std::string detokenize(const std::vector<int32_t>& tokens) const;
  // Messages the Vulkan validation layer reported since the last call (empty unless validation is on).
  std::vector<std::string> take_validation_messages();

  // Runs the prompt, then streams up to max_tokens tokens of text to on_text (UTF-8 pieces) until an end token
  // or until on_text returns false. last_prompt_logits, when given, receives the logits of the last prompt token.
  Stats generate(const std::string& prompt, const KvOptions& kv, const GenerateOptions& options,
                 const std::function<bool(std::string_view)>& on_text,
                 std::vector<float>* last_prompt_logits = nullptr);
  // The same from token ids (no template, no tokenizer).
  Stats generate_tokens(const std::vector<int32_t>& prompt, const KvOptions& kv, const GenerateOptions& options,
                        const std::function<bool(int32_t)>& on_token, std::vector<float>* last_prompt_logits = nullptr);

  // What a CompressKV profile matches this model file on, as JSON: {"match": {GGUF key: value, ...},
  // "fingerprint": "fnv1a64:..."} (profiles/README.md).
  std::string profile_identity_json() const;

  // Checks `kv` against this model without running anything (same errors as generate) and says which
  // CompressKV profile or files it would use ("" for other policies).
  std::string check_kv_options(const KvOptions& kv) const;

  // Teacher forcing (ckv eval): runs `prompt` under `kv`, then feeds `continuation` one token at a time;
  // on_logits(i, logits) gets the next-token logits predicting continuation[i] (i = 0: those of the prompt).
  Stats teacher_force(const std::vector<int32_t>& prompt, const std::vector<int32_t>& continuation, const KvOptions& kv,
                      const GenerateOptions& options,
                      const std::function<void(int step, const std::vector<float>& logits)>& on_logits);

  // CompressKV calibration (ckv calibrate): runs `prompt` in lockstep under FullKV and under `kv`, decodes `steps`
  // greedy tokens of the FullKV run in both, and returns per layer the sum over the steps of
  // ‖o_kv − o_full‖ / ‖o_full‖, o = o_proj(attention) of the decoded token. isolated: each layer of the `kv` run
  // gets the FullKV run's layer inputs, so only its own compression counts (engine/calibration.hpp).
  std::vector<double> layer_attention_errors(const std::vector<int32_t>& prompt, const KvOptions& kv, int steps,
                                             bool isolated, const GenerateOptions& options, Stats* stats = nullptr);

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace compresskv
