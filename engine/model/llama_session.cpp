#include "llama_session.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/ops/attention_decode.hpp"
#include "engine/ops/attention_prefill.hpp"
#include "engine/ops/elementwise.hpp"
#include "engine/ops/get_rows.hpp"
#include "engine/ops/kv_store.hpp"
#include "engine/ops/normed_matmul.hpp"
#include "engine/ops/qkv_projection.hpp"
#include "engine/ops/rope.hpp"
#include "engine/ops/sample.hpp"
#include "vk/command_stream.hpp"
#include "vk/transfer.hpp"

namespace ckv {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::unique_ptr<vk::Buffer> device_buffer(vk::Context& ctx, uint64_t bytes, const char* name,
                                          vk::MemoryKind kind = vk::MemoryKind::DeviceLocal) {
  return std::make_unique<vk::Buffer>(ctx.device(), std::max<uint64_t>(bytes, 16), kind, name);
}

// Prompt chunks of at most `ubatch` tokens; the last one holds at least `window` tokens (when the prompt does)
// so the window queries of every layer are in one chunk's query buffer.
std::vector<std::pair<uint32_t, uint32_t>> prompt_chunks(uint32_t tokens, uint32_t ubatch, uint32_t window) {
  std::vector<std::pair<uint32_t, uint32_t>> chunks;
  for (uint32_t s = 0; s < tokens; s += ubatch) chunks.push_back({s, std::min(ubatch, tokens - s)});
  if (chunks.size() > 1 && chunks.back().second < window) {
    const uint32_t missing = window - chunks.back().second;
    chunks[chunks.size() - 2].second -= missing;
    chunks.back().first -= missing;
    chunks.back().second = window;
  }
  return chunks;
}

}  // namespace

struct LlamaSession::Buffers {
  uint32_t ubatch = 0;
  std::unique_ptr<vk::Buffer> x, xn, q, k, v, attn, gate, up;  // [ubatch, width] activations
  std::unique_ptr<vk::Buffer> window_queries;                   // [window, n_q * d]
  std::unique_ptr<vk::Buffer> decode_scratch;
  std::unique_ptr<vk::Buffer> logits, token;
  // Per decode slot (two steps may be in flight, see decode_stream): where the sampled token is read back, and
  // the step's position (host-visible, one element).
  std::unique_ptr<vk::Buffer> token_readback[2], decode_position[2];
  std::unique_ptr<vk::Buffer> decode_ids;                       // host-visible, one element
  uint32_t decode_scratch_tokens = 0;
  // Decode attention capture (SessionOptions::capture_decode_attention): device buffers and their readbacks.
  std::unique_ptr<vk::Buffer> capture_probs, capture_q, capture_out;
  std::unique_ptr<vk::Buffer> capture_probs_rb, capture_q_rb, capture_out_rb;
  // Calibration probes (session_probes.hpp), allocated only when asked for.
  std::unique_ptr<vk::Buffer> attention_outputs;  // [n_layers, n_embd] o_proj(attention) of the decoded token
  std::unique_ptr<vk::Buffer> prompt_inputs;      // [n_layers, prompt tokens, n_embd] residual stream into each layer
  std::unique_ptr<vk::Buffer> step_inputs;        // [n_layers, n_embd] the same for the decoded token
  uint32_t prompt_input_tokens = 0;
  bool decoded = false;
};

