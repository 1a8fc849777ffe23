// Finding the CompressKV profile (retrieval heads + layer weights) of a model. Each profile's profile.json says
// which models it fits ("match": GGUF metadata values that must all be equal) and lists the files it was measured
// on by their cheap fingerprint. Shipped profiles (profiles/<folder>) are compiled into the engine
// (embedded_profiles.hpp), so no file has to be found at run time; a profile folder on disk can also be named.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ckv {

class GgufFile;

// What identifies a model file for profile matching.
struct ModelIdentity {
  std::map<std::string, std::string> values;  // match key → value as text (see kProfileMatchKeys)
  std::string fingerprint;                    // model_fingerprint()
};

// Keys a profile may match on: general.architecture, general.name, block_count, head_count, head_count_kv,
// embedding_length, vocab_size (the last five without the "<arch>." prefix GGUF uses).
extern const char* const kProfileMatchKeys[7];

// "fnv1a64:<16 hex digits>" over every tensor's name, type and dims and the first 4 KiB of its data: cheap (reads
// a few MiB at most) yet different for files with different weights or quantization.
std::string model_fingerprint(const GgufFile& file);
ModelIdentity model_identity(const GgufFile& file);

struct ModelProfile {
  std::string name;                        // profile.json "name"
  std::string source;                      // where it came from, for messages
  std::map<std::string, std::string> match;
  std::vector<std::string> fingerprints;   // of the files it was measured on
  std::string heads_json, layers_json;     // file texts; layers_json "" when the profile has none
};

// Parses profile.json text (std::runtime_error naming `source` when it is malformed or uses an unknown key).
ModelProfile parse_profile(const std::string& source, const std::string& profile_json, std::string heads_json,
                           std::string layers_json);
// A profile folder on disk: profile.json, heads.json and optionally layers.json.
ModelProfile load_profile_folder(const std::filesystem::path& folder);
// The profiles compiled into this build.
const std::vector<ModelProfile>& shipped_profiles();

// Empty when the profile fits the model; otherwise why not (e.g. "head_count is 32, the profile needs 9").
std::string profile_mismatch(const ModelProfile& profile, const ModelIdentity& model);
bool measured_on(const ModelProfile& profile, const ModelIdentity& model);

// The best fitting profile: one measured on this very file first, then the first fitting one by name.
const ModelProfile* find_profile(const std::vector<ModelProfile>& profiles, const ModelIdentity& model);

}  // namespace ckv
