#include "gguf_tokenizer.hpp"

#include <stdexcept>

#include "engine/gguf/gguf_file.hpp"
#include "engine/gguf/gguf_writer.hpp"

namespace ckv {

TokenizerData tokenizer_data_from_gguf(const GgufFile& file) {
  TokenizerData d;
  d.model = file.get_string("tokenizer.ggml.model");
  d.pre = file.find_string("tokenizer.ggml.pre").value_or("");
  d.tokens = file.get_string_array("tokenizer.ggml.tokens");
  if (file.find("tokenizer.ggml.scores")) d.scores = file.get_f32_array("tokenizer.ggml.scores");
  if (file.find("tokenizer.ggml.token_type")) d.token_types = file.get_i32_array("tokenizer.ggml.token_type");
  if (file.find("tokenizer.ggml.merges")) d.merges = file.get_string_array("tokenizer.ggml.merges");
  const auto id = [&](const char* key) { return file.find_u32(key) ? int32_t(*file.find_u32(key)) : -1; };
  d.bos = id("tokenizer.ggml.bos_token_id");
  d.eos = id("tokenizer.ggml.eos_token_id");
  d.unk = id("tokenizer.ggml.unknown_token_id");
  d.pad = id("tokenizer.ggml.padding_token_id");
  d.add_bos = file.find_bool("tokenizer.ggml.add_bos_token").value_or(d.model == "llama");
  d.add_space_prefix = file.find_bool("tokenizer.ggml.add_space_prefix").value_or(d.model == "llama");
  d.chat_template = file.find_string("tokenizer.chat_template").value_or("");
  if (const auto eot = file.find_u32("tokenizer.ggml.eot_token_id")) d.end_of_generation_ids.push_back(int32_t(*eot));
  const auto n = int32_t(d.tokens.size());
  if (n == 0) throw std::runtime_error(file.name() + ": tokenizer.ggml.tokens is empty");
  if ((!d.scores.empty() && int32_t(d.scores.size()) != n) || (!d.token_types.empty() && int32_t(d.token_types.size()) != n))
    throw std::runtime_error(file.name() + ": tokenizer scores/token types do not match the " + std::to_string(n) + " tokens");
  for (int32_t t : {d.bos, d.eos, d.unk, d.pad})
    if (t >= n) throw std::runtime_error(file.name() + ": special token id " + std::to_string(t) + " out of range");
  return d;
}

void add_tokenizer_to_gguf(GgufWriter& w, const TokenizerData& d) {
  if (d.end_of_generation_ids.size() > 1)
    throw std::invalid_argument("GGUF stores one end-of-turn token, the tokenizer has " +
                                std::to_string(d.end_of_generation_ids.size()));
  w.add_string("tokenizer.ggml.model", d.model);
  if (!d.pre.empty()) w.add_string("tokenizer.ggml.pre", d.pre);
  w.add_string_array("tokenizer.ggml.tokens", d.tokens);
  if (!d.scores.empty()) w.add_f32_array("tokenizer.ggml.scores", d.scores);
  if (!d.token_types.empty()) w.add_i32_array("tokenizer.ggml.token_type", d.token_types);
  if (!d.merges.empty()) w.add_string_array("tokenizer.ggml.merges", d.merges);
  const auto id = [&](const char* key, int32_t value) {
    if (value >= 0) w.add_u32(key, uint32_t(value));
  };
  id("tokenizer.ggml.bos_token_id", d.bos);
  id("tokenizer.ggml.eos_token_id", d.eos);
  id("tokenizer.ggml.unknown_token_id", d.unk);
  id("tokenizer.ggml.padding_token_id", d.pad);
  if (!d.end_of_generation_ids.empty()) id("tokenizer.ggml.eot_token_id", d.end_of_generation_ids.front());
  w.add_bool("tokenizer.ggml.add_bos_token", d.add_bos);
  w.add_bool("tokenizer.ggml.add_space_prefix", d.add_space_prefix);
  if (!d.chat_template.empty()) w.add_string("tokenizer.chat_template", d.chat_template);
}

}  // namespace ckv
