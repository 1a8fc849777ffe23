// `ckv bench e2e` end to end on the tiny synthetic model: prefill + decode run for FullKV and CompressKV, the JSON
// report holds sane values (the prompt is long enough that CompressKV's peak KV, one uncompressed layer plus
// compacted ones with decode headroom, stays below FullKV's), the same seed generates the same tokens, and bad input is one error line.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>

#include "cli_runner.hpp"

namespace ckv::test {
namespace {

// 260 prompt tokens: with KV capacity in chunks of 256 rows, FullKV holds 2 x 512 rows per KV head while
// CompressKV peaks at one uncompressed layer (512) plus compacted ones (256 each), so its peak ratio is <= 1.
const std::vector<std::string> kTiny = {"bench", "e2e", "--synthetic", "tiny", "--context", "260", "--budget", "32",
                                        "--decode-tokens", "4", "--headroom", "4", "--copy-mib", "1",
                                        "--copy-repeats", "2"};

nlohmann::json run_tiny(const std::filesystem::path& json, std::vector<std::string> extra = {},
                        std::vector<std::string> base = kTiny) {
  std::vector<std::string> args = base;
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("--json");
  args.push_back(json.string());
  const CliResult r = run_ckv(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");  // no validation messages, no warnings
  EXPECT_NE(r.out.find("fullkv"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("compresskv"), std::string::npos) << r.out;
  return nlohmann::json::parse(read_text(json));
}

TEST(CliBenchE2e, TinyModelReportsSaneNumbersAndSameSeedSameTokens) {
  const auto dir = fresh_temp_dir("bench_e2e");
  const nlohmann::json j = run_tiny(dir / "e2e.json", {"--weights", "q4_0", "--seed", "5"});
  EXPECT_EQ(j["model"]["synthetic"], "tiny");
  EXPECT_EQ(j["model"]["weights"], "q4_0");
  EXPECT_EQ(j["model"]["layers"], 2);
  EXPECT_EQ(j["context"], 260);
  EXPECT_GT(j["copy_GBps"].get<double>(), 0.0);
  const uint64_t weight_bytes = j["weight_bytes_per_token"];
  EXPECT_GT(weight_bytes, 0u);
  EXPECT_LT(weight_bytes, j["weight_bytes"].get<uint64_t>());  // the embedding is not read per token
  ASSERT_EQ(j["policies"].size(), 2u);
  const nlohmann::json& full = j["policies"][0];
  const nlohmann::json& ckv = j["policies"][1];
  EXPECT_EQ(full["policy"], "fullkv");
  EXPECT_EQ(ckv["policy"], "compresskv");
  // Tiny: 2 layers, 2 KV heads of 32, f16 K and V: 512 bytes per token over all layers.
  const uint64_t per_token = 2ull * 2 * 2 * 32 * 2;
  for (const nlohmann::json* p : {&full, &ckv}) {
    SCOPED_TRACE((*p)["policy"].get<std::string>());
    EXPECT_EQ((*p)["prompt_tokens"], 260);
    EXPECT_EQ((*p)["decode_tokens"], 4);
    for (const char* key : {"prefill_tokens_per_second", "prefill_gpu_tokens_per_second", "decode_tokens_per_second",
                            "decode_gpu_tokens_per_second", "roofline_tokens_per_second", "decode_vs_roofline"})
      EXPECT_GT((*p)[key].get<double>(), 0.0) << key;
    // GPU time is part of the wall time.
    EXPECT_LE((*p)["prefill_gpu_seconds"].get<double>(), (*p)["prefill_seconds"].get<double>());
    EXPECT_LE((*p)["decode_gpu_seconds"].get<double>(), (*p)["decode_seconds"].get<double>());
    EXPECT_EQ((*p)["kv_bytes_full"], 260 * per_token);
    EXPECT_LE((*p)["kv_bytes_kept"].get<uint64_t>(), (*p)["kv_bytes_full"].get<uint64_t>());
    EXPECT_EQ((*p)["tokens"].size(), 6u);  // the prompt's next token, the warm-up step's, then 4 timed
    for (const auto& t : (*p)["tokens"]) {
      EXPECT_GE(t.get<int>(), 0);
      EXPECT_LT(t.get<int>(), 1000);
    }
    const double bytes = (*p)["decode_bytes_per_token"];
    EXPECT_GT(bytes, double(weight_bytes));
    EXPECT_NEAR((*p)["roofline_tokens_per_second"].get<double>(), j["copy_GBps"].get<double>() * 1e9 / bytes,
                1e-6 * (*p)["roofline_tokens_per_second"].get<double>());
  }
  EXPECT_EQ(full["kv_bytes_kept"], 260 * per_token);
  EXPECT_EQ(ckv["kv_bytes_kept"], 32 * per_token);  // budget 32 in both layers
  EXPECT_EQ(ckv["kv_bytes_kept_after_decode"], 37 * per_token);  // + the warm-up step and 4 timed ones
  EXPECT_EQ(ckv["layer_budgets"], nlohmann::json({32, 32}));
  EXPECT_GE(full["kv_bytes_peak_prefill"].get<uint64_t>(), full["kv_bytes_kept"].get<uint64_t>());
  // The prompt runs the same attention under both policies (each layer is compressed after it): same first token.
  EXPECT_EQ(full["tokens"][0], ckv["tokens"][0]);
  const nlohmann::json& r = j["ratios"];
  EXPECT_GT(r["compresskv_prefill_vs_fullkv"].get<double>(), 0.0);
  EXPECT_GT(r["peak_kv_compresskv_vs_fullkv"].get<double>(), 0.0);
  EXPECT_LE(r["peak_kv_compresskv_vs_fullkv"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r["kept_kv_compresskv_vs_fullkv"].get<double>(), 32.0 / 260.0);

  EXPECT_FALSE(full.contains("profile_decode"));

  // The same seed again: the same weights and prompt, so the same greedy tokens (the profiled decode steps that
  // --profile adds run after the timed ones).
  const nlohmann::json again =
      run_tiny(dir / "again.json", {"--weights", "q4_0", "--seed", "5", "--profile", "--profile-steps", "2"});
  ASSERT_EQ(again["policies"].size(), 2u);
  for (size_t p = 0; p < 2; ++p) {
    EXPECT_EQ(again["policies"][p]["tokens"], j["policies"][p]["tokens"]) << p;
    EXPECT_EQ(again["policies"][p]["kv_bytes_kept_after_decode"], j["policies"][p]["kv_bytes_kept_after_decode"]);
    // The decode-time matrix-vector kernel on the Q4_0_X8 layout (the tiny model's rows are whole super-blocks):
    // matvec_* on GPUs (the int8-activation kernel where the device has dot products), matmul_*_lanes1 on CPU devices.
    const std::string decode_profile = again["policies"][p]["profile_decode"].dump();
    EXPECT_TRUE(decode_profile.find("matvec_q4_0_x8") != std::string::npos ||
                decode_profile.find("matmul_q4_0_x8_lanes1") != std::string::npos)
        << again["policies"][p]["profile_decode"].dump();
  }
  EXPECT_FALSE(again["profiled"].get<bool>());  // the timed steps were not profiled
  EXPECT_EQ(again["profile_decode_steps"], 2);
  std::filesystem::remove_all(dir);
}

TEST(CliBenchE2e, F16WeightsRunAShortPromptWithAProfilePerPhase) {
  const auto dir = fresh_temp_dir("bench_e2e_f16");
  ::setenv("CKV_PROFILE", "1", 1);  // inherited by the ckv process
  const nlohmann::json j =
      run_tiny(dir / "e2e.json", {}, {"bench", "e2e", "--synthetic", "tiny", "--weights", "f16", "--context", "40",
                                      "--budget", "16", "--decode-tokens", "2", "--copy-mib", "1", "--copy-repeats", "1"});
  ::unsetenv("CKV_PROFILE");
  EXPECT_TRUE(j["profiled"].get<bool>());
  for (const char* phase : {"profile_prefill", "profile_decode"}) {
    ASSERT_TRUE(j["policies"][1].contains(phase)) << phase;
    const std::string table = j["policies"][1][phase].dump();
    EXPECT_TRUE(table.find("matvec_f16") != std::string::npos || table.find("matmul_f16_lanes") != std::string::npos)
        << phase << ": " << table;
  }
  EXPECT_NE(j["policies"][1]["profile_prefill"].dump().find("topk"), std::string::npos);  // the compression ran
  EXPECT_EQ(j["policies"][1]["profile_decode"].dump().find("topk"), std::string::npos);   // but not in decode
  EXPECT_EQ(j["model"]["weights"], "f16");
  ASSERT_EQ(j["policies"].size(), 2u);
  EXPECT_EQ(j["policies"][0]["tokens"][0], j["policies"][1]["tokens"][0]);
  EXPECT_GT(j["policies"][1]["decode_tokens_per_second"].get<double>(), 0.0);
  EXPECT_EQ(j["policies"][1]["layer_budgets"], nlohmann::json({16, 16}));
  std::filesystem::remove_all(dir);
}

TEST(CliBenchE2e, OnePolicyAloneHasNoRatios) {
  const auto dir = fresh_temp_dir("bench_e2e_one");
  const std::vector<std::string> extra = {"--policy", "compresskv", "--json", (dir / "e2e.json").string()};
  std::vector<std::string> args = kTiny;
  args.insert(args.end(), extra.begin(), extra.end());
  const CliResult r = run_ckv(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(read_text(dir / "e2e.json"));
  ASSERT_EQ(j["policies"].size(), 1u);
  EXPECT_EQ(j["policies"][0]["policy"], "compresskv");
  EXPECT_FALSE(j.contains("ratios"));
  EXPECT_EQ(r.out.find("CompressKV / FullKV"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

TEST(CliBenchE2e, BadInputIsOneErrorLine) {
  const auto dir = fresh_temp_dir("bench_e2e_bad");
  struct Bad {
    std::vector<std::string> args;
    const char* message;
  };
  const std::vector<Bad> cases = {
      {{"--synthetic", "llama-9"}, "unknown synthetic model 'llama-9' (known: llama-3.1-8b, tiny)"},
      {{"--synthetic", "tiny", "--budget", "4"}, "smaller than the window"},
      {{"--synthetic", "tiny", "--context", "64", "--budget", "64"}, "--budget 64 must be smaller than --context 64"},
      {{"--synthetic", "tiny", "--weights", "q8_0"}, "synthetic weight type 'q8_0' is not supported"},
      {{"--synthetic", "tiny", "--context", "200000"}, "exceeds the model's context"},
      {{"--synthetic", "tiny", "--retrieval-heads", "9"}, "--retrieval-heads must be 1..8"},
      {{"--synthetic", "tiny", "--policy", "snapkv"}, "--policy must be both, fullkv or compresskv, got 'snapkv'"},
  };
  for (const Bad& c : cases) {
    std::vector<std::string> args = {"bench", "e2e", "--json", (dir / "out.json").string()};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const CliResult r = run_ckv(args);
    EXPECT_NE(r.exit_code, 0) << c.message;
    ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
    EXPECT_EQ(r.err_lines()[0].rfind("ckv: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "out.json")) << c.message;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ckv::test
