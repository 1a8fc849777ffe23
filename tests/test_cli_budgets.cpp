// `ckv budgets` end to end: runs the built ckv binary with temporary files. Good runs print (or write) the exact
// budgets; bad runs exit non-zero with exactly one "ckv: error:" line on stderr and create no --out file.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paths.hpp"

namespace ckv {
namespace {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class CliBudgets : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(binary_)) << binary_ << " is missing: build the ckv target too";
    dir_ = fs::temp_directory_path() / ("ckv_cli_budgets_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path path(const std::string& name) const { return dir_ / name; }
  static std::string quoted(const fs::path& p) {
    std::string q = "'";
    q += p.string();
    q += "'";
    return q;
  }

  std::string write_file(const std::string& name, const std::string& text) {
    std::ofstream(path(name)) << text;
    return path(name).string();
  }

  RunResult ckv(const std::string& args) {
    std::string command = quoted(binary_);
    command += " budgets " + args;
    command += " >" + quoted(path("stdout"));
    command += " 2>" + quoted(path("stderr"));
    RunResult r;
    const int status = std::system(command.c_str());
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(path("stdout"));
    r.err = slurp(path("stderr"));
    return r;
  }

  // The budgets printed on stdout by a run that must succeed.
  std::vector<int> budgets(const std::string& args) {
    const RunResult r = ckv(args);
    EXPECT_EQ(r.exit_code, 0) << args << "\nstderr: " << r.err;
    EXPECT_EQ(r.err, "");
    try {
      return nlohmann::json::parse(r.out).get<std::vector<int>>();
    } catch (const std::exception& e) {
      ADD_FAILURE() << args << ": stdout is not a JSON list of ints: " << r.out;
      return {};
    }
  }

  // Runs a command that must fail (with --out pointing into the test directory) and returns its one error line.
  std::string error_line(const std::string& args) {
    const fs::path out = path("out.json");
    const RunResult r = ckv(args + " --out " + quoted(out));
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_EQ(r.out, "") << args;
    EXPECT_FALSE(fs::exists(out)) << args;
    EXPECT_EQ(r.err.rfind("ckv: error: ", 0), 0u) << args << "\nstderr: " << r.err;
    EXPECT_TRUE(!r.err.empty() && r.err.find('\n') == r.err.size() - 1) << args << "\nstderr: " << r.err;
    for (const auto& entry : fs::directory_iterator(dir_))  // no temporary left behind either
      EXPECT_EQ(entry.path().filename().string().find("out.json"), std::string::npos) << entry.path();
    return r.err.substr(0, r.err.size() - 1);
  }

  fs::path binary_ = test::binary_dir() / "tools" / "ckv";
  fs::path dir_;
};

TEST_F(CliBudgets, ErrorAwareFromRatios) {
  const std::string ratios = write_file("r.json", "[0.1, 0.2, 0.3, 0.4]");
  EXPECT_EQ(budgets("--ratios " + ratios + " --budget 64 --layers 4"), (std::vector<int>{45, 58, 70, 83}));
  const RunResult r = ckv("--ratios " + ratios + " --budget 64 --layers 4");
  EXPECT_EQ(r.out, "[45,58,70,83]\n");

  const std::string ties = write_file("ties.json", "[0.3, 0.3, 0.3, 0.1]");
  EXPECT_EQ(budgets("--ratios " + ties + " --budget 64 --layers 4"), (std::vector<int>{71, 70, 70, 45}));
  const std::string one_hot = write_file("onehot.json", "[0, 0, 0, 1]");
  EXPECT_EQ(budgets("--ratios " + one_hot + " --budget 64 --layers 4 --min 32 --max 96"),
            (std::vector<int>{54, 53, 53, 96}));
  const std::string ints = write_file("ints.json", "[1, 2, 3, 4]");
  EXPECT_EQ(budgets("--ratios " + ints + " --budget 64 --layers 4"), (std::vector<int>{45, 58, 70, 83}));
}

TEST_F(CliBudgets, WritesOutFile) {
  const std::string ratios = write_file("r.json", "[0.13, 0.13, 0.24, 0.5]");
  const fs::path out = path("budgets.json");
  const RunResult r = ckv("--ratios " + ratios + " --budget 37 --layers 4 --out " + out.string());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(nlohmann::json::parse(slurp(out)).get<std::vector<int>>(), (std::vector<int>{34, 35, 37, 42}));
}

TEST_F(CliBudgets, Pyramid) {
  EXPECT_EQ(budgets("--pyramid --window 8 --prompt-length 100 --budget 64 --layers 4"),
            (std::vector<int>{100, 76, 52, 28}));
  EXPECT_EQ(budgets("--pyramid --prompt-length 1000 --budget 64 --layers 4"), (std::vector<int>{118, 82, 46, 10}));
  EXPECT_EQ(budgets("--pyramid --prompt-length 1000 --budget 64 --layers 3 --beta 4"),
            (std::vector<int>{106, 64, 22}));
}

TEST_F(CliBudgets, BadRatiosFiles) {
  const std::string three = write_file("three.json", "[0.1, 0.2, 0.7]");
  EXPECT_EQ(error_line("--ratios " + three + " --budget 64 --layers 4"),
            "ckv: error: " + three + ": has 3 ratios but --layers is 4");
  const std::string negative = write_file("neg.json", "[0.1, -0.2, 0.7, 0.4]");
  EXPECT_EQ(error_line("--ratios " + negative + " --budget 64 --layers 4"),
            "ckv: error: " + negative + ": ratio 1 is negative or not finite (-0.2)");
  const std::string dict = write_file("dict.json", "{\"ratios\": [1, 2, 3, 4]}");
  EXPECT_EQ(error_line("--ratios " + dict + " --budget 64 --layers 4"),
            "ckv: error: " + dict + ": expected a JSON list of per-layer ratios");
  const std::string text = write_file("text.json", "[1, \"2\", 3, 4]");
  EXPECT_EQ(error_line("--ratios " + text + " --budget 64 --layers 4"), "ckv: error: " + text + ": ratio 1 is not a number");
  const std::string broken = write_file("broken.json", "[0.1, 0.2,\n");
  EXPECT_EQ(error_line("--ratios " + broken + " --budget 64 --layers 4").rfind("ckv: error: " + broken + ": invalid JSON: ", 0), 0u);
  const std::string missing = path("missing.json").string();
  EXPECT_EQ(error_line("--ratios " + missing + " --budget 64 --layers 4"),
            "ckv: error: " + missing + ": cannot open ratios file: No such file or directory");
}

TEST_F(CliBudgets, BadNumbersAndFlagCombinations) {
  const std::string ratios = write_file("r.json", "[0.1, 0.2, 0.3, 0.4]");
  const std::string r = "--ratios " + ratios + " --layers 4";
  EXPECT_EQ(error_line(r + " --budget 0"), "ckv: error: --budget must be positive, got 0");
  EXPECT_EQ(error_line(r + " --budget -4"), "ckv: error: --budget must be positive, got -4");
  EXPECT_EQ(error_line("--ratios " + ratios + " --budget 64 --layers 0"), "ckv: error: --layers must be at least 1, got 0");
  EXPECT_EQ(error_line(r + " --budget 16"),
            "ckv: error: error_aware_budgets: average budget 16 is below the minimum budget 32");
  EXPECT_EQ(error_line(r + " --budget 64 --max 50"),
            "ckv: error: error_aware_budgets: maximum budget 50 is below the average budget 64");
  EXPECT_EQ(error_line("--budget 64 --layers 4"), "ckv: error: --ratios is required (or use --pyramid)");
  EXPECT_EQ(error_line(r), "ckv: error: --budget is required");
  EXPECT_EQ(error_line("--ratios " + ratios + " --budget 64"), "ckv: error: --layers is required");
  EXPECT_EQ(error_line(r + " --budget 64 --prompt-length 100"), "ckv: error: --prompt-length only applies to --pyramid");
  EXPECT_EQ(error_line("--pyramid --budget 64 --layers 4"), "ckv: error: --pyramid needs --prompt-length");
  EXPECT_EQ(error_line("--pyramid " + r + " --budget 64 --prompt-length 100"),
            "ckv: error: --ratios does not apply to --pyramid");
  EXPECT_EQ(error_line("--pyramid --budget 64 --layers 4 --prompt-length 50").rfind(
                "ckv: error: pyramid_budgets: prompt length must be at least the average budget", 0),
            0u);
}

TEST_F(CliBudgets, UnwritableOutLeavesNothing) {
  const std::string ratios = write_file("r.json", "[0.1, 0.2, 0.3, 0.4]");
  const fs::path out = path("no_such_dir") / "out.json";
  const RunResult r = ckv("--ratios " + ratios + " --budget 64 --layers 4 --out " + out.string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err, "ckv: error: " + out.string() + ": cannot write: No such file or directory\n");
  EXPECT_FALSE(fs::exists(path("no_such_dir")));
}

}  // namespace
}  // namespace ckv
