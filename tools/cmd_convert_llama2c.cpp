// `ckv convert-llama2c`: a llama2.c checkpoint plus its tokenizer.bin into a llama GGUF model that `ckv run` loads.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "commands.hpp"
#include "engine/model/llama2c_to_gguf.hpp"

namespace ckv::cli {
namespace {

struct ConvertOptions {
  std::string checkpoint, tokenizer, output, type = "f32", name;
};

int run_convert(const ConvertOptions& o) {
  Llama2cConvertOptions options;
  if (o.type == "f32") options.weight_type = GgmlType::F32;
  else if (o.type == "f16") options.weight_type = GgmlType::F16;
  else throw std::invalid_argument("--type must be f32 or f16, got '" + o.type + "'");
  options.name = o.name;
  convert_llama2c(o.checkpoint, o.tokenizer, o.output, options);
  std::printf("wrote %s (%ju bytes)\n", o.output.c_str(), uintmax_t(std::filesystem::file_size(o.output)));
  return 0;
}

}  // namespace

Command add_convert_llama2c_command(CLI::App& app, const GlobalOptions&) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* sub = app.add_subcommand("convert-llama2c", "Convert a llama2.c checkpoint and tokenizer to a GGUF model");
  sub->add_option("--checkpoint", o->checkpoint, "llama2.c model file (e.g. stories260K.bin)")->required();
  sub->add_option("--tokenizer", o->tokenizer, "llama2.c tokenizer file (e.g. tok512.bin)")->required();
  sub->add_option("-o,--output", o->output, "GGUF file to write")->required();
  sub->add_option("--type", o->type, "Weight type of the matrices: f32 or f16")->capture_default_str();
  sub->add_option("--name", o->name, "general.name (default: the checkpoint's file name without extension)");
  return {sub, [o]() { return run_convert(*o); }};
}

}  // namespace ckv::cli
