#include <chrono>
#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "bench.hpp"
#include "vk/pipeline_statistics.hpp"

namespace ckv::bench {

namespace {

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

// One line per pipeline the cases used: its library key and what the driver says about its compiled code.
nlohmann::json report_pipeline_statistics(vk::Context& ctx) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [key, pipeline] : ctx.pipelines().entries()) {
    const auto stats = vk::read_pipeline_statistics(ctx.device(), pipeline->handle());
    std::string line;
    nlohmann::json entry{{"pipeline", key}, {"statistics", nlohmann::json::array()}};
    for (const vk::PipelineStatistic& s : stats) {
      line += (line.empty() ? "" : ", ") + s.name + " " + s.value;
      entry["statistics"].push_back({{"executable", s.executable}, {"name", s.name}, {"value", s.value}});
    }
    std::printf("pipeline %s: %s\n", key.c_str(), line.empty() ? "(no statistics)" : line.c_str());
    out.push_back(entry);
  }
  return out;
}

}  // namespace

nlohmann::json run_benchmarks(vk::Context& ctx, const BenchOptions& options) {
  const vk::DeviceInfo& info = ctx.device().info();
  nlohmann::json report;
  report["device"] = info.name;
  report["driver"] = info.driver_name + " " + info.driver_info;
  report["date"] = utc_now();
  report["preset"] = options.preset == Preset::Gpu ? "gpu" : "small";
  report["warmup"] = options.warmup;
  report["repeats"] = options.repeats;
  report["timing"] = "GPU timestamps around the recorded work of one submission; median of the repeats";
  report["results"] = nlohmann::json::array();
  if (options.pipeline_stats) {
    if (!info.pipeline_statistics)
      throw std::runtime_error("--pipeline-stats: the device does not offer VK_KHR_pipeline_executable_properties");
    ctx.pipelines().capture_statistics(true);
  }

  std::printf("device: %s (%s)\n", info.name.c_str(), report["driver"].get<std::string>().c_str());
  std::printf("%-34s %-44s %12s %10s %10s %s\n", "case", "shape", "median us", "GB/s", "TFLOP/s", "check");
  for (const BenchSuite& suite : all_suites()) {
    for (const BenchResult& r : suite.run(ctx, options)) {
      const double seconds = r.median_us * 1e-6;
      const double gbs = r.bytes > 0 ? r.bytes / seconds / 1e9 : 0;
      const double tflops = r.flops > 0 ? r.flops / seconds / 1e12 : 0;
      std::printf("%-34s %-44s %12.2f %10.1f %10.2f %s (%s)\n", r.name.c_str(), r.shape.dump().substr(0, 44).c_str(),
                  r.median_us, gbs, tflops, r.checked ? "ok" : "FAIL", r.check.c_str());
      std::fflush(stdout);
      report["results"].push_back({{"suite", suite.name},
                                   {"name", r.name},
                                   {"shape", r.shape},
                                   {"median_us", r.median_us},
                                   {"min_us", r.min_us},
                                   {"max_us", r.max_us},
                                   {"bytes", r.bytes},
                                   {"flops", r.flops},
                                   {"GBps", gbs},
                                   {"TFLOPps", tflops},
                                   {"checked", r.checked},
                                   {"check", r.check}});
      if (!r.metrics.is_null()) report["results"].back()["metrics"] = r.metrics;
    }
  }
  if (options.pipeline_stats) report["pipelines"] = report_pipeline_statistics(ctx);
  return report;
}

}  // namespace ckv::bench
