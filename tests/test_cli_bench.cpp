// `ckv bench` on the small preset: every kernel suite runs, every case's own correctness check passes, and the JSON
// report names each case once with a positive time. Catches a case whose shape its kernel rejects (an error exits the
// whole bench) before a device run does.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

#include "cli_runner.hpp"
#include "gpu_env.hpp"

namespace ckv::test {
namespace {

TEST(CliBench, SmallPresetRunsEveryCaseAndEveryCheckPasses) {
  const auto dir = fresh_temp_dir("bench_small");
  const CliResult r = run_ckv({"bench", "--warmup", "0", "--repeats", "1", "--json", (dir / "bench.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string& line : r.err_lines())
    EXPECT_NE(line.find(": skipped, "), std::string::npos) << "not a skip notice: " << line;
  const nlohmann::json j = nlohmann::json::parse(read_text(dir / "bench.json"));
  EXPECT_EQ(j["preset"], "small");
  std::set<std::string> names;
  for (const nlohmann::json& c : j["results"]) {
    const std::string name = c["name"].get<std::string>();
    SCOPED_TRACE(name);
    EXPECT_TRUE(names.insert(name).second) << "case named twice";
    EXPECT_TRUE(c["checked"].get<bool>()) << c["check"];
    EXPECT_GT(c["median_us"].get<double>(), 0.0);
  }
  // One case of each suite that the small preset runs, and every weight type of the matrix-vector product.
  for (const char* name : {"copy 16 MiB", "prefill attention T=256", "decode attention L=4096",
                           "compress layer compresskv T=4096",
                           "topk multi-pass n=4096", "matvec F16 t=1", "matvec Q8_0 t=1", "matvec Q4_0 t=1",
                           "matvec Q4_1 t=1", "matvec Q4_K t=1", "matvec Q6_K t=1", "matmul Q4_K t=64"})
    EXPECT_EQ(names.count(name), 1u) << name;
  std::filesystem::remove_all(dir);
}

// --pipeline-stats lists every pipeline the cases used with the driver's statistics where the device offers
// VK_KHR_pipeline_executable_properties (the H100's driver does; lavapipe does not): there, one line and exit 1.
TEST(CliBench, PipelineStatsListEveryPipelineOrFailWithOneLine) {
  const auto dir = fresh_temp_dir("bench_stats");
  const CliResult r = run_ckv({"bench", "--warmup", "0", "--repeats", "1", "--filter", "matvec Q8_0 t=1",
                               "--pipeline-stats", "--json", (dir / "bench.json").string()});
  if (!gpu().device().info().pipeline_statistics) {
    EXPECT_EQ(r.exit_code, 1);
    ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
    EXPECT_NE(r.err.find("VK_KHR_pipeline_executable_properties"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "bench.json"));
  } else {
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(read_text(dir / "bench.json"));
    ASSERT_FALSE(j["pipelines"].empty());
    bool matvec_seen = false;
    for (const nlohmann::json& p : j["pipelines"]) {
      matvec_seen |= p["pipeline"].get<std::string>().rfind("matvec_q8_0", 0) == 0;
      EXPECT_FALSE(p["statistics"].empty()) << p["pipeline"];
    }
    EXPECT_TRUE(matvec_seen);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ckv::test
