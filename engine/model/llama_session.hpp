// One conversation with a Llama model on the GPU: the prompt runs layer by layer (each layer's KV cache is
// compressed right after its own attention, so at most one uncompressed layer exists), then tokens are decoded
// one at a time. Only sampled token ids come back to the host.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "engine/kv_cache.hpp"
#include "engine/kv_policy.hpp"
#include "engine/model/llama_config.hpp"
#include "engine/model/llama_weights.hpp"
#include "engine/model/session_probes.hpp"
#include "engine/token_selector.hpp"
#include "vk/buffer.hpp"
#include "vk/context.hpp"

namespace ckv {

struct SessionOptions {
  CompressionConfig compression;  // policy FullKV keeps everything
  int kv_budget = 0;              // average tokens kept per layer (window included)
  uint32_t context = 0;           // max prompt + generated tokens; 0: the model's context length
  uint32_t ubatch = 256;          // prompt tokens per prefill chunk
  uint32_t decode_headroom = 256; // rows kept free after compaction for generated tokens
  KvDtype kv_dtype = KvDtype::F16;
  // Called after each layer of the prompt (layers done, layers in all), e.g. for a progress bar.
  std::function<void(uint32_t, uint32_t)> on_prefill_layer;
  SessionProbes probes;  // calibration only (session_probes.hpp)
  // decode() also reads back every layer's attention (see DecodeAttentionCapture), e.g. for retrieval-head scores.
  bool capture_decode_attention = false;
  // Decode fusions (each layer: SwiGLU products, Q/K/V projections that rotate and store their rows, the attention
  // merge in the split pass); false records the separate SiLU, RoPE/store and reduce passes, for before/after
  // measurements (bench e2e --unfused-decode).
  bool fused_decode = true;
  // Q4_0 products of one token round their input to int8 per 32 values and use integer dot products where the
  // device has them (ops::MatmulOptions::int8_activations); false keeps them in fp32 (bench e2e --float-activations).
  bool int8_activations = true;
};

// One decode step's attention in every layer, read back from the GPU decode attention kernel.
struct DecodeAttentionCapture {
  uint32_t n_layers = 0, n_heads = 0, head_dim = 0;
  std::vector<uint32_t> keys;          // keys each layer attended over (its cache length, new token included)
  std::vector<uint64_t> probs_offset;  // where layer l's probs start in `probs`
  std::vector<float> probs;            // per layer: [n_heads, keys[l]] softmax rows
  std::vector<float> queries;          // [n_layers, n_heads, head_dim] after RoPE
  std::vector<float> outputs;          // [n_layers, n_heads, head_dim] attention output (before o_proj)

  std::span<const float> head_probs(uint32_t layer, uint32_t head) const {
    return std::span<const float>(probs).subspan(probs_offset[layer] + uint64_t(head) * keys[layer], keys[layer]);
  }
};

struct SamplingOptions {
  float temperature = 0.0f;  // <= 0: greedy
  float top_p = 1.0f;
  uint64_t seed = 0;
};

struct SessionStats {
  uint32_t prompt_tokens = 0, generated_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;          // wall time, host recording and read-back included
  double prefill_gpu_seconds = 0, decode_gpu_seconds = 0;  // GPU timestamps around each submission (0: none)
  uint64_t kv_bytes_full = 0;       // FullKV for the same tokens
  uint64_t kv_bytes_kept = 0;       // rows in use now, all layers
  uint64_t kv_bytes_peak = 0;       // peak KV allocation
  uint64_t device_bytes_peak = 0;   // peak of all this process's buffers on the device
  uint64_t weight_bytes = 0;
  std::vector<int> layer_budgets;   // tokens each layer was compressed to (prompt length when not compressed)
  std::vector<uint32_t> layer_lengths;
};

class LlamaSession {
 public:
  LlamaSession(vk::Context& ctx, const LlamaConfig& config, const LlamaWeights& weights, SessionOptions options);
  ~LlamaSession();

