// `ckv eval`: fidelity of KV policies against FullKV on natural text. For each text the first P tokens are the
// prompt (compressed per policy), then the true next C tokens are fed one at a time (teacher forcing); every
// step's next-token distribution is compared with FullKV's: top-1 agreement and mean KL(FullKV ‖ policy).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "commands.hpp"
#include "compresskv/compresskv.hpp"
#include "engine/fidelity.hpp"
#include "text_files.hpp"

namespace ckv::cli {

namespace {

struct EvalFlags {
  std::string model, out_csv, out_json, policies = "fullkv,streaming,snapkv,pyramidkv,compresskv,compresskv-ea",
                                        budgets = "32,64,128,256";
  std::vector<std::string> texts;
  compresskv::KvOptions kv;  // heads/layers/profile/window shared by all policies
  int prefix_tokens = 256;
  int continue_tokens = 16;
  int ubatch = 256;
};

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// compresskv-ea is compresskv with error-aware budgets; the others are engine policies.
compresskv::KvOptions options_for(const compresskv::KvOptions& base, const std::string& policy, int budget) {
  compresskv::KvOptions kv = base;
  kv.policy = policy == "compresskv-ea" ? "compresskv" : policy;
  kv.error_aware = policy == "compresskv-ea";
  if (policy == "compresskv") kv.layers_file.clear();  // uniform budgets
  kv.budget = policy == "fullkv" ? 0 : budget;
  return kv;
}

struct Cell {
  FidelitySummary summary;
  double seconds = 0;
};

int eval(EvalFlags& f, const GlobalOptions& global) {
  const std::vector<std::string> policies = split(f.policies);
  std::vector<int> budgets;
  for (const auto& b : split(f.budgets)) {
    size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(b, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != b.size() || v < 1) throw std::invalid_argument("--budgets: \"" + b + "\" is not a positive token count");
    if (v < f.kv.window)
      throw std::invalid_argument("budget " + b + " is smaller than the observation window (" +
                                  std::to_string(f.kv.window) + " tokens)");
    budgets.push_back(v);
  }
  if (policies.empty() || budgets.empty()) throw std::invalid_argument("give at least one policy and one budget");
  for (const auto& p : policies)
    if (p != "fullkv" && p != "streaming" && p != "snapkv" && p != "pyramidkv" && p != "compresskv" &&
        p != "compresskv-ea")
      throw std::invalid_argument("unknown policy \"" + p +
                                  "\" (valid: fullkv, streaming, snapkv, pyramidkv, compresskv, compresskv-ea)");
  if (f.prefix_tokens < 1 || f.continue_tokens < 1)
    throw std::invalid_argument("--prefix-tokens and --continue-tokens must be at least 1");
  std::vector<std::string> texts;
  for (const auto& t : f.texts) texts.push_back(read_text_file(t, "evaluation text"));

  auto model = compresskv::Model::load(f.model, {global.device, global.validation});
  // Check every policy's options (heads, profile, budgets) before the long runs start.
  for (const auto& p : policies) {
    const std::string note = model->check_kv_options(options_for(f.kv, p, budgets.front()));
    if (!note.empty()) std::fprintf(stderr, "%s: %s\n", p.c_str(), note.c_str());
  }
  std::vector<std::vector<int32_t>> prompts, continuations;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int32_t> tokens = model->tokenize(texts[i], /*chat=*/false);
    if (int(tokens.size()) < f.prefix_tokens + f.continue_tokens)
      throw std::invalid_argument("evaluation text " + f.texts[i] + " has " + std::to_string(tokens.size()) +
                                  " tokens, fewer than --prefix-tokens + --continue-tokens = " +
                                  std::to_string(f.prefix_tokens + f.continue_tokens));
    prompts.emplace_back(tokens.begin(), tokens.begin() + f.prefix_tokens);
    continuations.emplace_back(tokens.begin() + f.prefix_tokens,
                               tokens.begin() + f.prefix_tokens + f.continue_tokens);
  }

  compresskv::GenerateOptions gen;
  gen.ubatch = f.ubatch;
  std::map<std::pair<std::string, int>, Cell> cells;
  using Clock = std::chrono::steady_clock;
  for (size_t i = 0; i < texts.size(); ++i) {
    // FullKV once per text: its logits are the reference of every policy and budget.
    std::vector<std::vector<float>> full(continuations[i].size());
    auto started = Clock::now();
    model->teacher_force(prompts[i], continuations[i], options_for(f.kv, "fullkv", 0), gen,
                         [&](int step, const std::vector<float>& logits) { full[size_t(step)] = logits; });
    const double full_seconds = std::chrono::duration<double>(Clock::now() - started).count();
    std::fprintf(stderr, "%s: fullkv %.1f s\n", f.texts[i].c_str(), full_seconds);
    for (const auto& p : policies) {
      for (int b : budgets) {
        Cell& cell = cells[{p, b}];
        if (p == "fullkv") {  // the reference itself: compared with itself (KL 0, agreement 1)
          for (size_t s = 0; s < full.size(); ++s)
            cell.summary.add(compare_next_token(full[s], full[s], continuations[i][s]));
          cell.seconds += full_seconds;
          continue;
        }
        started = Clock::now();
        model->teacher_force(prompts[i], continuations[i], options_for(f.kv, p, b), gen,
                             [&](int step, const std::vector<float>& logits) {
                               cell.summary.add(compare_next_token(full[size_t(step)], logits,
                                                                   continuations[i][size_t(step)]));
                             });
        const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
        cell.seconds += seconds;
        std::fprintf(stderr, "%s: %s budget %d %.1f s\n", f.texts[i].c_str(), p.c_str(), b, seconds);
      }
    }
  }

