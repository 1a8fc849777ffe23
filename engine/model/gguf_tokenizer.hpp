// The tokenizer description stored in a GGUF file (tokenizer.ggml.* and tokenizer.chat_template).
#pragma once
#include "engine/tokenizer/tokenizer_data.hpp"

namespace ckv {

class GgufFile;
class GgufWriter;

// Throws GgufError/std::runtime_error naming the missing or inconsistent key.
TokenizerData tokenizer_data_from_gguf(const GgufFile& file);

// The inverse: adds the tokenizer.ggml.* keys (and tokenizer.chat_template when there is one) so that
// tokenizer_data_from_gguf gives `data` back. GGUF has one end-of-turn key, so at most one
// end_of_generation_ids entry can be stored (std::invalid_argument otherwise).
void add_tokenizer_to_gguf(GgufWriter& writer, const TokenizerData& data);

}  // namespace ckv
