// stories260K (tests/data/stories260K): llama2.c's tiny real model, converted to GGUF at test time and run through
// the public API against llama2.c's own greedy output (run.c, float32 CPU): token ids, text and first-step logits.
// Also the converter itself (metadata, tensors, tokenizer, bad input) and `ckv convert-llama2c`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "compresskv/compresskv.hpp"
#include "engine/gguf/gguf_file.hpp"
#include "engine/half.hpp"
#include "engine/model/gguf_tokenizer.hpp"
#include "engine/model/llama2c_to_gguf.hpp"
#include "engine/model/llama_config.hpp"
#include "engine/tokenizer/tokenizer.hpp"
#include "paths.hpp"

namespace ckv::test {
namespace {

namespace fs = std::filesystem;

fs::path data(const char* name) { return source_dir() / "tests/data/stories260K" / name; }

// llama2.c run.c, temperature 0, 200 steps from BOS (llama2.c test_all.py; tests/data/stories260K/README.md).
const std::vector<int32_t> kGreedyIds = {
    403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337,
    410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352,
    266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432, 398, 312, 286, 267, 414, 270, 333, 415,
    426, 13,  438, 310, 439, 419, 357, 336, 432, 313, 438, 310, 432, 278, 316, 439, 419, 298, 414, 267,
    265, 282, 295, 433, 426, 436, 317, 286, 296, 418, 269, 279, 292, 416, 439, 413, 409, 416, 327, 263,
    415, 294, 267, 400, 426, 338, 336, 432, 313, 442, 391, 267, 337, 335, 364, 420, 268, 388, 432, 398,
    359, 280, 303, 439, 413, 272, 417, 264, 312, 426, 436, 13,  438, 310, 286, 296, 418, 269, 279, 292,
    416, 439, 413, 409, 416, 327, 263, 415, 294, 267, 400, 426, 338, 336, 432, 313, 442, 439, 423, 262,
    304, 420, 422, 432, 317, 426, 359, 279, 292, 416, 439, 413, 409, 416, 327, 263, 415, 294, 267, 400,
    426, 436, 13,  438, 310, 279, 292, 416, 439, 413, 391, 267, 281, 421, 427, 311, 357, 432, 384, 358,
};
// run.c's stdout for those ids, without its final newline.
const std::string kGreedyText =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw "
    "a big, red ball. She wanted to play with it, but it was too high.\n"
    "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to "
    "play with your ball, but I can't find it.\"\n"
    "Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\n"
    "Lily didn't want to help her mom, so she";

std::vector<float> read_floats(const fs::path& path, uint64_t offset, size_t count) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(std::streamoff(offset));
  std::vector<float> v(count);
  in.read(reinterpret_cast<char*>(v.data()), std::streamsize(count * 4));
  return v;
}

std::string conversion_error(const fs::path& checkpoint, const fs::path& tokenizer, const fs::path& out) {
  try {
    convert_llama2c(checkpoint, tokenizer, out);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

void write_prefix(const fs::path& from, const fs::path& to, size_t bytes, const std::string& append = "") {
  std::ifstream in(from, std::ios::binary);
  std::string text(bytes, '\0');
  in.read(text.data(), std::streamsize(bytes));
  text.resize(size_t(in.gcount()));
  std::ofstream(to, std::ios::binary) << text << append;
}

class Stories260kConvert : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = fresh_temp_dir("stories260k_convert"); }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(Stories260kConvert, MetadataAndTensorsMatchTheCheckpoint) {
  const fs::path out = dir_ / "s.gguf";
  convert_llama2c(data("stories260K.bin"), data("tok512.bin"), out);
  const GgufFile f = GgufFile::open(out);
  const LlamaConfig c = LlamaConfig::from_gguf(f);
  EXPECT_EQ(c.name, "stories260K");
  EXPECT_EQ(c.n_layers, 5u);
  EXPECT_EQ(c.n_embd, 64u);
  EXPECT_EQ(c.n_ff, 172u);
  EXPECT_EQ(c.n_heads, 8u);
  EXPECT_EQ(c.n_kv_heads, 4u);
  EXPECT_EQ(c.head_dim, 8u);
  EXPECT_EQ(c.rope_dim, 8u);
  EXPECT_EQ(c.vocab_size, 512u);
  EXPECT_EQ(c.context_length, 512u);
  EXPECT_EQ(c.rope_freq_base, 10000.0f);
  EXPECT_EQ(c.norm_eps, 1e-5f);
  EXPECT_EQ(c.rope_style, RopeStyle::Normal);  // llama2.c rotates adjacent pairs
  EXPECT_EQ(f.alignment(), 32u);

  EXPECT_EQ(f.tensors().size(), 2u + 9u * 5u);
  EXPECT_EQ(f.find_tensor("output.weight"), nullptr);  // tied to the embedding
  // Byte offsets of the checkpoint's tensors: README of tests/data/stories260K's source.
  const auto expect_tensor = [&](const char* name, std::vector<uint64_t> dims, uint64_t file_offset) {
    const GgufTensorInfo* t = f.find_tensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->dims, dims) << name;
    EXPECT_EQ(t->type, GgmlType::F32) << name;
    uint64_t count = 1;
    for (uint64_t d : dims) count *= d;
    const std::vector<float> want = read_floats(data("stories260K.bin"), file_offset, count);
    const auto got = f.tensor_data(*t);
    ASSERT_EQ(got.size(), count * 4) << name;
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0) << name;
  };
  expect_tensor("token_embd.weight", {64, 512}, 28);
  expect_tensor("blk.0.attn_norm.weight", {64}, 131100);
  expect_tensor("blk.4.attn_q.weight", {64, 64}, 132380 + 4 * 64 * 64 * 4);
  expect_tensor("blk.1.attn_k.weight", {64, 32}, 214300 + 1 * 32 * 64 * 4);
  expect_tensor("blk.2.attn_v.weight", {64, 32}, 255260 + 2 * 32 * 64 * 4);
  expect_tensor("blk.3.attn_output.weight", {64, 64}, 296220 + 3 * 64 * 64 * 4);
  expect_tensor("blk.4.ffn_norm.weight", {64}, 378140 + 4 * 64 * 4);
  expect_tensor("blk.2.ffn_gate.weight", {64, 172}, 379420 + 2 * 172 * 64 * 4);
  expect_tensor("blk.3.ffn_down.weight", {172, 64}, 599580 + 3 * 64 * 172 * 4);
  expect_tensor("blk.4.ffn_up.weight", {64, 172}, 819740 + 4 * 172 * 64 * 4);
  expect_tensor("output_norm.weight", {64}, 1039900);
}