LlamaSession::LlamaSession(vk::Context& ctx, const LlamaConfig& config, const LlamaWeights& weights,
                           SessionOptions options)
    : ctx_(ctx), config_(config), weights_(weights), options_(std::move(options)) {
  if (options_.context == 0) options_.context = config.context_length;
  if (options_.ubatch == 0) throw std::invalid_argument("--ubatch must be at least 1");
  kv_ = std::make_unique<KvCache>(ctx, KvShape{config.n_layers, config.n_kv_heads, config.head_dim, options_.kv_dtype});
  if (options_.compression.policy != KvPolicy::FullKV) {
    selector_ = std::make_unique<TokenSelector>(
        ctx, AttentionShape{config.n_layers, config.n_heads, config.n_kv_heads, config.head_dim, options_.kv_dtype},
        options_.compression);
  }
  buffers_ = std::make_unique<Buffers>();
  Buffers& b = *buffers_;
  b.logits = device_buffer(ctx, uint64_t(config.vocab_size) * 4, "logits");
  b.token = device_buffer(ctx, 16, "sampled token");
  for (int slot = 0; slot < 2; ++slot) {
    b.token_readback[slot] = device_buffer(ctx, 16, "sampled token readback", vk::MemoryKind::Readback);
    b.decode_position[slot] = device_buffer(ctx, 16, "decode position", vk::MemoryKind::Upload);
  }
  b.decode_ids = device_buffer(ctx, 16, "decode token id", vk::MemoryKind::Upload);
  stats_.weight_bytes = weights.bytes();
  const SessionProbes& probes = options_.probes;
  const uint64_t layers_row = 4ull * config.n_layers * config.n_embd;
  if (probes.attention_outputs) b.attention_outputs = device_buffer(ctx, layers_row, "probe: attention outputs");
  if (probes.record_layer_inputs) b.step_inputs = device_buffer(ctx, layers_row, "probe: decode layer inputs");
  if (const LlamaSession* src = probes.replay_layer_inputs_from) {
    if (!src->options_.probes.record_layer_inputs)
      throw std::invalid_argument("replaying layer inputs needs a session that records them");
    if (src->config_.n_layers != config.n_layers || src->config_.n_embd != config.n_embd)
      throw std::invalid_argument("replaying layer inputs needs a session of the same model");
  }
}

LlamaSession::~LlamaSession() = default;

void LlamaSession::ensure_buffers(uint32_t tokens) {
  Buffers& b = *buffers_;
  const uint32_t u = std::max(std::min(tokens, options_.ubatch), 1u);
  if (b.ubatch < u) {
    const uint64_t f = 4ull * u;
    const uint32_t q_width = config_.n_heads * config_.head_dim, kv_width = config_.n_kv_heads * config_.head_dim;
    b.x = device_buffer(ctx_, f * config_.n_embd, "residual chunk");
    b.xn = device_buffer(ctx_, f * config_.n_embd, "normed chunk");
    b.q = device_buffer(ctx_, f * q_width, "queries");
    b.k = device_buffer(ctx_, f * kv_width, "keys");
    b.v = device_buffer(ctx_, f * kv_width, "values");
    b.attn = device_buffer(ctx_, f * q_width, "attention output");
    b.gate = device_buffer(ctx_, f * config_.n_ff, "ffn gate");
    b.up = device_buffer(ctx_, f * config_.n_ff, "ffn up");
    b.window_queries = device_buffer(ctx_, 4ull * options_.compression.window * q_width, "window queries");
    b.ubatch = u;
  }
}

