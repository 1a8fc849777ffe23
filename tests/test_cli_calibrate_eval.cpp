// ckv calibrate / ckv eval and the automatic CompressKV profile choice on the default model: bad input ends in one
// clear error line before any long run, small real runs write well-formed outputs, teacher forcing agrees with
// FullKV where nothing is compressed, and an explicit profile folder or heads file overrides the automatic choice.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_runner.hpp"
#include "compresskv/compresskv.hpp"
#include "engine/profiles.hpp"

namespace ckv::test {
namespace {

namespace fs = std::filesystem;

std::string model_path() { return (source_dir() / "models/SmolLM2-135M-Instruct.Q4_1.gguf").string(); }
std::string data(const std::string& name) { return (source_dir() / "data" / name).string(); }

// Synthetic heads for tests only (not a measured profile): heads 0, 4, 8, 1 in every layer.
std::string write_heads(const fs::path& dir) {
  nlohmann::json j;
  for (int l = 0; l < 30; ++l) j[std::to_string(l)] = {0, 4, 8, 1};
  const auto path = dir / "heads.json";
  std::ofstream(path) << j.dump();
  return path.string();
}

void expect_one_error(const CliResult& r, const std::string& part) {
  EXPECT_NE(r.exit_code, 0);
  const auto lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0].rfind("ckv: error: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(part), std::string::npos) << lines[0];
}

TEST(CliCalibrateEval, BadInputIsOneClearError) {
  const auto dir = fresh_temp_dir("calib_bad");
  const std::string heads = write_heads(dir), out = (dir / "out.json").string();
  expect_one_error(run_ckv({"calibrate", "-m", model_path(), "--heads", heads, "--budget", "4", "--prompts",
                            data("calibration/bread.txt"), "-o", out}),
                   "smaller than the window");
  expect_one_error(run_ckv({"calibrate", "-m", model_path(), "--heads", heads, "--budget", "32", "--prompts",
                            (dir / "missing.txt").string(), "-o", out}),
                   "cannot read calibration text");
  expect_one_error(run_ckv({"eval", "-m", model_path(), "--texts", data("eval/ferry.txt"), "--policies",
                            "fullkv,h2o"}),
                   "unknown policy \"h2o\"");
  expect_one_error(run_ckv({"eval", "-m", model_path(), "--texts", (dir / "missing.txt").string()}),
                   "cannot read evaluation text");
  expect_one_error(run_ckv({"eval", "-m", model_path(), "--texts", data("eval/ferry.txt"), "--budgets", "64,4"}),
                   "budget 4 is smaller than the observation window");
  expect_one_error(run_ckv({"eval", "-m", model_path(), "--texts", data("eval/ferry.txt"), "--budgets", "6x"}),
                   "not a positive token count");
  EXPECT_FALSE(fs::exists(out));
  fs::remove_all(dir);
}

class ProfilesAndTeacherForcing : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(fs::exists(model_path())) << model_path() << " is missing: run tools/fetch-model.sh";
    model_ = compresskv::Model::load(model_path(), {"", /*validation=*/true}).release();
    dir_ = new fs::path(fresh_temp_dir("profiles_api"));
    heads_ = new std::string(write_heads(*dir_));
  }
  static void TearDownTestSuite() {
    delete model_;
    fs::remove_all(*dir_);
    delete dir_;
    delete heads_;
  }
  void TearDown() override {
    const auto messages = model_->take_validation_messages();
    EXPECT_TRUE(messages.empty()) << messages.front();
  }
  // A profile folder for the default model, with synthetic heads and layer weights.
  static std::string profile_folder(const std::string& name, const std::string& general_name, bool layers) {
    const fs::path folder = *dir_ / name;
    fs::create_directories(folder);
    std::ofstream(folder / "profile.json")
        << nlohmann::json{{"name", name}, {"match", {{"general.name", general_name}, {"block_count", 30}}}}.dump();
    fs::copy_file(*heads_, folder / "heads.json", fs::copy_options::overwrite_existing);
    if (layers) std::ofstream(folder / "layers.json") << layer_weights_json(std::vector<double>(30, 1.0 / 30));
    return folder.string();
  }
  static std::string general_name() {
    // The model's general.name, read back from the mismatch message of a profile that cannot fit.
    compresskv::KvOptions kv;
    kv.policy = "compresskv";
    kv.budget = 32;
    kv.profile = profile_folder("never", "no such model", false);
    try {
      model_->check_kv_options(kv);
    } catch (const std::exception& e) {
      const std::string m = e.what();
      const size_t a = m.find("general.name is \"") + 17;
      return m.substr(a, m.find('"', a) - a);
    }
    return "";
  }
  static compresskv::Model* model_;
  static fs::path* dir_;
  static std::string* heads_;
};

compresskv::Model* ProfilesAndTeacherForcing::model_ = nullptr;
fs::path* ProfilesAndTeacherForcing::dir_ = nullptr;
std::string* ProfilesAndTeacherForcing::heads_ = nullptr;