TEST_F(Stories260kConvert, GgufTokenizerEqualsTheLlama2cLoader) {
  const fs::path out = dir_ / "s.gguf";
  convert_llama2c(data("stories260K.bin"), data("tok512.bin"), out);
  const GgufFile f = GgufFile::open(out);
  const TokenizerData from_gguf = tokenizer_data_from_gguf(f);
  const TokenizerData loaded = load_llama2c_tokenizer(data("tok512.bin"), 512);
  EXPECT_EQ(from_gguf.model, "llama");
  EXPECT_EQ(from_gguf.tokens, loaded.tokens);
  EXPECT_EQ(from_gguf.scores, loaded.scores);
  EXPECT_EQ(from_gguf.token_types, loaded.token_types);
  EXPECT_EQ(from_gguf.bos, 1);
  EXPECT_EQ(from_gguf.eos, 2);
  EXPECT_EQ(from_gguf.unk, 0);
  EXPECT_EQ(from_gguf.pad, -1);
  EXPECT_TRUE(from_gguf.add_bos);
  EXPECT_TRUE(from_gguf.add_space_prefix);
  EXPECT_EQ(from_gguf.end_of_generation_ids, std::vector<int32_t>{1});  // llama2.c stops at BOS
  EXPECT_EQ(from_gguf.token_types[1], int32_t(TokenType::Control));
  EXPECT_EQ(from_gguf.token_types[13], int32_t(TokenType::Byte));  // <0x0A>
  EXPECT_EQ(from_gguf.token_types[300], int32_t(TokenType::Normal));

  // Both tokenizers give llama2.c's ids (tests/data/tokenizer/tok512_vectors.json) and the same text back.
  const Tokenizer gguf_tok(from_gguf), loader_tok(loaded);
  std::ifstream in(source_dir() / "tests/data/tokenizer/tok512_vectors.json");
  const nlohmann::json vectors = nlohmann::json::parse(in);
  ASSERT_GE(vectors["cases"].size(), 10u);
  for (const auto& c : vectors["cases"]) {
    const std::string text = c["text"];
    const std::vector<int32_t> ids = gguf_tok.encode(text, true, false);
    EXPECT_EQ(ids, c["ids_with_bos"].get<std::vector<int32_t>>()) << text;
    EXPECT_EQ(ids, loader_tok.encode(text, true, false)) << text;
    EXPECT_EQ(gguf_tok.decode(ids), loader_tok.decode(ids)) << text;
  }
  EXPECT_EQ(gguf_tok.decode(kGreedyIds), kGreedyText);
  EXPECT_TRUE(gguf_tok.is_end_of_generation(1));
  EXPECT_TRUE(gguf_tok.is_end_of_generation(2));
  EXPECT_FALSE(gguf_tok.is_end_of_generation(403));
}

