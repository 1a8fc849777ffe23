// Semantic retrieval heads (CompressKV): while a model copies a needle into its answer, the query heads that put
// the most attention on the whole needle span. Scores accumulate per prompt and count only for prompts whose
// answer recalled the needle.
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "engine/model/llama_session.hpp"

namespace ckv {

class RetrievalHeadScores {
 public:
  RetrievalHeadScores(uint32_t n_layers, uint32_t n_heads);

  void begin_prompt();
  // One decode step: when `generated` is one of `needle_tokens`, every head's softmax mass on the needle's key
  // positions [needle_begin, needle_end) (clamped to the keys the layer has) is added to this prompt's scores.
  // Returns whether the step counted.
  bool add_step(int32_t generated, std::span<const int32_t> needle_tokens, const DecodeAttentionCapture& attention,
                uint32_t needle_begin, uint32_t needle_end);
  // Adds the prompt's scores to the totals when `recalled`; otherwise they are dropped.
  void end_prompt(bool recalled);

  uint32_t prompts_counted() const { return counted_; }
  // Mean over counted prompts (0 when none counted).
  double score(uint32_t layer, uint32_t head) const;
  // Per layer, head ids by score, best first (ties: lower id first).
  std::vector<std::vector<uint32_t>> ranked() const;

 private:
  uint32_t n_layers_, n_heads_;
  std::vector<double> total_, prompt_;
  uint32_t counted_ = 0;
  bool in_prompt_ = false;
};

// Writes {"0": [heads...], "1": [...], ...} (the reference implementation's format, read by load_retrieval_heads).
void write_retrieval_heads(const std::filesystem::path& path, const std::vector<std::vector<uint32_t>>& ranked);

}  // namespace ckv