void LlamaSession::record_layer_chunk(vk::CommandStream& s, uint32_t l, uint32_t start, uint32_t n,
                                      const vk::Buffer& positions) {
  Buffers& b = *buffers_;
  const LlamaLayerWeights& w = weights_.layers[l];
  const LlamaConfig& c = config_;
  const uint32_t q_width = c.n_heads * c.head_dim;
  LayerKv& layer = kv_->layer(l);
  const ops::MatmulOptions matmul_options = product_options();

  ops::RopeParams rope;
  rope.n_heads = c.n_heads;
  rope.head_dim = c.head_dim;
  rope.rope_dim = c.rope_dim;
  rope.freq_base = c.rope_freq_base;
  rope.freq_scale = c.rope_freq_scale;
  rope.mode = c.rope_style == RopeStyle::Neox ? ops::RopeMode::Neox : ops::RopeMode::Normal;
  ops::KvStoreParams store;
  store.n_kv = c.n_kv_heads;
  store.head_dim = c.head_dim;
  store.dst_capacity = layer.capacity;
  store.dst_start = start;
  store.dtype = options_.kv_dtype;
  ops::record_qkv_projection(ctx_, s, *b.x, n, c.n_embd, *w.attn_norm.buffer, c.norm_eps, *b.xn,
                             {&w.attn_q, &w.attn_k, &w.attn_v}, *b.q, *b.k, *b.v, rope, store, *layer.k, *layer.v,
                             positions, matmul_options);

  const float scale = 1.0f / std::sqrt(float(c.head_dim));
  if (n == 1 && start == layer.length) {  // decode: one query against the whole (possibly compressed) cache
    ops::DecodeAttentionParams p;
    p.n_q = c.n_heads;
    p.n_kv = c.n_kv_heads;
    p.head_dim = c.head_dim;
    p.kv_length = start + 1;
    p.kv_capacity = layer.capacity;
    p.scale = scale;
    p.kv_dtype = options_.kv_dtype;
    const uint64_t scratch = ops::decode_attention_scratch_bytes(p);
    if (!b.decode_scratch || b.decode_scratch->size() < scratch) {
      // Sized for the context so it is allocated once; never replaced while a recorded command uses it.
      ops::DecodeAttentionParams most = p;
      most.kv_length = most.kv_capacity = std::max(options_.context, p.kv_length);
      b.decode_scratch = device_buffer(ctx_, std::max<uint64_t>(ops::decode_attention_scratch_bytes(most), scratch),
                                       "decode attention scratch");
      s.fill(*b.decode_scratch, 0);  // its arrival counters start at zero (each decode leaves them so)
    }
    if (capture_step_) {
      const uint64_t head_row = uint64_t(c.n_heads) * c.head_dim * 4;
      const vk::BufferRange probs(*b.capture_probs, 4 * capture_.probs_offset[l], 4ull * c.n_heads * p.kv_length);
      ops::record_decode_attention(ctx_, s, p, *b.q, *layer.k, *layer.v, *b.decode_scratch, *b.attn, &probs);
      s.copy(vk::BufferRange(*b.q, 0, head_row), vk::BufferRange(*b.capture_q, l * head_row, head_row));
      s.copy(vk::BufferRange(*b.attn, 0, head_row), vk::BufferRange(*b.capture_out, l * head_row, head_row));
    } else {
      ops::DecodeAttentionShape shape = ops::choose_decode_attention_shape(ctx_.device().info(), p);
      shape.merge_in_split = options_.fused_decode;
      ops::record_decode_attention(ctx_, s, p, shape, *b.q, *layer.k, *layer.v, *b.decode_scratch, *b.attn);
    }
  } else {
    ops::PrefillAttentionParams p;
    p.n_q = c.n_heads;
    p.n_kv = c.n_kv_heads;
    p.head_dim = c.head_dim;
    p.t_q = n;
    p.q_offset = start;
    p.kv_length = start + n;
    p.kv_capacity = layer.capacity;
    p.q_head_stride = c.head_dim;
    p.q_token_stride = q_width;
    p.o_token_stride = q_width;
    p.o_head_stride = c.head_dim;
    p.scale = scale;
    p.kv_dtype = options_.kv_dtype;
    ops::record_prefill_attention(ctx_, s, p, *b.q, *layer.k, *layer.v, *b.attn);
  }
  record_attention_output(s, l, n);

  ops::record_normed_swiglu(ctx_, s, *b.x, n, c.n_embd, *w.ffn_norm.buffer, c.norm_eps, *b.xn, w.ffn_gate, w.ffn_up,
                            *b.gate, *b.up, matmul_options);
  ops::record_matmul(ctx_, s, w.ffn_down, *b.gate, n, c.n_ff, *b.x, c.n_embd, /*accumulate=*/true, matmul_options);
}

ops::MatmulOptions LlamaSession::product_options() const {
  ops::MatmulOptions o;
  o.fused_epilogues = options_.fused_decode;
  o.int8_activations = options_.int8_activations;
  return o;
}

