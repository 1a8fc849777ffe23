// `ckv heads`: finds a model's semantic retrieval heads (CompressKV) from needle-in-a-haystack prompts built with
// the "heads" needle set: greedy FullKV answers, and at every step that copies a needle token, each query head's
// attention mass on the whole needle span (read from the GPU decode attention kernel). Writes
// {"<layer>": [query heads, best first]}.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <fstream>
#include <stdexcept>

#include "commands.hpp"
#include "engine/eval/eval_model.hpp"
#include "engine/eval/niah.hpp"
#include "engine/eval/retrieval_heads.hpp"
#include "eval_flags.hpp"

namespace ckv::cli {

namespace {

struct HeadsFlags {
  std::string model, needles, haystack, out, scores_out;
  std::string lengths = "512,1024,2048", depths = "0.1,0.3,0.5,0.7,0.9";
  uint32_t max_tokens = 50;
  uint32_t top = 4;
};

std::filesystem::path haystack_path(const HeadsFlags& f) {
  return f.haystack.empty() ? std::filesystem::path(f.needles).parent_path() / "haystack.txt"
                            : std::filesystem::path(f.haystack);
}

int run(const HeadsFlags& f, const GlobalOptions& global) {
  const auto lengths = parse_length_list(f.lengths, "--lengths");
  const auto depths = parse_number_list(f.depths, "--depths");
  if (f.max_tokens == 0) throw std::invalid_argument("--max-tokens must be at least 1");
  check_niah_grid(lengths, depths, UINT32_MAX, 0);  // before the model loads; its context is checked below
  const auto needles = load_needles(f.needles, "heads");  // never the evaluation set
  const auto haystack = load_haystack_sentences(haystack_path(f));
  auto model = EvalModel::load(f.model, global.context());
  const LlamaConfig& c = model->config;
  check_niah_grid(lengths, depths, c.context_length, f.max_tokens);

  RetrievalHeadScores scores(c.n_layers, c.n_heads);
  const auto started = std::chrono::steady_clock::now();
  ProgressBar progress("heads", uint32_t(lengths.size() * depths.size() * needles.size()));
  uint32_t prompts = 0;
  for (uint32_t length : lengths)
    for (double depth : depths)
      for (const Needle& needle : needles) {
        const NiahPrompt prompt = build_niah_prompt(*model->tokenizer, haystack, needle, length, depth);
        const std::vector<int32_t> needle_tokens(prompt.tokens.begin() + prompt.needle_begin,
                                                 prompt.tokens.begin() + prompt.needle_end);
        SessionOptions options;
        options.compression.policy = KvPolicy::FullKV;
        options.capture_decode_attention = true;
        uint32_t copy_steps = 0;
        scores.begin_prompt();
        const GreedyAnswer answer = greedy_answer(
            *model, options, prompt.tokens, f.max_tokens, /*last_prompt_token_decoded=*/true,
            [&](int32_t token, const LlamaSession& session) {
              copy_steps += scores.add_step(token, needle_tokens, session.decode_attention(), prompt.needle_begin,
                                            prompt.needle_end);
            });
        const double recall = rouge1_recall(answer.text, needle.answer);
        scores.end_prompt(recalls_needle(recall));
        ++prompts;
        progress.step(needle.id);
        std::printf("length %5zu depth %.2f %-10s recall %.2f copy steps %2u prefill %.1f s decode %.1f s | %s\n",
                    prompt.tokens.size(), prompt.depth, needle.id.c_str(), recall, copy_steps,
                    answer.prefill_seconds, answer.decode_seconds, answer.text.c_str());
        std::fflush(stdout);
      }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (scores.prompts_counted() == 0)
    throw std::runtime_error("no answer recalled its needle in " + std::to_string(prompts) +
                             " prompts: no heads file written (try shorter --lengths)");
  const auto ranked = scores.ranked();
  write_retrieval_heads(f.out, ranked);
  if (!f.scores_out.empty()) {
    nlohmann::ordered_json j;
    for (uint32_t l = 0; l < c.n_layers; ++l)
      for (uint32_t h = 0; h < c.n_heads; ++h) j[std::to_string(l)].push_back(scores.score(l, h));
    std::ofstream(f.scores_out) << j.dump() << "\n";
  }

  std::printf("\n%s: %u of %u prompts recalled their needle and were counted (%.0f s)\n", model->name.c_str(),
              scores.prompts_counted(), prompts, seconds);
  std::printf("top %u heads per layer (mean needle attention mass per counted prompt):\n", f.top);
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    std::printf("layer %2u:", l);
    for (uint32_t i = 0; i < std::min<uint32_t>(f.top, c.n_heads); ++i)
      std::printf("  h%u %.3f", ranked[l][i], scores.score(l, ranked[l][i]));
    std::printf("\n");
  }
  std::printf("wrote %s\n", f.out.c_str());
  return 0;
}

}  // namespace

Command add_heads_command(CLI::App& app, const GlobalOptions& global) {
  auto f = std::make_shared<HeadsFlags>();
  CLI::App* sub = app.add_subcommand("heads", "Find a model's semantic retrieval heads (CompressKV) with NIAH prompts");
  sub->add_option("-m,--model", f->model, "GGUF model file")->required();
  sub->add_option("--needles", f->needles, "needles JSON (its \"heads\" set is used)")->required();
  sub->add_option("--haystack", f->haystack, "haystack text (default: haystack.txt next to the needles)");
  sub->add_option("--lengths", f->lengths, "prompt lengths in tokens, comma-separated");
  sub->add_option("--depths", f->depths, "needle depths in [0,1], comma-separated");
  sub->add_option("--max-tokens", f->max_tokens, "tokens generated per answer at most");
  sub->add_option("--top", f->top, "heads per layer shown in the summary");
  sub->add_option("-o,--out", f->out, "heads JSON to write")->required();
  sub->add_option("--scores", f->scores_out, "also write every head's mean score as JSON");
  return {sub, [f, &global]() { return run(*f, global); }};
}

}  // namespace ckv::cli
