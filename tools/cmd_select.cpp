// `ckv select`: runs one layer's token selection on the GPU from NumPy queries and keys and writes the kept
// token indices (sorted ascending) as an int64 .npy: shape [B] for compresskv/streaming, [n_kv, B] for snapkv.
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "commands.hpp"
#include "engine/npy.hpp"
#include "engine/token_selector.hpp"
#include "vk/transfer.hpp"

namespace ckv::cli {

namespace {

struct SelectFlags {
  std::string queries, keys, out, heads, method = "compresskv", pool = "avg";
  int budget = 0;
  int window = 8;
  int kernel = 5;
};

std::vector<uint32_t> parse_heads(const std::string& text) {
  std::vector<uint32_t> heads;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    long value = -1;
    try {
      value = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || value < 0) throw std::invalid_argument("--heads: '" + item + "' is not a head index");
    heads.push_back(uint32_t(value));
  }
  if (heads.empty()) throw std::invalid_argument("--heads is empty");
  return heads;
}

// A float32 array of rank 3, or an error naming the flag.
NpyArray read_rank3_f32(const std::string& path, const char* flag) {
  NpyArray a = read_npy(path);
  if (a.dtype != "<f4") throw std::invalid_argument(std::string(flag) + " " + path + ": dtype " + a.dtype + ", expected float32");
  if (a.shape.size() != 3)
    throw std::invalid_argument(std::string(flag) + " " + path + ": rank " + std::to_string(a.shape.size()) +
                                ", expected 3 ([heads, tokens, head_dim])");
  return a;
}

int run_select(const SelectFlags& f, const GlobalOptions& global) {
  const KvPolicy policy = parse_kv_policy(f.method);
  if (policy != KvPolicy::CompressKV && policy != KvPolicy::SnapKV && policy != KvPolicy::Streaming)
    throw std::invalid_argument("--method must be compresskv, snapkv or streaming");
  const NpyArray q = read_rank3_f32(f.queries, "--queries");
  const NpyArray k = read_rank3_f32(f.keys, "--keys");
  const size_t n_q = q.shape[0], t = q.shape[1], d = q.shape[2], n_kv = k.shape[0];
  if (k.shape[1] != t || k.shape[2] != d)
    throw std::invalid_argument("--keys shape [" + std::to_string(n_kv) + ", " + std::to_string(k.shape[1]) + ", " +
                                std::to_string(k.shape[2]) + "] does not match --queries [" + std::to_string(n_q) +
                                ", " + std::to_string(t) + ", " + std::to_string(d) + "]");
  if (n_q == 0 || n_kv == 0 || t == 0 || d == 0) throw std::invalid_argument("empty queries or keys");
  if (n_q % n_kv) throw std::invalid_argument("query heads (" + std::to_string(n_q) + ") are not a multiple of KV heads (" + std::to_string(n_kv) + ")");
  if (d % 2) throw std::invalid_argument("head_dim must be even, got " + std::to_string(d));
  if (f.budget <= 0) throw std::invalid_argument("--budget must be positive, got " + std::to_string(f.budget));
  if (f.window < 1) throw std::invalid_argument("--window must be at least 1");
  if (policy != KvPolicy::Streaming && f.budget < f.window)
    throw std::invalid_argument("--budget " + std::to_string(f.budget) + " is smaller than --window " + std::to_string(f.window));
  if (size_t(f.window) > t)
    throw std::invalid_argument("the prompt has " + std::to_string(t) + " tokens, fewer than --window " + std::to_string(f.window));
  if (f.kernel < 1 || f.kernel % 2 == 0) throw std::invalid_argument("--kernel must be odd and positive");

  CompressionConfig config;
  config.policy = policy;
  config.window = uint32_t(f.window);
  config.pool_kernel = uint32_t(f.kernel);
  config.pool = f.pool == "max" ? ops::PoolKind::Max : ops::PoolKind::Avg;
  if (policy == KvPolicy::CompressKV) {
    if (f.heads.empty()) throw std::invalid_argument("--heads is required for --method compresskv");
    const std::vector<uint32_t> heads = parse_heads(f.heads);
    ops::validate_head_sets(heads, uint32_t(n_q));
    config.retrieval_heads = {heads};
    config.retrieval_heads_used = uint32_t(heads.size());
  }
  if (policy == KvPolicy::Streaming && f.budget < int(config.sink_tokens))
    throw std::invalid_argument("--budget must be at least the " + std::to_string(config.sink_tokens) + " sink tokens");

  const size_t rows = policy == KvPolicy::SnapKV ? n_kv : 1;
  std::vector<int64_t> kept;
  size_t count = 0;
  if (t <= size_t(f.budget)) {  // nothing to evict
    count = t;
    for (size_t r = 0; r < rows; ++r)
      for (size_t i = 0; i < t; ++i) kept.push_back(int64_t(i));
  } else {
    vk::Context ctx(global.context());
    vk::Device& device = ctx.device();
    AttentionShape shape{1, uint32_t(n_q), uint32_t(n_kv), uint32_t(d), KvDtype::F32};
    TokenSelector selector(ctx, shape, config);
    selector.reserve(uint32_t(t), uint32_t(f.budget));

    LayerKv layer;
    layer.capacity = layer.length = layer.positions = uint32_t(t);
    layer.k = std::make_unique<vk::Buffer>(device, k.data.size(), vk::MemoryKind::DeviceLocal, "keys");
    vk::upload_bytes(device, *layer.k, k.data.data(), k.data.size());
    const std::vector<float> qf = as_float(q);
    std::vector<float> window_rows(n_q * f.window * d);
    for (size_t h = 0; h < n_q; ++h)
      for (size_t w = 0; w < size_t(f.window); ++w)
        for (size_t c = 0; c < d; ++c)
          window_rows[(h * f.window + w) * d + c] = qf[(h * t + (t - f.window + w)) * d + c];
    vk::Buffer window_queries(device, window_rows.size() * 4, vk::MemoryKind::DeviceLocal, "window queries");
    vk::upload(device, window_queries, std::span<const float>(window_rows));

    vk::CommandStream stream(device);
    const Selection sel = selector.record(stream, 0, uint32_t(f.budget), uint32_t(t), window_queries, layer);
    stream.submit_and_wait();
    count = sel.count;
    for (uint32_t idx : vk::download<uint32_t>(device, *sel.indices, size_t(sel.index_rows) * sel.count))
      kept.push_back(int64_t(idx));
  }
  std::vector<size_t> out_shape = rows == 1 ? std::vector<size_t>{count} : std::vector<size_t>{rows, count};
  write_npy_int64(f.out, out_shape, kept);
  return 0;
}

}  // namespace

