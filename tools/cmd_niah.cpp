// `ckv niah`: needle-in-a-haystack evaluation of KV policies on a grid of context lengths x needle depths, with
// the "evaluation" needle set (never used for profiles). Writes niah.csv, niah.json and one heatmap PNG per
// policy, and prints policy x mean score.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "commands.hpp"
#include "engine/eval/eval_model.hpp"
#include "engine/eval/heatmap.hpp"
#include "engine/eval/niah.hpp"
#include "engine/profiles.hpp"
#include "eval_flags.hpp"

namespace ckv::cli {

namespace {

struct NiahFlags {
  std::string model, needles, haystack, heads, layers, out;
  std::string policies = "fullkv,streaming,snapkv,pyramidkv,compresskv,compresskv-ea";
  std::string lengths = "512,1024", depths = "0.1,0.5,0.9";
  int budget = 64;
  uint32_t max_tokens = 32;
};

struct CellResult {
  std::string policy, needle, answer;
  uint32_t length = 0, prompt_tokens = 0;
  double depth = 0, placed_depth = 0, recall = 0;
  bool recalled = false;
  double seconds = 0;
};

std::string csv_field(const std::string& s) {
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c == '\n' ? ' ' : c);
  return q + "\"";
}

std::string depth_label(double d) {
  char text[16];
  std::snprintf(text, sizeof text, "%.2f", d);
  return text;
}

int run(const NiahFlags& f, const GlobalOptions& global) {
  const auto policies = parse_name_list(f.policies, "--policies");
  const auto lengths = parse_length_list(f.lengths, "--lengths");
  const auto depths = parse_number_list(f.depths, "--depths");
  if (f.max_tokens == 0) throw std::invalid_argument("--max-tokens must be at least 1");
  const auto& known = evaluation_policy_names();
  for (const auto& p : policies)
    if (std::find(known.begin(), known.end(), p) == known.end()) policy_session_options(p, f.budget, {}, {});  // throws
  check_niah_grid(lengths, depths, UINT32_MAX, 0);  // before the model loads; its context is checked below
  const auto needles = load_needles(f.needles, "evaluation");
  const auto haystack =
      load_haystack_sentences(f.haystack.empty() ? std::filesystem::path(f.needles).parent_path() / "haystack.txt"
                                                 : std::filesystem::path(f.haystack));
  auto model = EvalModel::load(f.model, global.context());
  const LlamaConfig& c = model->config;
  check_niah_grid(lengths, depths, c.context_length, f.max_tokens);
  const auto heads = f.heads.empty() ? std::vector<std::vector<uint32_t>>{}
                                     : load_retrieval_heads(f.heads, c.n_layers, c.n_heads);
  const auto weights = f.layers.empty() ? std::vector<double>{} : load_layer_weights(f.layers, c.n_layers);
  std::map<std::string, SessionOptions> options;
  for (const auto& p : policies) options[p] = policy_session_options(p, f.budget, heads, weights);  // checks all first
  std::filesystem::create_directories(f.out);

  std::vector<CellResult> results;
  ProgressBar progress("niah", uint32_t(lengths.size() * depths.size() * needles.size() * policies.size()));
  for (uint32_t length : lengths)
    for (double depth : depths)
      for (const Needle& needle : needles) {
        const NiahPrompt prompt = build_niah_prompt(*model->tokenizer, haystack, needle, length, depth);
        for (const auto& policy : policies) {
          const GreedyAnswer answer = greedy_answer(*model, options[policy], prompt.tokens, f.max_tokens, false);
          CellResult r{policy, needle.id, answer.text, length, uint32_t(prompt.tokens.size()), depth, prompt.depth};
          r.recall = rouge1_recall(answer.text, needle.answer);
          r.recalled = recalls_needle(r.recall);
          r.seconds = answer.prefill_seconds + answer.decode_seconds;
          results.push_back(r);
          progress.step(policy + " " + std::to_string(length) + " " + depth_label(depth));
        }
      }

  // Files: one row per run; the heatmaps and summary average over needles.
  std::ofstream csv(std::filesystem::path(f.out) / "niah.csv");
  csv << "policy,budget,length,prompt_tokens,depth,placed_depth,needle,recalled,rouge1_recall,seconds,answer\n";
  nlohmann::ordered_json runs = nlohmann::ordered_json::array();
  for (const auto& r : results) {
    csv << r.policy << "," << f.budget << "," << r.length << "," << r.prompt_tokens << "," << r.depth << ","
        << r.placed_depth << "," << r.needle << "," << int(r.recalled) << "," << r.recall << "," << r.seconds << ","
        << csv_field(r.answer) << "\n";
    runs.push_back({{"policy", r.policy}, {"length", r.length}, {"prompt_tokens", r.prompt_tokens},
                    {"depth", r.depth}, {"placed_depth", r.placed_depth}, {"needle", r.needle},
                    {"recalled", r.recalled}, {"rouge1_recall", r.recall}, {"seconds", r.seconds},
                    {"answer", r.answer}});
  }
  nlohmann::ordered_json summary = nlohmann::ordered_json::object();
  std::printf("\n%-14s %8s %8s %6s\n", "policy", "score", "rouge1", "runs");
  for (const auto& policy : policies) {
    HeatmapSpec spec;
    spec.title = model->name + " | " + policy + " | budget " + std::to_string(f.budget);
    spec.x_axis = "context length (tokens)";
    spec.y_axis = "depth";
    for (uint32_t l : lengths) spec.x_labels.push_back(std::to_string(l));
    for (double d : depths) spec.y_labels.push_back(depth_label(d));
    double score = 0, recall = 0;
    int n = 0;
    for (double d : depths)
      for (uint32_t l : lengths) {
        double cell = 0;
        int cell_n = 0;
        for (const auto& r : results)
          if (r.policy == policy && r.length == l && r.depth == d) {
            cell += r.recalled;
            recall += r.recall;
            ++cell_n;
          }
        spec.values.push_back(cell_n ? cell / cell_n : std::nan(""));
        score += cell;
        n += cell_n;
      }
    render_heatmap(spec).write_png(std::filesystem::path(f.out) / ("heatmap_" + policy + ".png"));
    summary[policy] = {{"score", n ? score / n : 0.0}, {"rouge1_recall", n ? recall / n : 0.0}, {"runs", n}};
    std::printf("%-14s %8.3f %8.3f %6d\n", policy.c_str(), n ? score / n : 0.0, n ? recall / n : 0.0, n);
  }
  nlohmann::ordered_json j{{"model", model->name},        {"budget", f.budget},   {"lengths", lengths},
                           {"depths", depths},            {"max_tokens", f.max_tokens},
                           {"heads", f.heads},            {"layers", f.layers},   {"summary", summary},
                           {"runs", runs}};
  // Answers are decoded token bytes and may end inside a UTF-8 sequence: such bytes become U+FFFD in the JSON.
  std::ofstream(std::filesystem::path(f.out) / "niah.json")
      << j.dump(1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  std::printf("wrote %s/niah.csv, niah.json and %zu heatmaps\n", f.out.c_str(), policies.size());
  return 0;
}

}  // namespace

Command add_niah_command(CLI::App& app, const GlobalOptions& global) {
  auto f = std::make_shared<NiahFlags>();
  CLI::App* sub = app.add_subcommand("niah", "Needle-in-a-haystack evaluation of KV policies (length x depth grid)");
  sub->add_option("-m,--model", f->model, "GGUF model file")->required();
  sub->add_option("--needles", f->needles, "needles JSON (its \"evaluation\" set is used)")->required();
  sub->add_option("--haystack", f->haystack, "haystack text (default: haystack.txt next to the needles)");
  sub->add_option("--policies", f->policies,
                  "comma-separated: fullkv, streaming, snapkv, pyramidkv, compresskv, compresskv-ea");
  sub->add_option("--budget", f->budget, "average KV tokens kept per layer");
  sub->add_option("--lengths", f->lengths, "prompt lengths in tokens, comma-separated");
  sub->add_option("--depths", f->depths, "needle depths in [0,1], comma-separated");
  sub->add_option("--max-tokens", f->max_tokens, "tokens generated per answer at most");
  sub->add_option("--heads", f->heads, "retrieval heads JSON (compresskv policies)");
  sub->add_option("--layers", f->layers, "layer weights JSON (compresskv-ea)");
  sub->add_option("-o,--out", f->out, "output folder")->required();
  return {sub, [f, &global]() { return run(*f, global); }};
}

}  // namespace ckv::cli
