#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "engine/tokenizer/tokenizer_data.hpp"

namespace ckv {
namespace {

bool is_byte_token(const std::string& t) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); };
  return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && hex(t[3]) && hex(t[4]) && t[5] == '>';
}

}  // namespace

TokenizerData load_llama2c_tokenizer(const std::filesystem::path& path, int32_t vocab_size) {
  if (vocab_size <= 0)
    throw std::invalid_argument("load_llama2c_tokenizer: vocab_size must be positive, got " +
                                std::to_string(vocab_size));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot open");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto fail = [&](const std::string& what) { throw std::runtime_error(path.string() + ": " + what); };

  size_t pos = 0;
  auto read_i32 = [&](const char* what) {
    if (bytes.size() - pos < 4) fail(std::string("truncated at ") + what);
    int32_t v;
    std::memcpy(&v, bytes.data() + pos, 4);
    pos += 4;
    return v;
  };
  const int32_t max_token_length = read_i32("the header");
  if (max_token_length <= 0) fail("max_token_length " + std::to_string(max_token_length) + " is not positive");

  TokenizerData d;
  d.model = "llama";
  d.tokens.reserve(size_t(vocab_size));
  d.scores.reserve(size_t(vocab_size));
  for (int32_t i = 0; i < vocab_size; ++i) {
    const std::string where = "token " + std::to_string(i);
    float score;
    if (bytes.size() - pos < 4) fail("truncated at " + where + " (is vocab_size " + std::to_string(vocab_size) +
                                     " right?)");
    std::memcpy(&score, bytes.data() + pos, 4);
    pos += 4;
    const int32_t len = read_i32(where.c_str());
    if (len < 0 || len > max_token_length)
      fail(where + " has length " + std::to_string(len) + ", outside [0, " + std::to_string(max_token_length) + "]");
    if (bytes.size() - pos < size_t(len)) fail("truncated in the text of " + where);
    d.tokens.emplace_back(bytes.data() + pos, size_t(len));
    d.scores.push_back(score);
    pos += size_t(len);
  }
  if (pos != bytes.size())
    fail(std::to_string(bytes.size() - pos) + " bytes left after " + std::to_string(vocab_size) +
         " tokens (is vocab_size right?)");

  d.token_types.assign(size_t(vocab_size), int32_t(TokenType::Normal));
  for (int32_t i = 0; i < vocab_size; ++i)
    if (is_byte_token(d.tokens[i])) d.token_types[i] = int32_t(TokenType::Byte);
  d.unk = 0;
  d.token_types[0] = int32_t(TokenType::Unknown);
  if (vocab_size > 2) {
    d.bos = 1;
    d.eos = 2;
    d.token_types[1] = d.token_types[2] = int32_t(TokenType::Control);
    if (d.tokens[1] == "\n<s>\n") d.tokens[1] = "<s>";
    if (d.tokens[2] == "\n</s>\n") d.tokens[2] = "</s>";
    d.end_of_generation_ids = {d.bos};
  }
  d.add_bos = true;
  d.add_space_prefix = true;
  return d;
}

}  // namespace ckv
