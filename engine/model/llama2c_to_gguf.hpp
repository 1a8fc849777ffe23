// Conversion of a llama2.c checkpoint and its tokenizer.bin into a llama-architecture GGUF model that this engine
// (and llama.cpp) loads.
//
// No weight needs reordering: llama2.c stores every matrix as [out][in] rows, which is ggml's [in, out] layout, and
// it rotates adjacent pairs (2i, 2i+1) with base 10000, which is the GGUF llama architecture's normal RoPE mode.
// Without wcls there is no output.weight (the engine then ties the classifier to token_embd.weight). Norm weights
// stay F32; the matrices are F32 or F16. The tokenizer keeps llama2.c's behaviour: BOS 1, EOS 2, unknown 0, byte
// tokens typed Byte, a dummy space prefix, and BOS as the end-of-turn token (llama2.c stops when BOS comes out).
#pragma once
#include <filesystem>
#include <string>

#include "engine/gguf/gguf_types.hpp"
#include "engine/gguf/gguf_writer.hpp"
#include "engine/model/llama2c_checkpoint.hpp"
#include "engine/tokenizer/tokenizer_data.hpp"

namespace ckv {

struct Llama2cConvertOptions {
  GgmlType weight_type = GgmlType::F32;  // of the matrices and the embedding: F32 or F16
  std::string name;                      // general.name; empty: none
};

// Throws std::invalid_argument for an unsupported weight type or a tokenizer whose size differs from the model's.
GgufWriter llama2c_to_gguf(const Llama2cCheckpoint& checkpoint, const TokenizerData& tokenizer,
                           const Llama2cConvertOptions& options);

// Reads both files, converts and writes `output` (under a temporary name, renamed at the end). An empty
// options.name becomes the checkpoint's file stem. Throws std::runtime_error/GgufError with one line naming the
// file and the problem.
void convert_llama2c(const std::filesystem::path& checkpoint, const std::filesystem::path& tokenizer,
                     const std::filesystem::path& output, Llama2cConvertOptions options = {});

}  // namespace ckv
