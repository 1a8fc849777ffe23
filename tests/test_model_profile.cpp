// Profile matching (engine/model_profile.hpp) on synthetic profiles: a profile fits when every "match" value equals
// the model's, one measured on the very file wins, and malformed profiles fail with the file named.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli_runner.hpp"
#include "engine/model_profile.hpp"

namespace ckv::test {
namespace {

ModelIdentity smol() {
  ModelIdentity id;
  id.values = {{"general.architecture", "llama"}, {"general.name", "SmolLM2 135M Instruct"},
               {"block_count", "30"},             {"head_count", "9"},
               {"head_count_kv", "3"},            {"embedding_length", "576"},
               {"vocab_size", "49152"}};
  id.fingerprint = "fnv1a64:0000000000000001";
  return id;
}

const char* kHeads = R"({"0": [1, 2]})";

ModelProfile profile(const std::string& name, const std::string& match, const std::string& files = "[]") {
  return parse_profile("test " + name, R"({"name": ")" + name + R"(", "match": )" + match + R"(, "files": )" + files + "}",
                       kHeads, "");
}

TEST(ModelProfile, MatchesOnEveryListedValue) {
  const ModelProfile p = profile("smol", R"({"general.architecture": "llama", "block_count": 30, "head_count": 9})");
  EXPECT_EQ(profile_mismatch(p, smol()), "");
  ModelIdentity other = smol();
  other.values["head_count"] = "32";
  EXPECT_EQ(profile_mismatch(p, other), "head_count is \"32\", profile smol needs \"9\"");
  EXPECT_EQ(find_profile({p}, other), nullptr);
  EXPECT_EQ(find_profile({}, smol()), nullptr);
}

TEST(ModelProfile, PrefersTheProfileMeasuredOnThisFile) {
  const std::vector<ModelProfile> profiles = {
      profile("a-by-name", R"({"general.name": "SmolLM2 135M Instruct"})"),
      profile("b-this-file", R"({"general.name": "SmolLM2 135M Instruct"})",
              R"([{"file": "x.gguf", "fingerprint": "fnv1a64:0000000000000001"}])"),
      profile("c-other-model", R"({"general.name": "Llama 3"})",
              R"([{"file": "y.gguf", "fingerprint": "fnv1a64:0000000000000001"}])")};
  const ModelProfile* found = find_profile(profiles, smol());
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->name, "b-this-file");
  EXPECT_TRUE(measured_on(*found, smol()));
  ModelIdentity copy = smol();
  copy.fingerprint = "fnv1a64:0000000000000002";  // another quantization of the same model
  found = find_profile(profiles, copy);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->name, "a-by-name");
  EXPECT_FALSE(measured_on(*found, copy));
}

TEST(ModelProfile, MalformedProfilesNameTheirSource) {
  const auto fails_with = [](const std::string& json, const std::string& heads, const std::string& part) {
    try {
      parse_profile("profiles/x", json, heads, "");
      ADD_FAILURE() << "accepted " << json;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("profiles/x"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  fails_with("{", kHeads, "not valid JSON");
  fails_with(R"({"name": "x"})", kHeads, "\"match\"");
  fails_with(R"({"name": "x", "match": {"head_cnt": 9}})", kHeads, "unknown match key \"head_cnt\"");
  fails_with(R"({"name": "x", "match": {"head_count": -9}})", kHeads, "text or a count");
  fails_with(R"({"name": "x", "match": {"head_count": 9}})", "", "no heads.json");
}

TEST(ModelProfile, LoadsAFolder) {
  const auto dir = fresh_temp_dir("profile_folder");
  std::ofstream(dir / "profile.json") << R"({"name": "folder", "match": {"block_count": 30}})";
  std::ofstream(dir / "heads.json") << kHeads;
  const ModelProfile p = load_profile_folder(dir);
  EXPECT_EQ(p.name, "folder");
  EXPECT_EQ(p.heads_json, kHeads);
  EXPECT_EQ(p.layers_json, "");
  std::ofstream(dir / "layers.json") << "[1]";
  EXPECT_EQ(load_profile_folder(dir).layers_json, "[1]");
  EXPECT_THROW(load_profile_folder(dir / "missing"), std::runtime_error);
  std::filesystem::remove_all(dir);
}

TEST(ModelProfile, ShippedProfilesParse) {
  // Every folder in profiles/ is compiled in; parsing them all must succeed and names must be unique.
  const auto& shipped = shipped_profiles();
  for (size_t i = 0; i < shipped.size(); ++i)
    for (size_t j = i + 1; j < shipped.size(); ++j) EXPECT_NE(shipped[i].name, shipped[j].name);
}

}  // namespace
}  // namespace ckv::test
