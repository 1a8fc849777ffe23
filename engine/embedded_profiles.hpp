// Model profiles shipped in profiles/ and compiled into the engine (cmake/EmbedProfiles.cmake): the text of each
// profile's profile.json, heads.json and layers.json (empty when the profile has none).
#pragma once
#include <vector>

namespace ckv {

struct EmbeddedProfile {
  const char* folder;   // profiles/<folder>
  const char* profile;  // profile.json
  const char* heads;    // heads.json
  const char* layers;   // layers.json, "" when absent
};

const std::vector<EmbeddedProfile>& embedded_profiles();

}  // namespace ckv
