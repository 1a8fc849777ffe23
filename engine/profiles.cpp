#include "profiles.hpp"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace ckv {

namespace {

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path.string() + ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path.string() + ": not valid JSON (" + e.what() + ")");
  }
}

std::vector<double> number_list(const nlohmann::json& j, const std::filesystem::path& path, uint32_t n_layers) {
  if (!j.is_array() || j.size() != n_layers)
    throw std::runtime_error(path.string() + ": expected a list of " + std::to_string(n_layers) + " layer weights");
  std::vector<double> out;
  for (const auto& v : j) {
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0)
      throw std::runtime_error(path.string() + ": layer weights must be non-negative numbers");
    out.push_back(v.get<double>());
  }
  return out;
}

}  // namespace

std::vector<std::vector<uint32_t>> load_retrieval_heads(const std::filesystem::path& path, uint32_t n_layers,
                                                        uint32_t n_heads) {
  const nlohmann::json j = read_json(path);
  if (!j.is_object()) throw std::runtime_error(path.string() + ": expected {\"<layer>\": [head ids], ...}");
  std::vector<std::vector<uint32_t>> heads(n_layers);
  for (uint32_t l = 0; l < n_layers; ++l) {
    const auto it = j.find(std::to_string(l));
    if (it == j.end() || !it->is_array() || it->empty())
      throw std::runtime_error(path.string() + ": no head list for layer " + std::to_string(l));
    for (const auto& h : *it) {
      if (!h.is_number_integer() || h.get<int64_t>() < 0 || h.get<int64_t>() >= n_heads)
        throw std::runtime_error(path.string() + ": layer " + std::to_string(l) + ": head index " + h.dump() +
                                 " out of range: the model has " + std::to_string(n_heads) + " query heads");
      heads[l].push_back(h.get<uint32_t>());
    }
  }
  return heads;
}

std::vector<double> load_layer_weights(const std::filesystem::path& path, uint32_t n_layers) {
  const nlohmann::json j = read_json(path);
  if (j.is_array()) return number_list(j, path, n_layers);
  if (!j.is_object() || j.empty()) throw std::runtime_error(path.string() + ": expected a list of layer weights");
  std::vector<double> mean(n_layers, 0.0);
  for (const auto& [name, list] : j.items()) {
    const auto w = number_list(list, path, n_layers);
    for (uint32_t l = 0; l < n_layers; ++l) mean[l] += w[l] / double(j.size());
  }
  return mean;
}

}  // namespace ckv
