// The plain data a Tokenizer is built from: the tokenizer.ggml.* / tokenizer.chat_template values of a GGUF file
// (filled by the model loader), or a llama2.c tokenizer.bin read by load_llama2c_tokenizer.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ckv {

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,      // e.g. <|im_start|>, <s>: matched in text only when encode() parses special tokens
  UserDefined = 4,  // always matched as a whole string, rendered as its raw text
  Unused = 5,
  Byte = 6,         // SentencePiece byte fallback <0xAB>
};

struct TokenizerData {
  std::string model;  // "gpt2" (byte-level BPE) or "llama" (SentencePiece-style, score-based merges)
  std::string pre;    // gpt2 pre-tokenizer: "smollm", "llama-bpe", "gpt2", "default" (or empty: GPT-2 pattern)
  std::vector<std::string> tokens;
  std::vector<float> scores;          // llama: merge priority per token (higher merges first)
  std::vector<int32_t> token_types;   // TokenType per token; empty means all Normal
  std::vector<std::string> merges;    // gpt2: "left right" in rank order
  int32_t bos = -1, eos = -1, unk = -1, pad = -1;
  bool add_bos = false, add_space_prefix = false;
  std::string chat_template;
  // Ids that end generation besides eos and the usual end-of-turn markers (<|im_end|>, <|endoftext|>, ...).
  std::vector<int32_t> end_of_generation_ids;
};

// Reads a llama2.c tokenizer file (int32 max_token_length, then per token: float32 score, int32 byte length,
// bytes). The file does not store its vocabulary size; it comes from the model header. The result follows llama2.c:
// model "llama", unk 0, bos 1, eos 2, add_bos, add_space_prefix, <0xAB> entries typed Byte, and BOS also ends
// generation (llama2.c stops when the model emits BOS). The BOS/EOS texts "\n<s>\n" and "\n</s>\n" become
// "<s>" and "</s>", as in llama.cpp's llama2.c conversion.
// Throws std::invalid_argument for vocab_size <= 0, std::runtime_error("<path>: <problem>") for a bad file.
TokenizerData load_llama2c_tokenizer(const std::filesystem::path& path, int32_t vocab_size);

}  // namespace ckv
