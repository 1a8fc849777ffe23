// Registration of the ckv subcommands. Each lives in its own cmd_*.cpp file.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "vk/context.hpp"

namespace ckv::cli {

struct GlobalOptions {
  std::string device;
  bool validation = false;
  vk::ContextOptions context() const { return {validation, true, device}; }
};

// A subcommand adds itself with its flags and the function that runs it once parsed.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

void register_commands(CLI::App& app, const GlobalOptions& global);
int run_selected(CLI::App& app, const GlobalOptions& global);

// One per cmd_*.cpp.
Command add_info_command(CLI::App& app, const GlobalOptions& global);
Command add_bench_command(CLI::App& app, const GlobalOptions& global);
Command add_bench_e2e_command(CLI::App& bench, const GlobalOptions& global);  // `ckv bench e2e`
Command add_budgets_command(CLI::App& app, const GlobalOptions& global);
Command add_select_command(CLI::App& app, const GlobalOptions& global);
Command add_run_command(CLI::App& app, const GlobalOptions& global);
Command add_heads_command(CLI::App& app, const GlobalOptions& global);
Command add_niah_command(CLI::App& app, const GlobalOptions& global);
Command add_convert_llama2c_command(CLI::App& app, const GlobalOptions& global);
Command add_calibrate_command(CLI::App& app, const GlobalOptions& global);
Command add_eval_command(CLI::App& app, const GlobalOptions& global);

}  // namespace ckv::cli