  // Runs the whole prompt and returns the token sampled from its last position.
  int32_t prefill(std::span<const int32_t> tokens, const SamplingOptions& sampling);
  // Appends `token` and returns the next sampled token.
  int32_t decode(int32_t token, const SamplingOptions& sampling);
  // Decodes up to `max_tokens` steps from `token` (each step's sample feeds the next) with one step always in
  // flight: step n + 1 is recorded and submitted before step n's token reaches the host, and embeds that token
  // on the GPU, so the host's recording hides behind the GPU's work. `on_token` sees every sampled token in order
  // and may return false to stop; the step already in flight is then dropped (cache and position as if it never
  // ran). Returns the sampled tokens; the same ones as calling decode() in a loop. Also stops when the context is
  // full. Sessions with probes or attention capture decode one step at a time.
  std::vector<int32_t> decode_stream(int32_t token, uint32_t max_tokens, const SamplingOptions& sampling,
                                     const std::function<bool(int32_t)>& on_token = {});

  // Logits of the last position run (f32 [vocab]).
  std::vector<float> last_logits();
  const SessionStats& stats();
  uint32_t tokens() const { return position_; }
  const KvCache& kv_cache() const { return *kv_; }
  // The last decode step's attention; needs SessionOptions::capture_decode_attention (else std::logic_error).
  const DecodeAttentionCapture& decode_attention() const;
  // With probes.attention_outputs: o_proj(attention) of every layer for the last decoded token, f32
  // [n_layers, n_embd] (one read-back). Throws std::logic_error when the probe is off or nothing was decoded.
  std::vector<float> attention_outputs();

 private:
  struct Buffers;
  void record_layer_chunk(vk::CommandStream& s, uint32_t layer, uint32_t start, uint32_t count,
                          const vk::Buffer& positions);
  void record_logits_and_sample(vk::CommandStream& s, const vk::BufferRange& last_row, const SamplingOptions& sampling,
                                uint32_t slot);
  int32_t read_token(uint32_t slot);
  // Checks that `token` can be decoded now and uploads it as the first step's input (decode, decode_stream).
  void start_decode(int32_t token);
  // Bookkeeping of a finished decode step: its GPU time, the token count.
  void count_decoded_step(const vk::CommandStream& s);
  // One decode step of the token in `ids` (u32, device) at position_ into `s`, sampling into b.token and slot's
  // readback; appends a row to every layer and advances position_ at record time.
  void record_decode_step(vk::CommandStream& s, const vk::Buffer& ids, uint32_t slot, const SamplingOptions& sampling);
  // Timestamps that bracket one submission's work, when the device has them; gpu_seconds() after its wait.
  void mark_gpu_begin(vk::CommandStream& s) const;
  void mark_gpu_end(vk::CommandStream& s) const;
  double gpu_seconds(const vk::CommandStream& s) const;
  void ensure_buffers(uint32_t prompt_tokens);
  void prepare_attention_capture();
  void read_attention_capture();
  void record_attention_output(vk::CommandStream& s, uint32_t layer, uint32_t tokens);
  // The options of the model's matrix products (fusions, int8 activations) from the session options.
  ops::MatmulOptions product_options() const;
  void record_layer_input(vk::CommandStream& s, uint32_t layer, const vk::BufferRange& input, bool prompt);

  vk::Context& ctx_;
  LlamaConfig config_;
  const LlamaWeights& weights_;
  SessionOptions options_;
  std::unique_ptr<KvCache> kv_;
  std::unique_ptr<TokenSelector> selector_;
  std::unique_ptr<Buffers> buffers_;
  std::mt19937_64 rng_;
  uint64_t seeded_with_ = ~0ull;
  uint32_t position_ = 0;
  SessionStats stats_;
  DecodeAttentionCapture capture_;
  bool capture_step_ = false;  // recording a decode step whose attention is captured
};

}  // namespace ckv
