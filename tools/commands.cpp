#include "commands.hpp"

namespace ckv::cli {

namespace {
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace

void register_commands(CLI::App& app, const GlobalOptions& global) {
  registry().push_back(add_info_command(app, global));
  registry().push_back(add_bench_command(app, global));
  registry().push_back(add_budgets_command(app, global));
  registry().push_back(add_run_command(app, global));
  registry().push_back(add_select_command(app, global));
  registry().push_back(add_heads_command(app, global));
  registry().push_back(add_niah_command(app, global));
  registry().push_back(add_convert_llama2c_command(app, global));
  registry().push_back(add_calibrate_command(app, global));
  registry().push_back(add_eval_command(app, global));
}

int run_selected(CLI::App&, const GlobalOptions&) {
  for (const Command& c : registry())
    if (c.app->parsed()) return c.run();
  return 1;
}

}  // namespace ckv::cli