void LlamaSession::record_attention_output(vk::CommandStream& s, uint32_t l, uint32_t n) {
  Buffers& b = *buffers_;
  const LlamaConfig& c = config_;
  const uint32_t q_width = c.n_heads * c.head_dim;
  const LlamaLayerWeights& w = weights_.layers[l];
  if (!b.attention_outputs || n != 1) {
    ops::record_matmul(ctx_, s, w.attn_output, *b.attn, n, q_width, *b.x, c.n_embd, /*accumulate=*/true,
                       product_options());
    return;
  }
  // Probe: o_proj(attention) of the decoded token goes to its own row, then into the residual stream.
  const vk::BufferRange out(*b.attention_outputs, 4ull * l * c.n_embd, 4ull * c.n_embd);
  const vk::BufferRange x(*b.x, 0, 4ull * c.n_embd);
  ops::record_matmul(ctx_, s, w.attn_output, *b.attn, 1, q_width, out, c.n_embd, false, product_options());
  ops::record_add(ctx_, s, x, out, x, c.n_embd);
}

void LlamaSession::record_layer_input(vk::CommandStream& s, uint32_t l, const vk::BufferRange& input, bool prompt) {
  const SessionProbes& probes = options_.probes;
  const uint64_t rows_bytes = input.size;
  if (const LlamaSession* src = probes.replay_layer_inputs_from) {
    const vk::Buffer* from = prompt ? src->buffers_->prompt_inputs.get() : src->buffers_->step_inputs.get();
    if (!from) throw std::logic_error("the session to replay has no recorded layer inputs");
    s.copy(vk::BufferRange(*from, l * rows_bytes, rows_bytes), input);
  }
  if (probes.record_layer_inputs) {
    const vk::Buffer& to = prompt ? *buffers_->prompt_inputs : *buffers_->step_inputs;
    s.copy(input, vk::BufferRange(to, l * rows_bytes, rows_bytes));
  }
}

void LlamaSession::record_logits_and_sample(vk::CommandStream& s, const vk::BufferRange& last_row,
                                            const SamplingOptions& sampling, uint32_t slot) {
  Buffers& b = *buffers_;
  const LlamaConfig& c = config_;
  // The output norm folds into the output product where that runs the matrix-vector kernel (decode on GPUs).
  const ops::NormedProduct output[] = {{&weights_.output, *b.logits, c.vocab_size}};
  ops::record_normed_matmuls(ctx_, s, last_row, 1, c.n_embd, *weights_.output_norm.buffer, c.norm_eps,
                             vk::BufferRange(*b.xn, 0, 4ull * c.n_embd), output, product_options());
  if (sampling.temperature <= 0.0f) {
    ops::record_sample_argmax(ctx_, s, *b.logits, c.vocab_size, *b.token);
  } else {
    if (seeded_with_ != sampling.seed) {
      rng_.seed(sampling.seed);
      seeded_with_ = sampling.seed;
    }
    const float u = std::uniform_real_distribution<float>(0.0f, 1.0f)(rng_);
    ops::record_sample_top_p(ctx_, s, *b.logits, c.vocab_size, sampling.temperature, sampling.top_p, u, *b.token);
  }
  s.copy(vk::BufferRange(*b.token, 0, 4), vk::BufferRange(*b.token_readback[slot], 0, 4));
}

void LlamaSession::mark_gpu_begin(vk::CommandStream& s) const {
  if (ctx_.device().info().timestamps_on_compute) s.timestamp("gpu begin");
}

void LlamaSession::mark_gpu_end(vk::CommandStream& s) const {
  if (ctx_.device().info().timestamps_on_compute) s.timestamp("gpu end");
}

double LlamaSession::gpu_seconds(const vk::CommandStream& s) const {
  return ctx_.device().info().timestamps_on_compute ? s.elapsed_ns("gpu begin", "gpu end") * 1e-9 : 0.0;
}

