// `ckv bench`: GPU-timestamp benchmarks of the engine's kernels; prints a table and writes JSON.
// `ckv bench e2e` (cmd_bench_e2e.cpp) benchmarks a whole synthetic model instead.
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "bench/bench.hpp"
#include "commands.hpp"

namespace ckv::cli {

Command add_bench_command(CLI::App& app, const GlobalOptions& global) {
  struct Flags {
    std::string preset = "small";
    std::string json_out;
    bench::BenchOptions options;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* sub = app.add_subcommand("bench", "Benchmark the kernels with GPU timestamps (table + JSON)");
  sub->add_option("--preset", flags->preset, "small (lavapipe-sized shapes) or gpu (Llama-3.1-8B attention shapes)")
      ->check(CLI::IsMember({"small", "gpu"}));
  sub->add_option("--json", flags->json_out, "Write the JSON report to this file");
  sub->add_option("--warmup", flags->options.warmup, "Warm-up submissions per case")->check(CLI::NonNegativeNumber);
  sub->add_option("--repeats", flags->options.repeats, "Timed submissions per case (median reported)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--filter", flags->options.filter, "Run only cases whose name contains this text");
  sub->add_flag("--pipeline-stats", flags->options.pipeline_stats,
                "Also print the driver's statistics (registers, shared memory...) of every pipeline the cases used");
  const Command e2e = add_bench_e2e_command(*sub, global);
  return {sub, [flags, e2e, &global]() {
            if (e2e.app->parsed()) return e2e.run();
            flags->options.preset = flags->preset == "gpu" ? bench::Preset::Gpu : bench::Preset::Small;
            vk::Context ctx(global.context());
            const nlohmann::json report = bench::run_benchmarks(ctx, flags->options);
            if (!flags->json_out.empty()) {
              std::ofstream out(flags->json_out);
              if (!out) throw std::runtime_error("cannot write " + flags->json_out);
              out << report.dump(2) << "\n";
              std::printf("wrote %s\n", flags->json_out.c_str());
            }
            return 0;
          }};
}

}  // namespace ckv::cli