TEST_F(Stories260kConvert, F16WeightsKeepNormsInF32) {
  const fs::path out = dir_ / "s16.gguf";
  Llama2cConvertOptions options;
  options.weight_type = GgmlType::F16;
  options.name = "tiny";
  convert_llama2c(data("stories260K.bin"), data("tok512.bin"), out, options);
  const GgufFile f = GgufFile::open(out);
  EXPECT_EQ(f.get_string("general.name"), "tiny");
  EXPECT_EQ(f.get_u32("general.file_type"), 1u);
  EXPECT_EQ(f.find_tensor("blk.0.attn_norm.weight")->type, GgmlType::F32);
  EXPECT_EQ(f.find_tensor("output_norm.weight")->type, GgmlType::F32);
  const GgufTensorInfo* down = f.find_tensor("blk.3.ffn_down.weight");
  ASSERT_EQ(down->type, GgmlType::F16);
  const std::vector<float> want = read_floats(data("stories260K.bin"), 599580 + 3 * 64 * 172 * 4, 64 * 172);
  const auto got = f.tensor_data(*down);
  ASSERT_EQ(got.size(), want.size() * 2);
  for (size_t i = 0; i < want.size(); ++i) {
    uint16_t h;
    std::memcpy(&h, got.data() + 2 * i, 2);
    ASSERT_EQ(h, float_to_half(want[i])) << i;
  }
}