int32_t LlamaSession::read_token(uint32_t slot) {
  int32_t id = 0;
  buffers_->token_readback[slot]->invalidate_from_device();
  std::memcpy(&id, buffers_->token_readback[slot]->mapped(), 4);
  return id;
}

int32_t LlamaSession::prefill(std::span<const int32_t> tokens, const SamplingOptions& sampling) {
  const LlamaConfig& c = config_;
  const uint32_t t = uint32_t(tokens.size());
  if (t == 0) throw std::invalid_argument("the prompt is empty");
  if (position_ != 0) throw std::logic_error("prefill runs once per session");
  if (t > options_.context)
    throw std::invalid_argument("the prompt has " + std::to_string(t) + " tokens, more than the context of " +
                                std::to_string(options_.context) + " (model maximum " +
                                std::to_string(c.context_length) + ")");
  for (int32_t id : tokens)
    if (id < 0 || uint32_t(id) >= c.vocab_size) throw std::invalid_argument("token id " + std::to_string(id) + " out of range");
  const auto started = Clock::now();
  ctx_.device().reset_peak_allocated();
  ensure_buffers(t);
  Buffers& b = *buffers_;
  const CompressionConfig& cc = options_.compression;
  const bool compressing = cc.policy != KvPolicy::FullKV;
  stats_.layer_budgets = compressing ? layer_budgets(cc, c.n_layers, options_.kv_budget, t)
                                     : std::vector<int>(c.n_layers, int(t));
  const auto chunks = prompt_chunks(t, b.ubatch, cc.window);

  // The whole prompt's residual stream, and one positions buffer per chunk (the same for every layer).
  auto x_all = device_buffer(ctx_, 4ull * t * c.n_embd, "prompt residual stream");
  auto ids = device_buffer(ctx_, 4ull * t, "prompt token ids");
  vk::upload(ctx_.device(), *ids, std::span<const int32_t>(tokens));
  std::vector<std::unique_ptr<vk::Buffer>> positions;
  for (const auto& [start, n] : chunks) {
    std::vector<uint32_t> pos(n);
    for (uint32_t i = 0; i < n; ++i) pos[i] = start + i;
    positions.push_back(device_buffer(ctx_, 4ull * n, "chunk positions"));
    vk::upload(ctx_.device(), *positions.back(), std::span<const uint32_t>(pos));
  }
  const SessionProbes& probes = options_.probes;
  if (probes.record_layer_inputs) {
    b.prompt_inputs = device_buffer(ctx_, 4ull * c.n_layers * t * c.n_embd, "probe: prompt layer inputs");
    b.prompt_input_tokens = t;
  }
  if (probes.replay_layer_inputs_from && probes.replay_layer_inputs_from->buffers_->prompt_input_tokens != t)
    throw std::invalid_argument("replaying layer inputs needs the other session to have run the same prompt first");
  if (selector_) selector_->reserve(t, uint32_t(*std::max_element(stats_.layer_budgets.begin(), stats_.layer_budgets.end())));

  vk::CommandStream s(ctx_.device());
  stats_.prefill_gpu_seconds = 0;
  mark_gpu_begin(s);
  ops::record_get_rows(ctx_, s, weights_.token_embedding, *ids, t, *x_all);
  const uint64_t row_bytes = 4ull * c.n_embd;
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const uint32_t budget = uint32_t(std::min<int>(stats_.layer_budgets[l], int(t)));
    const bool compress_layer = compressing && budget < t;
    kv_->reserve(s, l, compress_layer ? t : t + options_.decode_headroom);
    if (probes.record_layer_inputs || probes.replay_layer_inputs_from)
      record_layer_input(s, l, vk::BufferRange(*x_all, 0, uint64_t(t) * row_bytes), /*prompt=*/true);
    for (size_t ci = 0; ci < chunks.size(); ++ci) {
      const auto [start, n] = chunks[ci];
      s.copy(vk::BufferRange(*x_all, start * row_bytes, n * row_bytes), vk::BufferRange(*b.x, 0, n * row_bytes));
      record_layer_chunk(s, l, start, n, *positions[ci]);
      s.copy(vk::BufferRange(*b.x, 0, n * row_bytes), vk::BufferRange(*x_all, start * row_bytes, n * row_bytes));
    }
    kv_->append(l, t);
    if (compress_layer) {
      const uint32_t q_width = c.n_heads * c.head_dim;
      const uint32_t last_n = chunks.back().second;
      const uint64_t qrow = 4ull * q_width;
      s.copy(vk::BufferRange(*b.q, (last_n - cc.window) * qrow, cc.window * qrow),
             vk::BufferRange(*b.window_queries, 0, cc.window * qrow));
      const Selection sel = selector_->record(s, l, budget, t, *b.window_queries, kv_->layer(l), c.head_dim, q_width);
      kv_->compact(s, l, *sel.indices, sel.index_rows, sel.count, options_.decode_headroom);
    }
    // One submission per layer: the uncompressed layer's memory is freed before the next layer allocates its own.
    if (l + 1 < c.n_layers) {
      mark_gpu_end(s);
      s.submit_and_wait();
      stats_.prefill_gpu_seconds += gpu_seconds(s);
      mark_gpu_begin(s);
      kv_->release_retired();
      if (options_.on_prefill_layer) options_.on_prefill_layer(l + 1, c.n_layers);
    }
  }
  s.copy(vk::BufferRange(*x_all, (t - 1) * row_bytes, row_bytes), vk::BufferRange(*b.x, 0, row_bytes));
  record_logits_and_sample(s, vk::BufferRange(*b.x, 0, row_bytes), sampling, 0);
  mark_gpu_end(s);
  s.submit_and_wait();
  stats_.prefill_gpu_seconds += gpu_seconds(s);
  kv_->release_retired();
  if (options_.on_prefill_layer) options_.on_prefill_layer(c.n_layers, c.n_layers);
  position_ = t;
  stats_.prompt_tokens = t;
  stats_.prefill_seconds = seconds_since(started);
  return read_token(0);
}

