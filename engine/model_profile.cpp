#include "model_profile.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "engine/embedded_profiles.hpp"
#include "engine/gguf/gguf_file.hpp"
#include "engine/model/llama_config.hpp"

namespace ckv {

const char* const kProfileMatchKeys[7] = {"general.architecture", "general.name", "block_count", "head_count",
                                          "head_count_kv", "embedding_length", "vocab_size"};

namespace {

struct Fnv1a64 {
  uint64_t h = 0xcbf29ce484222325ull;
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  }
  void add_u64(uint64_t v) { add(&v, sizeof v); }
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string model_fingerprint(const GgufFile& file) {
  Fnv1a64 f;
  f.add_u64(file.tensors().size());
  for (const GgufTensorInfo& t : file.tensors()) {
    f.add(t.name.data(), t.name.size());
    f.add_u64(uint64_t(t.type));
    for (uint64_t d : t.dims) f.add_u64(d);
    const auto data = file.tensor_data(t);
    f.add(data.data(), std::min<size_t>(data.size(), 4096));
  }
  char text[32];
  std::snprintf(text, sizeof text, "fnv1a64:%016llx", static_cast<unsigned long long>(f.h));
  return text;
}

ModelIdentity model_identity(const GgufFile& file) {
  // The counts as the engine reads them (LlamaConfig fills defaults, e.g. head_count_kv = head_count).
  const LlamaConfig c = LlamaConfig::from_gguf(file);
  ModelIdentity id;
  id.values["general.architecture"] = c.architecture;
  id.values["general.name"] = file.find_string("general.name").value_or("");
  id.values["block_count"] = std::to_string(c.n_layers);
  id.values["head_count"] = std::to_string(c.n_heads);
  id.values["head_count_kv"] = std::to_string(c.n_kv_heads);
  id.values["embedding_length"] = std::to_string(c.n_embd);
  id.values["vocab_size"] = std::to_string(c.vocab_size);
  id.fingerprint = model_fingerprint(file);
  return id;
}

ModelProfile parse_profile(const std::string& source, const std::string& profile_json, std::string heads_json,
                           std::string layers_json) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(profile_json);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(source + ": profile.json is not valid JSON (" + e.what() + ")");
  }
  ModelProfile p;
  p.source = source;
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string() || !j.contains("match") ||
      !j["match"].is_object() || j["match"].empty())
    throw std::runtime_error(source + ": profile.json needs \"name\" (text) and \"match\" ({key: value, ...})");
  p.name = j["name"].get<std::string>();
  for (const auto& [key, value] : j["match"].items()) {
    if (std::find_if(std::begin(kProfileMatchKeys), std::end(kProfileMatchKeys),
                     [&](const char* k) { return key == k; }) == std::end(kProfileMatchKeys))
      throw std::runtime_error(source + ": profile.json: unknown match key \"" + key + "\"");
    if (value.is_string()) p.match[key] = value.get<std::string>();
    else if (value.is_number_unsigned()) p.match[key] = std::to_string(value.get<uint64_t>());
    else throw std::runtime_error(source + ": profile.json: match value of \"" + key + "\" must be text or a count");
  }
  if (j.contains("files")) {
    for (const auto& f : j["files"])
      if (f.is_object() && f.contains("fingerprint") && f["fingerprint"].is_string())
        p.fingerprints.push_back(f["fingerprint"].get<std::string>());
  }
  if (heads_json.empty()) throw std::runtime_error(source + ": the profile has no heads.json");
  p.heads_json = std::move(heads_json);
  p.layers_json = std::move(layers_json);
  return p;
}

ModelProfile load_profile_folder(const std::filesystem::path& folder) {
  if (!std::filesystem::is_regular_file(folder / "profile.json"))
    throw std::runtime_error(folder.string() + ": not a profile folder (no profile.json)");
  const auto layers = folder / "layers.json";
  return parse_profile(folder.string(), read_file(folder / "profile.json"), read_file(folder / "heads.json"),
                       std::filesystem::exists(layers) ? read_file(layers) : std::string());
}

const std::vector<ModelProfile>& shipped_profiles() {
  static const std::vector<ModelProfile> list = [] {
    std::vector<ModelProfile> out;
    for (const EmbeddedProfile& e : embedded_profiles())
      out.push_back(parse_profile(std::string("shipped profile profiles/") + e.folder, e.profile, e.heads, e.layers));
    return out;
  }();
  return list;
}

std::string profile_mismatch(const ModelProfile& profile, const ModelIdentity& model) {
  for (const auto& [key, want] : profile.match) {
    const auto it = model.values.find(key);
    const std::string have = it == model.values.end() ? "" : it->second;
    if (have != want)
      return key + " is \"" + have + "\", profile " + profile.name + " needs \"" + want + "\"";
  }
  return {};
}

bool measured_on(const ModelProfile& profile, const ModelIdentity& model) {
  return std::find(profile.fingerprints.begin(), profile.fingerprints.end(), model.fingerprint) !=
         profile.fingerprints.end();
}

const ModelProfile* find_profile(const std::vector<ModelProfile>& profiles, const ModelIdentity& model) {
  const ModelProfile* best = nullptr;
  for (const ModelProfile& p : profiles) {
    if (!profile_mismatch(p, model).empty()) continue;
    if (measured_on(p, model)) return &p;
    if (!best || p.name < best->name) best = &p;
  }
  return best;
}

}  // namespace ckv
