// CompressKV profiles: semantic-retrieval heads per layer and per-layer importance weights, in the JSON formats
// of the reference implementation.
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace ckv {

// {"0": [ranked query head ids], "1": [...], ...} → one ranked list per layer. Every layer 0..n_layers-1 must be
// present and every id < n_heads; otherwise std::runtime_error naming the file and the problem.
std::vector<std::vector<uint32_t>> load_retrieval_heads(const std::filesystem::path& path, uint32_t n_layers,
                                                        uint32_t n_heads);

// A JSON list of n_layers non-negative numbers, or an object whose values are such lists (one per calibration
// set, as the reference writes them; their mean is used).
std::vector<double> load_layer_weights(const std::filesystem::path& path, uint32_t n_layers);

// The same from JSON text; `source` names it in error messages.
std::vector<std::vector<uint32_t>> parse_retrieval_heads(const std::string& text, const std::string& source,
                                                         uint32_t n_layers, uint32_t n_heads);
std::vector<double> parse_layer_weights(const std::string& text, const std::string& source, uint32_t n_layers);

// Layer weights as load_layer_weights reads them: a JSON list of numbers (17 significant digits, so they read
// back exactly). Throws std::invalid_argument on a negative or non-finite weight.
std::string layer_weights_json(std::span<const double> weights);

}  // namespace ckv
