// `ckv heads` and `ckv niah` bad input: one "ckv: error:" line naming the problem and a non-zero exit.
#include <gtest/gtest.h>

#include "cli_runner.hpp"

namespace ckv::test {
namespace {

std::string model() { return (source_dir() / "models/SmolLM2-135M-Instruct.Q4_1.gguf").string(); }
std::string needles() { return (source_dir() / "data/niah/needles.json").string(); }

void expect_error(const std::vector<std::string>& args, const std::string& message) {
  const CliResult r = run_ckv(args);
  EXPECT_NE(r.exit_code, 0) << r.out;
  const auto lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0].rfind("ckv: error:", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(message), std::string::npos) << lines[0];
}

TEST(CliEval, BadInputIsOneClearErrorLine) {
  const auto out = fresh_temp_dir("cli_eval");
  const std::string dir = out.string();
  expect_error({"niah", "-m", model(), "--needles", needles(), "--policies", "fullkv,h2o", "-o", dir},
               "unknown policy 'h2o'");
  expect_error({"niah", "-m", model(), "--needles", needles(), "--depths", "0.5,1.5", "-o", dir},
               "outside [0, 1]");
  expect_error({"niah", "-m", model(), "--needles", needles(), "--lengths", "512,x", "-o", dir},
               "'x' is not a positive token count");
  expect_error({"heads", "-m", model(), "--needles", "/nonexistent/needles.json", "-o", dir + "/h.json"},
               "cannot open the needles file");
  expect_error({"niah", "-m", model(), "--needles", needles(), "--policies", "compresskv", "-o", dir},
               "needs a retrieval heads file");
  expect_error({"niah", "-m", model(), "--needles", needles(), "--lengths", "9000", "-o", dir},
               "exceeds the model's context");
  std::filesystem::remove_all(out);
}

}  // namespace
}  // namespace ckv::test
