// `ckv budgets`: per-layer KV budgets as a JSON list of ints. CompressKV error-aware budgets from a JSON list of
// per-layer ratios (--ratios), or PyramidKV budgets (--pyramid). Every check runs before anything is written, and
// --out is written under a temporary name and renamed, so a failed run leaves no output file.
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "commands.hpp"
#include "engine/budgets.hpp"

namespace ckv::cli {
namespace {

struct BudgetsOptions {
  std::string ratios;
  std::string out;
  int budget = 0;
  int layers = 0;
  int min_budget = 32;
  int max_budget = -1;
  bool pyramid = false;
  int window = 8;
  int prompt_length = 0;
  int beta = 20;
};

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

std::vector<double> read_ratios(const std::string& path, int layers) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open ratios file: " + std::strerror(errno));
  nlohmann::json ratios;
  try {
    ratios = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": invalid JSON: " + e.what());
  }
  if (!ratios.is_array()) throw std::runtime_error(path + ": expected a JSON list of per-layer ratios");
  if (ratios.size() != size_t(layers))
    throw std::runtime_error(path + ": has " + std::to_string(ratios.size()) + " ratios but --layers is " +
                             std::to_string(layers));
  std::vector<double> weights;
  for (size_t l = 0; l < ratios.size(); ++l) {
    if (!ratios[l].is_number()) throw std::runtime_error(path + ": ratio " + std::to_string(l) + " is not a number");
    const double w = ratios[l].get<double>();
    if (!std::isfinite(w) || w < 0)
      throw std::runtime_error(path + ": ratio " + std::to_string(l) + " is negative or not finite (" + ratios[l].dump() + ")");
    weights.push_back(w);
  }
  return weights;
}

void write_text_atomically(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp-" + std::to_string(::getpid());
  std::ofstream out(temp, std::ios::trunc);
  if (out) {
    out << text;
    out.close();
  }
  std::error_code ec;
  if (!out) {
    const std::string reason = std::strerror(errno);
    std::filesystem::remove(temp, ec);
    throw std::runtime_error(path + ": cannot write: " + reason);
  }
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw std::runtime_error(path + ": cannot write: " + ec.message());
  }
}

int run_budgets(const BudgetsOptions& o, const CLI::App& sub) {
  auto given = [&](const char* flag) { return sub.count(flag) > 0; };
  if (!given("--budget")) fail("--budget is required");
  if (!given("--layers")) fail("--layers is required");
  if (o.budget <= 0) fail("--budget must be positive, got " + std::to_string(o.budget));
  if (o.layers < 1) fail("--layers must be at least 1, got " + std::to_string(o.layers));

  std::vector<int> budgets;
  if (o.pyramid) {
    for (const char* flag : {"--ratios", "--min", "--max"})
      if (given(flag)) fail(std::string(flag) + " does not apply to --pyramid");
    if (!given("--prompt-length")) fail("--pyramid needs --prompt-length");
    budgets = pyramid_budgets(o.layers, o.budget, o.window, o.prompt_length, o.beta);
  } else {
    for (const char* flag : {"--window", "--prompt-length", "--beta"})
      if (given(flag)) fail(std::string(flag) + " only applies to --pyramid");
    if (!given("--ratios")) fail("--ratios is required (or use --pyramid)");
    const std::vector<double> weights = read_ratios(o.ratios, o.layers);
    budgets = error_aware_budgets(weights, o.budget, o.min_budget, o.max_budget);
  }

  const std::string text = nlohmann::json(budgets).dump() + "\n";
  if (o.out.empty()) {
    std::fputs(text.c_str(), stdout);
  } else {
    write_text_atomically(o.out, text);
  }
  return 0;
}

}  // namespace

Command add_budgets_command(CLI::App& app, const GlobalOptions&) {
  auto o = std::make_shared<BudgetsOptions>();
  CLI::App* sub = app.add_subcommand(
      "budgets", "Per-layer KV budgets (JSON list of ints): CompressKV error-aware from --ratios, or --pyramid");
  sub->add_option("--ratios", o->ratios, "JSON file: list of L non-negative per-layer weights (compression errors)");
  sub->add_option("--budget", o->budget, "Average tokens kept per layer (B); the budgets sum to L*B");
  sub->add_option("--layers", o->layers, "Number of layers (L)");
  sub->add_option("--min", o->min_budget, "Smallest budget of a layer")->capture_default_str();
  sub->add_option("--max", o->max_budget, "Largest budget of a layer (default 3*B)");
  sub->add_option("--out", o->out, "Write the JSON here instead of stdout");
  sub->add_flag("--pyramid", o->pyramid, "PyramidKV budgets instead (needs --prompt-length)");
  sub->add_option("--window", o->window, "PyramidKV: observation window tokens always kept")->capture_default_str();
  sub->add_option("--prompt-length", o->prompt_length, "PyramidKV: prompt length T");
  sub->add_option("--beta", o->beta, "PyramidKV: ratio between the middle and the smallest free budget")
      ->capture_default_str();
  return {sub, [o, sub]() { return run_budgets(*o, *sub); }};
}

}  // namespace ckv::cli
