// End-to-end benchmark on a synthetic Llama model: prefill of a random prompt, then greedy decode, for FullKV and
// for CompressKV, with decode compared against the bandwidth roofline (weights + kept KV read per token, over the
// copy bandwidth measured in the same run).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "vk/context.hpp"

namespace ckv::bench {

struct E2eOptions {
  std::string synthetic;            // preset name (engine/model/synthetic_weights.hpp)
  std::string weights = "f16";      // f16 | q4_0
  uint32_t layers = 0;              // 0: the preset's
  uint32_t context = 32768;         // prompt tokens
  int budget = 512;                 // CompressKV: tokens kept per layer (window included)
  uint32_t decode_tokens = 32;
  std::string policy = "both";      // both | fullkv | compresskv (one alone: e.g. a 128 K run split over two calls)
  uint32_t window = 8;
  uint32_t retrieval_heads = 4;     // synthetic profile: query heads 0..N-1 of every layer
  uint32_t ubatch = 256;
  uint32_t headroom = 256;          // KV rows kept free for decoded tokens (SessionOptions::decode_headroom)
  uint64_t seed = 1;                // weights and prompt
  std::vector<uint32_t> copy_mib = {64, 1024};  // copy bench sizes; the roofline uses the best bandwidth
  int copy_warmup = 3, copy_repeats = 10;
  // Per-pipeline GPU time of each policy's prefill and of `profile_steps` extra decode steps run after the timed
  // ones (which stay unprofiled). CKV_PROFILE=1 instead profiles everything, the timed steps included.
  bool profile = false;
  uint32_t profile_steps = 8;
  bool unfused_decode = false;  // SessionOptions::fused_decode = false: the separate SiLU, RoPE/store, reduce passes
  bool float_activations = false;  // SessionOptions::int8_activations = false: Q4_0 products in fp32
};

// Throws std::invalid_argument with one clear message for options that cannot run (unknown preset or weight
// type, budget below the window or not below the context, context beyond the model's, ...).
void check_e2e_options(const E2eOptions& options);

// Checks the options, runs the benchmark, prints a table to stdout and returns the JSON report.
nlohmann::json run_e2e(vk::Context& ctx, const E2eOptions& options);

}  // namespace ckv::bench
