#include "bench_e2e.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "bench.hpp"
#include "engine/kv_policy.hpp"
#include "engine/model/llama_session.hpp"
#include "engine/model/llama_weights.hpp"
#include "engine/model/synthetic_weights.hpp"
#include "vk/dispatch_profile.hpp"

namespace ckv::bench {

namespace {

using Clock = std::chrono::steady_clock;

double mib(uint64_t bytes) { return double(bytes) / double(1 << 20); }
double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

std::vector<int32_t> random_prompt(uint32_t tokens, uint32_t vocab, uint64_t seed) {
  std::vector<int32_t> ids(tokens);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
  for (auto& id : ids) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    id = int32_t((s >> 16) % vocab);
  }
  return ids;
}

// The untimed warm-up step, the timed decode steps and the profiled ones.
uint32_t decode_steps(const E2eOptions& o) { return 1 + o.decode_tokens + (o.profile ? o.profile_steps : 0); }

struct Setup {
  LlamaConfig config;
  GgmlType type;
  CompressionConfig compresskv;
};

Setup check_options(const E2eOptions& o) {
  Setup s;
  s.config = synthetic_config(o.synthetic);
  if (o.layers) s.config.n_layers = o.layers;
  s.config.name = o.synthetic + (o.layers ? " (" + std::to_string(o.layers) + " layers)" : "");
  s.type = parse_synthetic_weight_type(o.weights);
  if (o.context == 0) throw std::invalid_argument("--context must be at least 1 token");
  if (o.decode_tokens == 0) throw std::invalid_argument("--decode-tokens must be at least 1");
  if (o.profile && o.profile_steps == 0) throw std::invalid_argument("--profile-steps must be at least 1");
  if (uint64_t(o.context) + decode_steps(o) > s.config.context_length)
    throw std::invalid_argument("--context " + std::to_string(o.context) + " plus " + std::to_string(decode_steps(o)) +
                                " decode tokens exceeds the model's context of " +
                                std::to_string(s.config.context_length));
  if (o.retrieval_heads == 0 || o.retrieval_heads > s.config.n_heads)
    throw std::invalid_argument("--retrieval-heads must be 1.." + std::to_string(s.config.n_heads));
  if (o.policy != "both" && o.policy != "fullkv" && o.policy != "compresskv")
    throw std::invalid_argument("--policy must be both, fullkv or compresskv, got '" + o.policy + "'");
  if (o.copy_mib.empty()) throw std::invalid_argument("--copy-mib needs at least one size");
  for (uint32_t m : o.copy_mib)
    if (m == 0) throw std::invalid_argument("--copy-mib sizes must be at least 1");
  CompressionConfig& c = s.compresskv;
  c.policy = KvPolicy::CompressKV;
  c.window = o.window;
  c.retrieval_heads_used = o.retrieval_heads;
  std::vector<uint32_t> heads(o.retrieval_heads);
  for (uint32_t h = 0; h < o.retrieval_heads; ++h) heads[h] = h;
  c.retrieval_heads.assign(s.config.n_layers, heads);
  layer_budgets(c, s.config.n_layers, o.budget, o.context);  // throws for budget < window, budget <= 0
  if (o.budget >= int(o.context))
    throw std::invalid_argument("--budget " + std::to_string(o.budget) + " must be smaller than --context " +
                                std::to_string(o.context) + " (otherwise CompressKV keeps everything)");
  if (o.window >= o.context) throw std::invalid_argument("--window must be smaller than --context");
  return s;
}

// The per-pipeline table of what ran since the last call, printed and as lines; the profile restarts.
nlohmann::json take_profile(const std::string& phase) {
  const std::string report = vk::dispatch_profile_report();
  vk::reset_dispatch_profile();
  std::printf("-- %s\n%s", phase.c_str(), report.c_str());
  nlohmann::json lines = nlohmann::json::array();
  for (size_t start = 0; start < report.size();) {
    const size_t end = report.find('\n', start);
    lines.push_back(report.substr(start, end - start));
    start = end == std::string::npos ? report.size() : end + 1;
  }
  return lines;
}

nlohmann::json run_policy(vk::Context& ctx, const Setup& setup, const LlamaWeights& weights,
                          const std::vector<int32_t>& prompt, const E2eOptions& o, KvPolicy policy,
                          double copy_bytes_per_second) {
  const char* name = kv_policy_name(policy);
  SessionOptions so;
  so.compression = policy == KvPolicy::FullKV ? CompressionConfig{} : setup.compresskv;
  so.compression.policy = policy;
  so.compression.window = o.window;
  so.kv_budget = o.budget;
  so.context = o.context + decode_steps(o);
  so.ubatch = o.ubatch;
  so.decode_headroom = o.headroom;
  so.fused_decode = !o.unfused_decode;
  so.int8_activations = !o.float_activations;
  const auto started = Clock::now();
  so.on_prefill_layer = [&](uint32_t done, uint32_t all) {
    if (done == 1 && all > 1) {  // an early estimate, useful when a long run is cut off
      const double s = std::chrono::duration<double>(Clock::now() - started).count();
      std::printf("%s prefill: first layer took %.2f s (about %.0f s for all %u)\n", name, s, s * all, all);
      std::fflush(stdout);
    }
  };
  LlamaSession session(ctx, setup.config, weights, so);
  const bool env_profile = vk::dispatch_profiling_requested();
  vk::reset_dispatch_profile();

  const SamplingOptions greedy;
  if (o.profile) vk::set_dispatch_profiling(true);
  std::vector<int32_t> tokens{session.prefill(prompt, greedy)};
  if (o.profile) vk::set_dispatch_profiling(env_profile);
  const SessionStats after_prefill = session.stats();
  nlohmann::json prefill_profile, decode_profile;
  if (o.profile || env_profile) prefill_profile = take_profile(std::string(name) + " prefill");
  // One untimed step first: it creates the decode pipelines, which the prompt did not use.
  tokens.push_back(session.decode_stream(tokens.back(), 1, greedy).at(0));
  const SessionStats before_decode = session.stats();
  const std::vector<int32_t> decoded = session.decode_stream(tokens.back(), o.decode_tokens, greedy);
  tokens.insert(tokens.end(), decoded.begin(), decoded.end());
  const SessionStats s = session.stats();
  const double decode_seconds = s.decode_seconds - before_decode.decode_seconds;
  const double decode_gpu_seconds = s.decode_gpu_seconds - before_decode.decode_gpu_seconds;
  if (env_profile) decode_profile = take_profile(std::string(name) + " decode (the timed steps)");
  if (o.profile) {
    vk::set_dispatch_profiling(true);
    vk::reset_dispatch_profile();
    session.decode_stream(tokens.back(), o.profile_steps, greedy);
    vk::set_dispatch_profiling(env_profile);
    decode_profile = take_profile(std::string(name) + " decode (" + std::to_string(o.profile_steps) +
                                  " profiled steps after the timed ones)");
  }

  const double kv_read = 0.5 * double(after_prefill.kv_bytes_kept + s.kv_bytes_kept);  // mean over the steps
  const double bytes_per_token = double(weights.decode_bytes()) + kv_read;
  const double roofline = copy_bytes_per_second / bytes_per_token;
  const double decode_tps = ratio(o.decode_tokens, decode_seconds);
  const double decode_gpu_tps = ratio(o.decode_tokens, decode_gpu_seconds);
  nlohmann::json j = {{"policy", name},
                      {"prompt_tokens", s.prompt_tokens},
                      {"decode_tokens", s.generated_tokens - before_decode.generated_tokens},
                      {"prefill_seconds", s.prefill_seconds},
                      {"prefill_gpu_seconds", s.prefill_gpu_seconds},
                      {"prefill_tokens_per_second", ratio(s.prompt_tokens, s.prefill_seconds)},
                      {"prefill_gpu_tokens_per_second", ratio(s.prompt_tokens, s.prefill_gpu_seconds)},
                      {"decode_seconds", decode_seconds},
                      {"decode_gpu_seconds", decode_gpu_seconds},
                      {"decode_tokens_per_second", decode_tps},
                      {"decode_gpu_tokens_per_second", decode_gpu_tps},
                      {"kv_bytes_full", after_prefill.kv_bytes_full},
                      {"kv_bytes_kept", after_prefill.kv_bytes_kept},
                      {"kv_bytes_kept_after_decode", s.kv_bytes_kept},
                      {"kv_bytes_peak_prefill", after_prefill.kv_bytes_peak},
                      {"device_bytes_peak", s.device_bytes_peak},
                      {"decode_bytes_per_token", bytes_per_token},
                      {"roofline_tokens_per_second", roofline},
                      {"decode_vs_roofline", ratio(decode_tps, roofline)},
                      {"decode_gpu_vs_roofline", ratio(decode_gpu_tps, roofline)},
                      {"layer_budgets", after_prefill.layer_budgets},
                      {"tokens", tokens}};
  // One line per policy as soon as it is done, so a run cut off later still reports it.
  std::printf("%s: prefill %.1f tok/s (GPU %.1f), decode %.2f tok/s (GPU %.2f), roofline %.2f tok/s, KV kept %.2f MiB, "
              "peak %.2f MiB\n",
              name, j["prefill_tokens_per_second"].get<double>(), j["prefill_gpu_tokens_per_second"].get<double>(),
              decode_tps, decode_gpu_tps, roofline, mib(after_prefill.kv_bytes_kept), mib(after_prefill.kv_bytes_peak));
  std::fflush(stdout);
  if (!prefill_profile.is_null()) j["profile_prefill"] = prefill_profile;
  if (!decode_profile.is_null()) j["profile_decode"] = decode_profile;
  return j;
}

}  // namespace