void LlamaSession::start_decode(int32_t token) {
  if (position_ == 0) throw std::logic_error("decode before prefill");
  if (position_ >= options_.context)
    throw std::runtime_error("context of " + std::to_string(options_.context) + " tokens is full");
  if (token < 0 || uint32_t(token) >= config_.vocab_size) throw std::invalid_argument("token id out of range");
  ensure_buffers(1);
  std::memcpy(buffers_->decode_ids->mapped(), &token, 4);
  buffers_->decode_ids->flush_to_device();
}

void LlamaSession::count_decoded_step(const vk::CommandStream& s) {
  stats_.decode_gpu_seconds += gpu_seconds(s);
  ++stats_.generated_tokens;
  buffers_->decoded = true;
}

void LlamaSession::record_decode_step(vk::CommandStream& s, const vk::Buffer& ids, uint32_t slot,
                                      const SamplingOptions& sampling) {
  const LlamaConfig& c = config_;
  Buffers& b = *buffers_;
  std::memcpy(b.decode_position[slot]->mapped(), &position_, 4);
  b.decode_position[slot]->flush_to_device();
  capture_step_ = options_.capture_decode_attention;
  if (capture_step_) prepare_attention_capture();

  mark_gpu_begin(s);
  ops::record_get_rows(ctx_, s, weights_.token_embedding, ids, 1, *b.x);
  const SessionProbes& probes = options_.probes;
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const uint32_t length = kv_->layer(l).length;
    kv_->reserve(s, l, length + 1);
    if (probes.record_layer_inputs || probes.replay_layer_inputs_from)
      record_layer_input(s, l, vk::BufferRange(*b.x, 0, 4ull * c.n_embd), /*prompt=*/false);
    record_layer_chunk(s, l, length, 1, *b.decode_position[slot]);
    kv_->append(l, 1);
  }
  record_logits_and_sample(s, vk::BufferRange(*b.x, 0, 4ull * c.n_embd), sampling, slot);
  capture_step_ = false;
  if (options_.capture_decode_attention) {
    s.copy(vk::BufferRange(*b.capture_probs, 0, 4 * capture_.probs.size()),
           vk::BufferRange(*b.capture_probs_rb, 0, 4 * capture_.probs.size()));
    s.copy(*b.capture_q, *b.capture_q_rb);
    s.copy(*b.capture_out, *b.capture_out_rb);
  }
  mark_gpu_end(s);
  ++position_;
}

