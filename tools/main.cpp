// ckv: the command-line front end. Each subcommand parses its flags and calls the engine; errors end in one
// line on stderr and a non-zero exit.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"compresskv-vk: Llama-family inference on Vulkan compute with a compressed KV cache", "ckv"};
  app.require_subcommand(1);
  ckv::cli::GlobalOptions global;
  app.add_option("--device", global.device, "Vulkan device: index or name substring (also CKV_DEVICE)");
  app.add_flag("--validation", global.validation, "Enable the Khronos validation layer (also CKV_VALIDATION=1)");
  ckv::cli::register_commands(app, global);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "ckv: error: %s\n", e.what());
    return 2;
  }
  try {
    return ckv::cli::run_selected(app, global);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ckv: error: %s\n", e.what());
    return 1;
  }
}
