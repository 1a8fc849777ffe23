// `ckv calibrate`: measures each layer's attention-output error under CompressKV with uniform budgets on a few
// calibration texts and writes the normalized per-layer weights that error-aware budgets read (--layers).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "commands.hpp"
#include "compresskv/compresskv.hpp"
#include "engine/fidelity.hpp"
#include "engine/profiles.hpp"
#include "text_files.hpp"

namespace ckv::cli {

namespace {

struct CalibrateFlags {
  std::string model, out, mode = "isolated", profile_out, profile_name;
  std::vector<std::string> prompts;
  compresskv::KvOptions kv;
  int steps = 16;
  int max_prompt_tokens = 0;
  int ubatch = 256;
  bool chat = false;
};

int calibrate(CalibrateFlags& f, const GlobalOptions& global) {
  if (f.kv.budget < 1) throw std::invalid_argument("--budget must be a positive number of tokens");
  if (f.steps < 1) throw std::invalid_argument("--steps must be at least 1");
  if (f.max_prompt_tokens < 0) throw std::invalid_argument("--max-prompt-tokens must not be negative");
  if (f.kv.budget < f.kv.window)
    throw std::invalid_argument("the budget (" + std::to_string(f.kv.budget) + " tokens) is smaller than the window (" +
                                std::to_string(f.kv.window) + " tokens)");
  std::vector<std::string> texts;
  for (const auto& p : f.prompts) texts.push_back(read_text_file(p, "calibration text"));
  f.kv.policy = "compresskv";
  auto model = compresskv::Model::load(f.model, {global.device, global.validation});
  const std::string note = model->check_kv_options(f.kv);
  std::fprintf(stderr, "calibrating with compresskv, budget %d, %s, %d steps, %s layers\n", f.kv.budget, note.c_str(),
               f.steps, f.mode.c_str());
  compresskv::GenerateOptions gen;
  gen.ubatch = f.ubatch;
  std::vector<double> sum;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int32_t> tokens = model->tokenize(texts[i], f.chat);
    if (f.max_prompt_tokens > 0 && int(tokens.size()) > f.max_prompt_tokens) tokens.resize(size_t(f.max_prompt_tokens));
    const auto started = std::chrono::steady_clock::now();
    compresskv::Stats stats;
    const std::vector<double> errors =
        model->layer_attention_errors(tokens, f.kv, f.steps, f.mode == "isolated", gen, &stats);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (sum.empty()) sum.assign(errors.size(), 0.0);
    double mean = 0;
    for (size_t l = 0; l < errors.size(); ++l) {
      sum[l] += errors[l];
      mean += errors[l] / double(errors.size() * size_t(f.steps));
    }
    std::fprintf(stderr, "%s: %zu prompt tokens, %d steps, mean layer error %.4f, %.1f s\n", f.prompts[i].c_str(),
                 tokens.size(), f.steps, mean, seconds);
  }
  const std::vector<double> weights = normalized_weights(sum);
  std::string command_line = "ckv calibrate -m " + f.model + (f.kv.heads_file.empty() ? "" : " --heads " + f.kv.heads_file) +
                             " --budget " + std::to_string(f.kv.budget) + " --steps " + std::to_string(f.steps) +
                             " --mode " + f.mode + (f.max_prompt_tokens ? " --max-prompt-tokens " + std::to_string(f.max_prompt_tokens) : "") +
                             " --prompts";
  for (const auto& p : f.prompts) command_line += " " + p;
  std::ofstream out(f.out);
  if (!out) throw std::runtime_error("cannot write " + f.out);
  out << layer_weights_json(weights);
  if (!out.flush()) throw std::runtime_error("cannot write " + f.out);
  std::printf("layer  mean error  weight\n");
  for (size_t l = 0; l < weights.size(); ++l)
    std::printf("%5zu  %10.5f  %.5f\n", l, sum[l] / double(texts.size() * size_t(f.steps)), weights[l]);
  std::printf("wrote %s\n", f.out.c_str());
  if (!f.profile_out.empty()) {
    // profile.json for a profile folder holding these weights (profiles/README.md).
    nlohmann::json id = nlohmann::json::parse(model->profile_identity_json());
    const std::string file = f.model.substr(f.model.find_last_of('/') == std::string::npos ? 0 : f.model.find_last_of('/') + 1);
    nlohmann::json profile = {{"name", f.profile_name.empty() ? file_stem(file) : f.profile_name},
                              {"match", id["match"]},
                              {"files", {{{"file", file}, {"fingerprint", id["fingerprint"]}}}},
                              {"made_with", {{"layers", command_line}}}};
    std::ofstream pj(f.profile_out);
    if (!pj || !(pj << profile.dump(2) << "\n")) throw std::runtime_error("cannot write " + f.profile_out);
    std::printf("wrote %s\n", f.profile_out.c_str());
  }
  return 0;
}

}  // namespace

Command add_calibrate_command(CLI::App& app, const GlobalOptions& global) {
  auto f = std::make_shared<CalibrateFlags>();
  CLI::App* sub = app.add_subcommand(
      "calibrate", "Measure CompressKV's per-layer compression error and write layer weights for error-aware budgets");
  sub->add_option("-m,--model", f->model, "GGUF model file")->required();
  sub->add_option("--heads", f->kv.heads_file, "retrieval heads JSON (default: the model's shipped profile)");
  sub->add_option("--profile", f->kv.profile, "profile for the heads: shipped name, folder, or none");
  sub->add_option("--budget", f->kv.budget, "uniform KV budget per layer (tokens, window included)")->required();
  sub->add_option("--prompts", f->prompts, "calibration texts (plain text files)")->required();
  sub->add_option("-o,--out", f->out, "layer weights JSON to write")->required();
  sub->add_option("--steps", f->steps, "decode steps per text (greedy tokens of the FullKV run)");
  sub->add_option("--max-prompt-tokens", f->max_prompt_tokens, "cut each text to this many tokens (0: whole text)");
  sub->add_option("--mode", f->mode,
                  "isolated: each layer gets FullKV's inputs (its own error, as the reference); propagated: errors "
                  "of lower layers carry over")
      ->check(CLI::IsMember({"isolated", "propagated"}));
  sub->add_option("--window", f->kv.window, "observation window tokens");
  sub->add_option("--kernel", f->kv.pool_kernel, "pooling kernel size (odd)");
  sub->add_option("--pool", f->kv.pool, "pooling: avg | max")->check(CLI::IsMember({"avg", "max"}));
  sub->add_option("--retrieval-heads", f->kv.retrieval_heads, "heads used per layer (first N of each ranked list)");
  sub->add_option("--ubatch", f->ubatch, "prompt tokens per prefill chunk");
  sub->add_flag("--chat", f->chat, "wrap each text in the model's chat template");
  sub->add_option("--profile-out", f->profile_out,
                  "also write a profile.json that matches this model file (for a profiles/<name>/ folder)");
  sub->add_option("--profile-name", f->profile_name, "the profile's name in --profile-out (default: the file's stem)");
  return {sub, [f, &global]() { return calibrate(*f, global); }};
}

}  // namespace ckv::cli