int32_t LlamaSession::decode(int32_t token, const SamplingOptions& sampling) {
  const auto started = Clock::now();
  start_decode(token);
  const SessionProbes& probes = options_.probes;
  if (probes.replay_layer_inputs_from && probes.replay_layer_inputs_from->position_ != position_ + 1)
    throw std::logic_error("replaying layer inputs needs the other session to have decoded this step first");

  vk::CommandStream s(ctx_.device());
  record_decode_step(s, *buffers_->decode_ids, 0, sampling);
  s.submit_and_wait();
  count_decoded_step(s);
  kv_->release_retired();
  if (options_.capture_decode_attention) read_attention_capture();
  stats_.decode_seconds += seconds_since(started);
  return read_token(0);
}

std::vector<int32_t> LlamaSession::decode_stream(int32_t token, uint32_t max_tokens, const SamplingOptions& sampling,
                                                 const std::function<bool(int32_t)>& on_token) {
  std::vector<int32_t> out;
  const SessionProbes& probes = options_.probes;
  if (options_.capture_decode_attention || probes.record_layer_inputs || probes.replay_layer_inputs_from ||
      probes.attention_outputs) {
    // Probed steps are read back one by one: no step may run ahead.
    for (uint32_t i = 0; i < max_tokens; ++i) {
      token = decode(token, sampling);
      out.push_back(token);
      if (on_token && !on_token(token)) break;
    }
    return out;
  }
  if (max_tokens == 0) return out;
  const auto started = Clock::now();
  start_decode(token);
  Buffers& b = *buffers_;

  vk::CommandStream streams[2] = {vk::CommandStream(ctx_.device()), vk::CommandStream(ctx_.device())};
  size_t retired_before[2] = {0, 0};  // retired buffers older than each slot's step
  // Step n runs in slot n % 2. Step 0 embeds the host's token; every later step embeds the token that the step
  // before it sampled into b.token, so it can be recorded and submitted before that token is known here.
  auto launch = [&](uint32_t step) {
    const uint32_t slot = step % 2;
    retired_before[slot] = kv_->retired_count();
    vk::CommandStream& s = streams[slot];
    s.barrier();  // orders this submission after the one in flight (b.token, the KV rows it appends)
    record_decode_step(s, step == 0 ? *b.decode_ids : *b.token, slot, sampling);
    s.submit();
  };
  launch(0);
  for (uint32_t step = 0;; ++step) {
    const uint32_t slot = step % 2;
    const bool more = step + 1 < max_tokens && position_ < options_.context;
    if (more) launch(step + 1);
    streams[slot].wait();
    count_decoded_step(streams[slot]);
    // Buffers retired while recording this step or earlier ones are free now; the next step's are still in use.
    kv_->release_retired(more ? retired_before[(step + 1) % 2] : kv_->retired_count());
    const int32_t next = read_token(slot);
    out.push_back(next);
    const bool go_on = !on_token || on_token(next);
    if (!more) break;
    if (!go_on) {
      // The step in flight decodes a token nobody wants: let it finish, then forget its KV row and position.
      streams[(step + 1) % 2].wait();
      kv_->release_retired();
      for (uint32_t l = 0; l < config_.n_layers; ++l) kv_->drop_last(l, 1);
      --position_;
      break;
    }
  }
  stats_.decode_seconds += seconds_since(started);
  return out;
}

