#include "retrieval_heads.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <stdexcept>
#include <string>

namespace ckv {

RetrievalHeadScores::RetrievalHeadScores(uint32_t n_layers, uint32_t n_heads)
    : n_layers_(n_layers), n_heads_(n_heads), total_(size_t(n_layers) * n_heads), prompt_(total_.size()) {
  if (n_layers == 0 || n_heads == 0) throw std::invalid_argument("retrieval head scores need layers and heads");
}

void RetrievalHeadScores::begin_prompt() {
  std::fill(prompt_.begin(), prompt_.end(), 0.0);
  in_prompt_ = true;
}

bool RetrievalHeadScores::add_step(int32_t generated, std::span<const int32_t> needle_tokens,
                                   const DecodeAttentionCapture& attention, uint32_t needle_begin,
                                   uint32_t needle_end) {
  if (!in_prompt_) throw std::logic_error("add_step outside begin_prompt/end_prompt");
  if (attention.n_layers != n_layers_ || attention.n_heads != n_heads_)
    throw std::invalid_argument("attention capture has " + std::to_string(attention.n_layers) + " layers x " +
                                std::to_string(attention.n_heads) + " heads, the scores " +
                                std::to_string(n_layers_) + " x " + std::to_string(n_heads_));
  if (std::find(needle_tokens.begin(), needle_tokens.end(), generated) == needle_tokens.end()) return false;
  for (uint32_t l = 0; l < n_layers_; ++l) {
    const uint32_t end = std::min(needle_end, attention.keys[l]);
    for (uint32_t h = 0; h < n_heads_; ++h) {
      const auto row = attention.head_probs(l, h);
      double mass = 0;
      for (uint32_t k = needle_begin; k < end; ++k) mass += row[k];
      prompt_[size_t(l) * n_heads_ + h] += mass;
    }
  }
  return true;
}

void RetrievalHeadScores::end_prompt(bool recalled) {
  if (!in_prompt_) throw std::logic_error("end_prompt without begin_prompt");
  in_prompt_ = false;
  if (!recalled) return;
  for (size_t i = 0; i < total_.size(); ++i) total_[i] += prompt_[i];
  ++counted_;
}

double RetrievalHeadScores::score(uint32_t layer, uint32_t head) const {
  if (layer >= n_layers_ || head >= n_heads_) throw std::out_of_range("retrieval head score index out of range");
  return counted_ ? total_[size_t(layer) * n_heads_ + head] / counted_ : 0.0;
}

std::vector<std::vector<uint32_t>> RetrievalHeadScores::ranked() const {
  std::vector<std::vector<uint32_t>> out(n_layers_);
  for (uint32_t l = 0; l < n_layers_; ++l) {
    out[l].resize(n_heads_);
    std::iota(out[l].begin(), out[l].end(), 0u);
    std::stable_sort(out[l].begin(), out[l].end(),
                     [&](uint32_t a, uint32_t b) { return score(l, a) > score(l, b); });
  }
  return out;
}

void write_retrieval_heads(const std::filesystem::path& path, const std::vector<std::vector<uint32_t>>& ranked) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (size_t l = 0; l < ranked.size(); ++l) j[std::to_string(l)] = ranked[l];
  std::ofstream out(path);
  if (!out) throw std::runtime_error(path.string() + ": cannot write");
  out << j.dump() << "\n";
  if (!out) throw std::runtime_error(path.string() + ": write failed");
}

}  // namespace ckv