TEST_F(Stories260kConvert, BadInputIsOneClearError) {
  const fs::path out = dir_ / "out.gguf";
  const auto expect_error = [&](const fs::path& checkpoint, const fs::path& tokenizer, const fs::path& to,
                                const std::string& needle) {
    const std::string err = conversion_error(checkpoint, tokenizer, to);
    EXPECT_NE(err.find(needle), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  };
  const fs::path truncated = dir_ / "truncated.bin";
  write_prefix(data("stories260K.bin"), truncated, 100000);
  expect_error(truncated, data("tok512.bin"), out, truncated.string() + ": truncated llama2.c checkpoint");
  expect_error(truncated, data("tok512.bin"), out, "implies 1056540 bytes, the file has 100000");

  const fs::path oversized = dir_ / "oversized.bin";
  write_prefix(data("stories260K.bin"), oversized, 2000000, "junk");
  expect_error(oversized, data("tok512.bin"), out, "oversized llama2.c checkpoint");

  const fs::path header_only = dir_ / "header.bin";
  write_prefix(data("stories260K.bin"), header_only, 20);
  expect_error(header_only, data("tok512.bin"), out, "the header alone needs 28");

  const fs::path not_a_model = dir_ / "zeros.bin";
  std::ofstream(not_a_model, std::ios::binary) << std::string(64, '\0');
  expect_error(not_a_model, data("tok512.bin"), out, "header field dim is 0");

  expect_error(dir_ / "missing.bin", data("tok512.bin"), out, "missing.bin: cannot open llama2.c checkpoint");
  expect_error(data("stories260K.bin"), dir_ / "missing_tok.bin", out, "missing_tok.bin: cannot open");
  const fs::path short_tok = dir_ / "short_tok.bin";
  write_prefix(data("tok512.bin"), short_tok, 3000);
  expect_error(data("stories260K.bin"), short_tok, out, "short_tok.bin: truncated");
  expect_error(data("stories260K.bin"), data("tok512.bin"), dir_ / "no_dir" / "out.gguf",
               "no_dir/out.gguf: cannot write");
  EXPECT_FALSE(fs::exists(out));

  // A tokenizer of another size than the model's vocabulary.
  const Llama2cCheckpoint ck = Llama2cCheckpoint::read(data("stories260K.bin"));
  TokenizerData tok = load_llama2c_tokenizer(data("tok512.bin"), 512);
  tok.tokens.pop_back();
  EXPECT_THROW(llama2c_to_gguf(ck, tok, {}), std::invalid_argument);
  Llama2cConvertOptions q8;
  q8.weight_type = GgmlType::Q8_0;
  EXPECT_THROW(llama2c_to_gguf(ck, load_llama2c_tokenizer(data("tok512.bin"), 512), q8), std::invalid_argument);
}

TEST_F(Stories260kConvert, CliConvertsAndRejectsATruncatedCheckpoint) {
  const fs::path out = dir_ / "cli.gguf";
  CliResult r = run_ckv({"convert-llama2c", "--checkpoint", data("stories260K.bin").string(), "--tokenizer",
                         data("tok512.bin").string(), "-o", out.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_NE(r.out.find("wrote " + out.string()), std::string::npos) << r.out;
  EXPECT_EQ(GgufFile::open(out).get_string("general.architecture"), "llama");

  const fs::path truncated = dir_ / "truncated.bin";
  write_prefix(data("stories260K.bin"), truncated, 500000);
  const fs::path bad_out = dir_ / "bad.gguf";
  r = run_ckv({"convert-llama2c", "--checkpoint", truncated.string(), "--tokenizer", data("tok512.bin").string(),
               "-o", bad_out.string()});
  EXPECT_NE(r.exit_code, 0);
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_EQ(r.err_lines()[0].rfind("ckv: error: " + truncated.string() + ": truncated llama2.c checkpoint", 0), 0u)
      << r.err;
  EXPECT_FALSE(fs::exists(bad_out));

  r = run_ckv({"convert-llama2c", "--checkpoint", data("stories260K.bin").string(), "--tokenizer",
               data("tok512.bin").string(), "-o", bad_out.string(), "--type", "q4_0"});
  EXPECT_NE(r.exit_code, 0);
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("--type must be f32 or f16"), std::string::npos) << r.err;
}

// The model on the GPU through the public API, converted once for the suite.
class Stories260k : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fresh_temp_dir("stories260k"));
    const fs::path model = *dir_ / "stories260K.gguf";
    convert_llama2c(data("stories260K.bin"), data("tok512.bin"), model);
    model_ = compresskv::Model::load(model.string(), {"", /*validation=*/true}).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
    fs::remove_all(*dir_);
    delete dir_;
  }
  void TearDown() override {
    const auto messages = model_->take_validation_messages();
    EXPECT_TRUE(messages.empty()) << messages.size() << " validation messages, first: " << messages.front();
  }

  struct Run {
    std::vector<int32_t> tokens;
    std::vector<float> logits;
    compresskv::Stats stats;
  };
  static Run run(const std::vector<int32_t>& prompt, const compresskv::KvOptions& kv, int max_tokens, int ubatch = 256) {
    Run r;
    compresskv::GenerateOptions gen;
    gen.max_tokens = max_tokens;
    gen.chat = false;
    gen.ubatch = ubatch;
    r.stats = model_->generate_tokens(
        prompt, kv, gen,
        [&](int32_t id) {
          r.tokens.push_back(id);
          return true;
        },
        &r.logits);
    return r;
  }
  // BOS and the first n greedy tokens.
  static std::vector<int32_t> greedy_prompt(size_t n) {
    std::vector<int32_t> p = {1};
    p.insert(p.end(), kGreedyIds.begin(), kGreedyIds.begin() + long(n));
    return p;
  }

  static fs::path* dir_;
  static compresskv::Model* model_;
};