Command add_select_command(CLI::App& app, const GlobalOptions& global) {
  auto flags = std::make_shared<SelectFlags>();
  CLI::App* sub = app.add_subcommand("select", "Select the KV tokens one layer keeps (GPU), from .npy queries and keys");
  sub->add_option("--queries", flags->queries, "float32 .npy [n_q, T, d], after RoPE")->required();
  sub->add_option("--keys", flags->keys, "float32 .npy [n_kv, T, d], after RoPE")->required();
  sub->add_option("--budget", flags->budget, "tokens kept (window included)")->required();
  sub->add_option("--heads", flags->heads, "retrieval query heads, comma-separated (compresskv)");
  sub->add_option("--window", flags->window, "observation window (last tokens, always kept)");
  sub->add_option("--kernel", flags->kernel, "pooling kernel size (odd)");
  sub->add_option("--pool", flags->pool, "pooling: avg or max")->check(CLI::IsMember({"avg", "max"}));
  sub->add_option("--method", flags->method, "compresskv, snapkv or streaming")
      ->check(CLI::IsMember({"compresskv", "snapkv", "streaming"}));
  sub->add_option("--out", flags->out, "output .npy of int64 indices")->required();
  return {sub, [flags, &global]() { return run_select(*flags, global); }};
}

}  // namespace ckv::cli