TEST_F(ProfilesAndTeacherForcing, ExplicitChoicesOverrideTheAutomaticProfile) {
  compresskv::KvOptions kv;
  kv.policy = "compresskv";
  kv.budget = 32;
  const std::string name = general_name();
  ASSERT_FALSE(name.empty());
  const std::string folder = profile_folder("synthetic", name, true);

  kv.profile = folder;
  EXPECT_EQ(model_->check_kv_options(kv),
            "profile synthetic (heads; fits the model's metadata, measured on another file), uniform budgets");
  kv.error_aware = true;
  EXPECT_EQ(model_->check_kv_options(kv), "profile synthetic (heads and layer weights; fits the model's metadata, "
                                          "measured on another file), error-aware budgets");
  kv.heads_file = *heads_;  // an explicit heads file wins; the profile still gives the layer weights
  EXPECT_EQ(model_->check_kv_options(kv),
            "profile synthetic (layer weights; fits the model's metadata, measured on another file), heads " + *heads_ +
                ", error-aware budgets");
  kv.layers_file = (fs::path(folder) / "layers.json").string();  // both files: no profile at all
  EXPECT_EQ(model_->check_kv_options(kv), "heads " + *heads_ + ", layer weights " + kv.layers_file +
                                              ", error-aware budgets");

  compresskv::KvOptions off;
  off.policy = "compresskv";
  off.budget = 32;
  off.profile = "none";
  EXPECT_THROW(model_->check_kv_options(off), std::invalid_argument);
  off.profile = profile_folder("nolayers", name, false);
  off.error_aware = true;
  try {
    model_->check_kv_options(off);
    ADD_FAILURE() << "error-aware budgets without layer weights were accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("has no layer weights"), std::string::npos) << e.what();
  }
  off.profile = (*dir_ / "never").string();  // exists, but for another model
  off.error_aware = false;
  EXPECT_THROW(model_->check_kv_options(off), std::invalid_argument);
  compresskv::KvOptions snap;
  snap.policy = "snapkv";
  snap.budget = 32;
  snap.error_aware = true;
  EXPECT_THROW(model_->check_kv_options(snap), std::invalid_argument);
}

TEST_F(ProfilesAndTeacherForcing, TeacherForcingMatchesFullKvWhereNothingIsCompressed) {
  const std::vector<int32_t> tokens = model_->tokenize("The ferry left the harbour at four and the sea was calm.", false);
  ASSERT_GT(tokens.size(), 8u);
  const std::vector<int32_t> prompt(tokens.begin(), tokens.end() - 2), next(tokens.end() - 2, tokens.end());
  compresskv::KvOptions full, loose;
  loose.policy = "snapkv";
  loose.budget = 256;  // above the prompt: no layer is compressed
  std::vector<std::vector<float>> a, b;
  model_->teacher_force(prompt, next, full, {}, [&](int, const std::vector<float>& l) { a.push_back(l); });
  model_->teacher_force(prompt, next, loose, {}, [&](int, const std::vector<float>& l) { b.push_back(l); });
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a, b);
  std::vector<float> last_prompt_logits;
  compresskv::GenerateOptions one;
  one.max_tokens = 1;
  model_->generate_tokens(prompt, full, one, [](int32_t) { return true; }, &last_prompt_logits);
  EXPECT_EQ(last_prompt_logits, a[0]);
}

TEST(CliCalibrateEval, SmallRunsWriteTheirOutputs) {
  const auto dir = fresh_temp_dir("calib_run");
  const std::string heads = write_heads(dir), layers = (dir / "layers.json").string();
  const CliResult c = run_ckv({"calibrate", "-m", model_path(), "--heads", heads, "--budget", "16", "--prompts",
                               data("calibration/bread.txt"), "--max-prompt-tokens", "20", "--steps", "1", "-o", layers});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  const std::vector<double> w = load_layer_weights(layers, 30);
  double sum = 0;
  for (double x : w) sum += x;
  EXPECT_NEAR(sum, 1.0, 1e-12);

  const std::string csv = (dir / "out.csv").string();
  const CliResult e = run_ckv({"eval", "-m", model_path(), "--texts", data("eval/ferry.txt"), "--policies",
                               "fullkv,compresskv-ea", "--budgets", "16", "--heads", heads, "--layers", layers,
                               "--prefix-tokens", "20", "--continue-tokens", "2", "-o", csv});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  std::istringstream rows(read_text(csv));
  std::string header, full_row, ea_row, extra;
  std::getline(rows, header);
  std::getline(rows, full_row);
  std::getline(rows, ea_row);
  EXPECT_EQ(header, "policy,budget,texts,steps,top1_agreement,mean_kl,nll_fullkv,nll_policy,seconds");
  EXPECT_EQ(full_row.rfind("fullkv,16,1,2,1.000000,0.00000000,", 0), 0u) << full_row;
  EXPECT_EQ(ea_row.rfind("compresskv-ea,16,1,2,", 0), 0u) << ea_row;
  EXPECT_FALSE(std::getline(rows, extra));
  EXPECT_NE(e.out.find("compresskv-ea"), std::string::npos) << e.out;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ckv::test
