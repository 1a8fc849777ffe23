#include "profiles.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace ckv {

namespace {

nlohmann::json parse_json(const std::string& text, const std::string& source) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(source + ": not valid JSON (" + e.what() + ")");
  }
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<double> number_list(const nlohmann::json& j, const std::string& path, uint32_t n_layers) {
  if (!j.is_array() || j.size() != n_layers)
    throw std::runtime_error(path + ": expected a list of " + std::to_string(n_layers) + " layer weights");
  std::vector<double> out;
  for (const auto& v : j) {
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0)
      throw std::runtime_error(path + ": layer weights must be non-negative numbers");
    out.push_back(v.get<double>());
  }
  return out;
}

}  // namespace

std::vector<std::vector<uint32_t>> load_retrieval_heads(const std::filesystem::path& path, uint32_t n_layers,
                                                        uint32_t n_heads) {
  return parse_retrieval_heads(read_text(path), path.string(), n_layers, n_heads);
}

std::vector<std::vector<uint32_t>> parse_retrieval_heads(const std::string& text, const std::string& path,
                                                         uint32_t n_layers, uint32_t n_heads) {
  const nlohmann::json j = parse_json(text, path);
  if (!j.is_object()) throw std::runtime_error(path + ": expected {\"<layer>\": [head ids], ...}");
  std::vector<std::vector<uint32_t>> heads(n_layers);
  for (uint32_t l = 0; l < n_layers; ++l) {
    const auto it = j.find(std::to_string(l));
    if (it == j.end() || !it->is_array() || it->empty())
      throw std::runtime_error(path + ": no head list for layer " + std::to_string(l));
    for (const auto& h : *it) {
      if (!h.is_number_integer() || h.get<int64_t>() < 0 || h.get<int64_t>() >= n_heads)
        throw std::runtime_error(path + ": layer " + std::to_string(l) + ": head index " + h.dump() +
                                 " out of range: the model has " + std::to_string(n_heads) + " query heads");
      heads[l].push_back(h.get<uint32_t>());
    }
  }
  return heads;
}

std::vector<double> load_layer_weights(const std::filesystem::path& path, uint32_t n_layers) {
  return parse_layer_weights(read_text(path), path.string(), n_layers);
}

std::vector<double> parse_layer_weights(const std::string& text, const std::string& path, uint32_t n_layers) {
  const nlohmann::json j = parse_json(text, path);
  if (j.is_array()) return number_list(j, path, n_layers);
  if (!j.is_object() || j.empty()) throw std::runtime_error(path + ": expected a list of layer weights");
  std::vector<double> mean(n_layers, 0.0);
  for (const auto& [name, list] : j.items()) {
    const auto w = number_list(list, path, n_layers);
    for (uint32_t l = 0; l < n_layers; ++l) mean[l] += w[l] / double(j.size());
  }
  return mean;
}

std::string layer_weights_json(std::span<const double> weights) {
  std::string out = "[";
  for (size_t i = 0; i < weights.size(); ++i) {
    if (!std::isfinite(weights[i]) || weights[i] < 0)
      throw std::invalid_argument("layer weight " + std::to_string(i) + " is negative or not finite");
    char number[40];
    std::snprintf(number, sizeof number, "%.17g", weights[i]);
    out += (i ? ", " : "") + std::string(number);
  }
  return out + "]\n";
}

}  // namespace ckv