// Lays out this step's probs (each layer's rows start 256-byte aligned, as storage buffer bindings need) and
// makes the capture buffers large enough.
void LlamaSession::prepare_attention_capture() {
  const LlamaConfig& c = config_;
  Buffers& b = *buffers_;
  DecodeAttentionCapture& cap = capture_;
  cap.n_layers = c.n_layers;
  cap.n_heads = c.n_heads;
  cap.head_dim = c.head_dim;
  cap.keys.resize(c.n_layers);
  cap.probs_offset.resize(c.n_layers);
  uint64_t floats = 0;
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    cap.keys[l] = kv_->layer(l).length + 1;
    cap.probs_offset[l] = floats;
    floats += (uint64_t(c.n_heads) * cap.keys[l] + 63) / 64 * 64;
  }
  cap.probs.resize(floats);
  const uint64_t head_bytes = 4ull * c.n_layers * c.n_heads * c.head_dim;
  if (!b.capture_probs || b.capture_probs->size() < 4 * floats) {
    const uint64_t bytes = 4 * (floats + 64ull * c.n_layers * c.n_heads);  // room for 64 more steps
    b.capture_probs = device_buffer(ctx_, bytes, "decode attention probs");
    b.capture_probs_rb = device_buffer(ctx_, bytes, "decode attention probs readback", vk::MemoryKind::Readback);
  }
  if (!b.capture_q) {
    b.capture_q = device_buffer(ctx_, head_bytes, "decode queries");
    b.capture_out = device_buffer(ctx_, head_bytes, "decode attention outputs");
    b.capture_q_rb = device_buffer(ctx_, head_bytes, "decode queries readback", vk::MemoryKind::Readback);
    b.capture_out_rb = device_buffer(ctx_, head_bytes, "decode attention outputs readback", vk::MemoryKind::Readback);
    cap.queries.resize(head_bytes / 4);
    cap.outputs.resize(head_bytes / 4);
  }
}

void LlamaSession::read_attention_capture() {
  Buffers& b = *buffers_;
  const auto read = [](vk::Buffer& from, std::vector<float>& to) {
    from.invalidate_from_device();
    std::memcpy(to.data(), from.mapped(), to.size() * 4);
  };
  read(*b.capture_probs_rb, capture_.probs);
  read(*b.capture_q_rb, capture_.queries);
  read(*b.capture_out_rb, capture_.outputs);
}

const DecodeAttentionCapture& LlamaSession::decode_attention() const {
  if (!options_.capture_decode_attention)
    throw std::logic_error("decode attention was not captured: set SessionOptions::capture_decode_attention");
  if (capture_.keys.empty()) throw std::logic_error("decode attention: no decode step has run yet");
  return capture_;
}

std::vector<float> LlamaSession::last_logits() {
  return vk::download<float>(ctx_.device(), *buffers_->logits, config_.vocab_size);
}

std::vector<float> LlamaSession::attention_outputs() {
  if (!buffers_->attention_outputs) throw std::logic_error("attention outputs were not probed in this session");
  if (!buffers_->decoded) throw std::logic_error("attention outputs exist only after a decoded token");
  return vk::download<float>(ctx_.device(), *buffers_->attention_outputs, size_t(config_.n_layers) * config_.n_embd);
}

const SessionStats& LlamaSession::stats() {
  stats_.kv_bytes_full = kv_->full_bytes(position_);
  stats_.kv_bytes_kept = 0;
  stats_.layer_lengths.clear();
  for (uint32_t l = 0; l < config_.n_layers; ++l) {
    stats_.layer_lengths.push_back(kv_->layer(l).length);
    stats_.kv_bytes_kept += kv_->layer_bytes(kv_->layer(l).length);
  }
  stats_.kv_bytes_peak = kv_->peak_bytes();
  stats_.device_bytes_peak = ctx_.device().peak_allocated_bytes();
  return stats_;
}

}  // namespace ckv