fs::path* Stories260k::dir_ = nullptr;
compresskv::Model* Stories260k::model_ = nullptr;

TEST_F(Stories260k, GreedyFromBosMatchesLlama2c) {
  const Run r = run({1}, {}, 200);
  EXPECT_EQ(r.tokens, kGreedyIds);
  EXPECT_EQ(model_->detokenize(r.tokens), kGreedyText);

  // First-step logits of run.c (float32 CPU), given to 4 decimals. The engine's KV cache is F16, so the one value
  // row attention returns at position 0 carries a relative rounding error of up to 2^-11 into the rest of the
  // forward pass; 2e-3 covers that with room (measured differences are listed in the report of this test).
  ASSERT_EQ(r.logits.size(), 512u);
  const double tolerance = 2e-3;
  EXPECT_NEAR(r.logits[403], 17.0235, tolerance);
  EXPECT_NEAR(r.logits[0], -6.2229, tolerance);
  EXPECT_NEAR(r.logits[1], 8.4043, tolerance);
  EXPECT_EQ(std::max_element(r.logits.begin(), r.logits.end()) - r.logits.begin(), 403);
}

TEST_F(Stories260k, StreamedTextFromAnEmptyPromptIsLlama2cStdout) {
  std::string text;
  compresskv::GenerateOptions gen;
  gen.max_tokens = 40;
  gen.chat = false;
  EXPECT_EQ(model_->tokenize("", false), std::vector<int32_t>{1});
  model_->generate("", {}, gen, [&](std::string_view piece) {
    text += piece;
    return true;
  });
  EXPECT_EQ(text, model_->detokenize(std::vector<int32_t>(kGreedyIds.begin(), kGreedyIds.begin() + 40)));
  EXPECT_EQ(kGreedyText.rfind(text, 0), 0u) << text;
}

// A 100-token prompt run by the prefill path (tiled matrix products over k = 172, chunked prefill attention)
// continues exactly as the token-by-token decode path did.
TEST_F(Stories260k, PrefilledPromptContinuesTheGreedyStory) {
  const std::vector<int32_t> prompt = greedy_prompt(99);
  const std::vector<int32_t> want(kGreedyIds.begin() + 99, kGreedyIds.begin() + 115);
  for (int ubatch : {256, 40}) {
    const Run r = run(prompt, {}, 16, ubatch);
    EXPECT_EQ(r.tokens, want) << "ubatch " << ubatch;
    EXPECT_EQ(r.stats.prompt_tokens, 100);
    EXPECT_EQ(r.stats.kv_bytes_kept, r.stats.kv_bytes_full);
  }
}

TEST_F(Stories260k, CompressionPoliciesRunOnTheTinyModel) {
  const std::vector<int32_t> prompt = greedy_prompt(99);
  const Run full = run(prompt, {}, 12);
  // A budget as large as the prompt compresses nothing: the tokens equal FullKV's exactly.
  compresskv::KvOptions loose;
  loose.policy = "snapkv";
  loose.budget = 512;
  EXPECT_EQ(run(prompt, loose, 12).tokens, full.tokens);

  for (const char* policy : {"snapkv", "pyramidkv", "streaming"}) {
    compresskv::KvOptions kv;
    kv.policy = policy;
    kv.budget = 32;
    const Run r = run(prompt, kv, 12);
    ASSERT_EQ(r.stats.layer_lengths.size(), 5u) << policy;
    // Each layer holds min(budget, prompt) plus the generated tokens (the last one sampled is not stored).
    for (int l = 0; l < 5; ++l)
      EXPECT_EQ(r.stats.layer_lengths[l],
                std::min(r.stats.layer_budgets[l], r.stats.prompt_tokens) + r.stats.generated_tokens - 1)
          << policy << " layer " << l;
    EXPECT_LT(r.stats.kv_bytes_kept, r.stats.kv_bytes_full) << policy;
    ASSERT_EQ(r.tokens.size(), 12u) << policy;
    for (int32_t id : r.tokens) EXPECT_TRUE(id > 2 && id < 512) << policy << " token " << id;
  }
}

}  // namespace
}  // namespace ckv::test