void check_e2e_options(const E2eOptions& options) { check_options(options); }

nlohmann::json run_e2e(vk::Context& ctx, const E2eOptions& o) {
  const Setup setup = check_options(o);
  const vk::DeviceInfo& info = ctx.device().info();
  nlohmann::json report;
  report["device"] = info.name;
  report["driver"] = info.driver_name + " " + info.driver_info;
  report["date"] = utc_now();
  report["model"] = {{"synthetic", o.synthetic},         {"weights", o.weights},
                     {"layers", setup.config.n_layers},  {"hidden", setup.config.n_embd},
                     {"ffn", setup.config.n_ff},         {"q_heads", setup.config.n_heads},
                     {"kv_heads", setup.config.n_kv_heads}, {"head_dim", setup.config.head_dim},
                     {"vocab", setup.config.vocab_size}, {"rope_base", setup.config.rope_freq_base}};
  report["context"] = o.context;
  report["budget"] = o.budget;
  report["window"] = o.window;
  report["retrieval_heads"] = o.retrieval_heads;
  report["decode_tokens"] = o.decode_tokens;
  report["ubatch"] = o.ubatch;
  report["headroom"] = o.headroom;
  report["fused_decode"] = !o.unfused_decode;
  report["int8_activations"] = !o.float_activations;
  report["seed"] = o.seed;
  report["kv_dtype"] = "f16";
  report["profiled"] = vk::dispatch_profiling_requested();  // CKV_PROFILE: the timed steps were profiled too
  report["profile_decode_steps"] = o.profile ? o.profile_steps : 0;
  report["timing"] =
      "prefill: wall time of LlamaSession::prefill (one submission per layer, waits included) and the sum of GPU "
      "timestamps around its submissions; decode: wall time per greedy step (one submission, the sampled token read "
      "back each step) and GPU timestamps around each step's submission. Roofline: (weight bytes read per token + "
      "mean kept KV bytes) / best copy bandwidth of this run (bytes read + written per second)."
      " Profiling adds a timestamp after every dispatch: --profile profiles the prefill and extra decode steps after"
      " the timed ones; CKV_PROFILE=1 profiles the timed steps too (then profiled is true).";
  std::printf("device: %s (%s)\n", info.name.c_str(), report["driver"].get<std::string>().c_str());
  std::printf("model: %s, %s weights\n", setup.config.summary().c_str(), quant::type_name(setup.type).c_str());
  std::fflush(stdout);

  double best_copy = 0;
  report["copy"] = nlohmann::json::array();
  for (uint32_t m : o.copy_mib) {
    const BenchResult r = measure_copy(ctx, uint64_t(m) << 20, o.copy_warmup, o.copy_repeats);
    if (!r.checked) throw std::runtime_error("the copy bench's output is wrong (" + r.name + ")");
    const double bps = r.bytes / (r.median_us * 1e-6);
    best_copy = std::max(best_copy, bps);
    report["copy"].push_back({{"bytes", uint64_t(m) << 20}, {"median_us", r.median_us}, {"GBps", bps / 1e9}});
    std::printf("%s: %.1f us, %.1f GB/s (read + write)\n", r.name.c_str(), r.median_us, bps / 1e9);
  }
  report["copy_GBps"] = best_copy / 1e9;

  const auto made = Clock::now();
  const LlamaWeights weights(ctx, setup.config, SyntheticWeightOptions{setup.type, o.seed});
  const double made_s = std::chrono::duration<double>(Clock::now() - made).count();
  report["weight_bytes"] = weights.bytes();
  report["weight_bytes_per_token"] = weights.decode_bytes();
  report["weights_seconds"] = made_s;
  std::printf("weights: %.2f GiB (%.2f GiB read per decoded token), made in %.2f s\n", mib(weights.bytes()) / 1024,
              mib(weights.decode_bytes()) / 1024, made_s);
  std::fflush(stdout);

  const std::vector<int32_t> prompt = random_prompt(o.context, setup.config.vocab_size, o.seed);
  report["policies"] = nlohmann::json::array();
  for (KvPolicy p : {KvPolicy::FullKV, KvPolicy::CompressKV})
    if (o.policy == "both" || o.policy == kv_policy_name(p))
      report["policies"].push_back(run_policy(ctx, setup, weights, prompt, o, p, best_copy));

  auto num = [](const nlohmann::json& j, const char* key) { return j[key].get<double>(); };
  const bool both = report["policies"].size() == 2;
  if (both) {
    const nlohmann::json& full = report["policies"][0];
    const nlohmann::json& ckv = report["policies"][1];
    report["ratios"] = {
        {"compresskv_prefill_vs_fullkv", ratio(num(ckv, "prefill_tokens_per_second"), num(full, "prefill_tokens_per_second"))},
        {"compresskv_prefill_gpu_vs_fullkv",
         ratio(num(ckv, "prefill_gpu_tokens_per_second"), num(full, "prefill_gpu_tokens_per_second"))},
        {"peak_kv_compresskv_vs_fullkv", ratio(num(ckv, "kv_bytes_peak_prefill"), num(full, "kv_bytes_peak_prefill"))},
        {"kept_kv_compresskv_vs_fullkv", ratio(num(ckv, "kv_bytes_kept"), num(full, "kv_bytes_kept"))},
        {"fullkv_decode_vs_roofline", num(full, "decode_vs_roofline")},
        {"compresskv_decode_vs_roofline", num(ckv, "decode_vs_roofline")},
        {"fullkv_decode_gpu_vs_roofline", num(full, "decode_gpu_vs_roofline")},
        {"compresskv_decode_gpu_vs_roofline", num(ckv, "decode_gpu_vs_roofline")}};
  }

  std::printf("\n%-11s %11s %11s %10s %10s %10s %9s %9s %11s %11s\n", "policy", "prefill t/s", "(GPU)", "decode t/s",
              "(GPU)", "roofline", "dec/roof", "(GPU)", "KV kept MiB", "KV peak MiB");
  for (const nlohmann::json& p : report["policies"])
    std::printf("%-11s %11.1f %11.1f %10.2f %10.2f %10.2f %9.3f %9.3f %11.2f %11.2f\n",
                p["policy"].get<std::string>().c_str(), num(p, "prefill_tokens_per_second"),
                num(p, "prefill_gpu_tokens_per_second"), num(p, "decode_tokens_per_second"),
                num(p, "decode_gpu_tokens_per_second"), num(p, "roofline_tokens_per_second"),
                num(p, "decode_vs_roofline"), num(p, "decode_gpu_vs_roofline"), mib(p["kv_bytes_kept"].get<uint64_t>()),
                mib(p["kv_bytes_peak_prefill"].get<uint64_t>()));
  if (both) {
    const nlohmann::json& r = report["ratios"];
    std::printf("CompressKV / FullKV: prefill %.3f (GPU %.3f), peak KV %.4f, kept KV %.4f\n",
                num(r, "compresskv_prefill_vs_fullkv"), num(r, "compresskv_prefill_gpu_vs_fullkv"),
                num(r, "peak_kv_compresskv_vs_fullkv"), num(r, "kept_kv_compresskv_vs_fullkv"));
  }
  std::printf("roofline: weights %.2f GiB + kept KV per token over %.1f GB/s copy; decode tok/s is wall time per "
              "step (token read back each step), (GPU) from timestamps\n",
              mib(weights.decode_bytes()) / 1024, best_copy / 1e9);
  std::fflush(stdout);
  return report;
}

}  // namespace ckv::bench
