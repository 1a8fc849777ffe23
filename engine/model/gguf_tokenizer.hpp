// The tokenizer description stored in a GGUF file (tokenizer.ggml.* and tokenizer.chat_template).
#pragma once
#include "engine/tokenizer/tokenizer_data.hpp"

namespace ckv {

class GgufFile;

// Throws GgufError/std::runtime_error naming the missing or inconsistent key.
TokenizerData tokenizer_data_from_gguf(const GgufFile& file);

}  // namespace ckv
