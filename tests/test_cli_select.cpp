// `ckv select` end to end: the GPU selection equals an independent float64 NumPy implementation of the
// method (tests/data/select/make_select_cases.py), and bad input ends in one error line with no output file.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>

#include "cli_runner.hpp"
#include "engine/npy.hpp"

namespace ckv::test {
namespace {

const std::filesystem::path kCases = source_dir() / "tests/data/select";

std::vector<int64_t> read_indices(const std::filesystem::path& path, std::vector<size_t>* shape = nullptr) {
  NpyArray a = read_npy(path);
  if (shape) *shape = a.shape;
  return as_int64(a);
}

TEST(CliSelect, MatchesNumpyReferenceOnEveryCase) {
  const auto cases = nlohmann::json::parse(read_text(kCases / "cases.json"));
  ASSERT_GE(cases.size(), 5u);
  const auto dir = fresh_temp_dir("select");
  for (const auto& c : cases) {
    const std::string name = c["name"];
    std::vector<std::string> args = {"select", "--queries", (kCases / (name + "_q.npy")).string(), "--keys",
                                     (kCases / (name + "_k.npy")).string(), "--out", (dir / (name + ".npy")).string()};
    for (const auto& a : c["args"]) args.push_back(a);
    const CliResult r = run_ckv(args);
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
    std::vector<size_t> got_shape, want_shape;
    const auto got = read_indices(dir / (name + ".npy"), &got_shape);
    const auto want = read_indices(kCases / (name + "_idx.npy"), &want_shape);
    EXPECT_EQ(got_shape, want_shape) << name;
    EXPECT_EQ(got, want) << name;
  }
  std::filesystem::remove_all(dir);
}

TEST(CliSelect, ShortPromptKeepsEverything) {
  const auto dir = fresh_temp_dir("select_short");
  const CliResult r = run_ckv({"select", "--queries", (kCases / "compress_avg_q.npy").string(), "--keys",
                               (kCases / "compress_avg_k.npy").string(), "--budget", "500", "--heads", "1,2",
                               "--out", (dir / "idx.npy").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<size_t> shape;
  const auto idx = read_indices(dir / "idx.npy", &shape);
  ASSERT_EQ(shape, std::vector<size_t>{200});
  for (size_t i = 0; i < idx.size(); ++i) EXPECT_EQ(idx[i], int64_t(i));
  std::filesystem::remove_all(dir);
}

struct BadSelect {
  const char* what;
  std::vector<std::string> extra;  // flag/value pairs replacing the defaults
  const char* queries = "compress_avg_q.npy";
  const char* keys = "compress_avg_k.npy";
  const char* message;             // a piece of the one error line
};

TEST(CliSelect, BadInputIsOneErrorLineAndNoOutput) {
  const auto dir = fresh_temp_dir("select_bad");
  // A float64 file and a rank-2 file, made here so the test needs no more fixtures.
  std::vector<float> flat(16, 0.5f);
  write_npy_float32(dir / "rank2.npy", std::vector<size_t>{4, 4}, flat);
  const std::vector<BadSelect> cases = {
      {"head out of range", {"--heads", "1,8"}, "compress_avg_q.npy", "compress_avg_k.npy", "head index 8 out of range"},
      {"budget below window", {"--budget", "7"}, "compress_avg_q.npy", "compress_avg_k.npy", "smaller than --window"},
      {"zero budget", {"--budget", "0"}, "compress_avg_q.npy", "compress_avg_k.npy", "--budget must be positive"},
      {"negative budget", {"--budget", "-5"}, "compress_avg_q.npy", "compress_avg_k.npy", "--budget must be positive"},
      {"prompt shorter than window", {"--window", "300", "--budget", "400"}, "compress_avg_q.npy",
       "compress_avg_k.npy", "fewer than --window"},
      {"mismatched keys", {}, "compress_avg_q.npy", "snapkv_k.npy", "does not match"},
      {"wrong rank", {}, "rank2.npy", "compress_avg_k.npy", "rank 2"},
      {"int64 instead of float32", {}, "compress_avg_idx.npy", "compress_avg_k.npy", "expected float32"},
      {"missing file", {}, "no_such_file.npy", "compress_avg_k.npy", "no_such_file.npy"},
      {"bad head list", {"--heads", "1,x"}, "compress_avg_q.npy", "compress_avg_k.npy", "not a head index"},
  };
  for (const BadSelect& c : cases) {
    auto path_of = [&](const char* f) {
      return std::filesystem::exists(kCases / f) ? (kCases / f).string() : (dir / f).string();
    };
    const auto out = dir / "idx.npy";
    std::map<std::string, std::string> flags = {{"--budget", "40"}, {"--heads", "1,2"}};
    for (size_t i = 0; i + 1 < c.extra.size(); i += 2) flags[c.extra[i]] = c.extra[i + 1];
    std::vector<std::string> args = {"select", "--queries", path_of(c.queries), "--keys", path_of(c.keys), "--out",
                                     out.string()};
    for (const auto& [flag, value] : flags) args.push_back(flag + "=" + value);
    const CliResult r = run_ckv(args);
    EXPECT_NE(r.exit_code, 0) << c.what;
    const auto lines = r.err_lines();
    ASSERT_EQ(lines.size(), 1u) << c.what << ": " << r.err;
    EXPECT_EQ(lines[0].rfind("ckv: error: ", 0), 0u) << c.what << ": " << lines[0];
    EXPECT_NE(lines[0].find(c.message), std::string::npos) << c.what << ": " << lines[0];
    EXPECT_FALSE(std::filesystem::exists(out)) << c.what;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ckv::test