  std::printf("top-1 agreement with FullKV / mean KL(FullKV || policy) in nats; %zu texts, prompt %d tokens, %d "
              "teacher-forced steps each\n",
              texts.size(), f.prefix_tokens, f.continue_tokens);
  std::printf("%-14s", "policy");
  for (int b : budgets) std::printf("  %17s", ("budget " + std::to_string(b)).c_str());
  std::printf("\n");
  for (const auto& p : policies) {
    std::printf("%-14s", p.c_str());
    for (int b : budgets) {
      const FidelitySummary& s = cells[{p, b}].summary;
      std::printf("  %6.3f / %8.5f", s.top1_agreement(), s.mean_kl());
    }
    std::printf("\n");
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& p : policies)
    for (int b : budgets) {
      const Cell& c = cells[{p, b}];
      rows.push_back({{"policy", p},
                      {"budget", b},
                      {"texts", texts.size()},
                      {"steps", c.summary.steps},
                      {"top1_agreement", c.summary.top1_agreement()},
                      {"mean_kl", c.summary.mean_kl()},
                      {"nll_fullkv", c.summary.mean_nll_full()},
                      {"nll_policy", c.summary.mean_nll_policy()},
                      {"seconds", c.seconds}});
    }
  if (!f.out_csv.empty()) {
    std::ofstream out(f.out_csv);
    if (!out) throw std::runtime_error("cannot write " + f.out_csv);
    out << "policy,budget,texts,steps,top1_agreement,mean_kl,nll_fullkv,nll_policy,seconds\n";
    for (const auto& r : rows) {
      char line[256];
      std::snprintf(line, sizeof line, "%s,%d,%zu,%llu,%.6f,%.8f,%.6f,%.6f,%.2f\n",
                    r["policy"].get<std::string>().c_str(), r["budget"].get<int>(), r["texts"].get<size_t>(),
                    static_cast<unsigned long long>(r["steps"].get<uint64_t>()), r["top1_agreement"].get<double>(),
                    r["mean_kl"].get<double>(), r["nll_fullkv"].get<double>(), r["nll_policy"].get<double>(),
                    r["seconds"].get<double>());
      out << line;
    }
    if (!out.flush()) throw std::runtime_error("cannot write " + f.out_csv);
  }
  if (!f.out_json.empty()) {
    std::ofstream out(f.out_json);
    if (!out || !(out << rows.dump(2) << "\n")) throw std::runtime_error("cannot write " + f.out_json);
  }
  return 0;
}

}  // namespace

Command add_eval_command(CLI::App& app, const GlobalOptions& global) {
  auto f = std::make_shared<EvalFlags>();
  CLI::App* sub = app.add_subcommand("eval", "Next-token fidelity of KV policies against FullKV on natural text");
  sub->add_option("-m,--model", f->model, "GGUF model file")->required();
  sub->add_option("--texts", f->texts, "evaluation texts (plain text files)")->required();
  sub->add_option("--policies", f->policies,
                  "comma-separated: fullkv, streaming, snapkv, pyramidkv, compresskv, compresskv-ea");
  sub->add_option("--budgets", f->budgets, "comma-separated average KV budgets (tokens per layer)");
  sub->add_option("--heads", f->kv.heads_file, "CompressKV retrieval heads JSON (default: the model's profile)");
  sub->add_option("--layers", f->kv.layers_file, "layer weights JSON for compresskv-ea (default: the profile's)");
  sub->add_option("--profile", f->kv.profile, "CompressKV profile: shipped name, folder, or none");
  sub->add_option("--prefix-tokens", f->prefix_tokens, "prompt tokens taken from the start of each text");
  sub->add_option("--continue-tokens", f->continue_tokens, "true next tokens fed after the prompt (steps compared)");
  sub->add_option("--window", f->kv.window, "observation window tokens");
  sub->add_option("--ubatch", f->ubatch, "prompt tokens per prefill chunk");
  sub->add_option("-o,--out", f->out_csv, "write the table as CSV");
  sub->add_option("--json", f->out_json, "write the table as JSON");
  return {sub, [f, &global]() { return eval(*f, global); }};
}

}  // namespace ckv::cli
