// `ckv run`: generate text from a GGUF model with a (compressed) KV cache; streams the text, then prints one
// stats block (or JSON with --json).
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "commands.hpp"
#include "compresskv/compresskv.hpp"
#include "engine/npy.hpp"

namespace ckv::cli {

namespace {

struct RunFlags {
  std::string model, prompt, prompt_file, dump_logits;
  compresskv::KvOptions kv;
  compresskv::GenerateOptions gen;
  bool no_chat = false;
  bool json = false;
};

std::string mib_text(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f MiB", double(bytes) / double(1 << 20));
  return text;
}

std::string list_text(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + std::to_string(v[i]);
  return s;
}

void print_stats(const compresskv::Stats& s) {
  std::printf("\n\n--- stats ---\n");
  std::printf("policy            %s%s\n", s.policy.c_str(), s.profile_note.empty() ? "" : (" (" + s.profile_note + ")").c_str());
  std::printf("prompt tokens     %d\n", s.prompt_tokens);
  std::printf("prefill           %.1f tok/s (%.3f s)\n", s.prefill_tokens_per_second, s.prefill_seconds);
  std::printf("generated tokens  %d\n", s.generated_tokens);
  std::printf("decode            %.1f tok/s (%.3f s)\n", s.decode_tokens_per_second, s.decode_seconds);
  std::printf("KV cache          %s kept of %s FullKV (%.1f%%), peak %s\n", mib_text(s.kv_bytes_kept).c_str(),
              mib_text(s.kv_bytes_full).c_str(),
              s.kv_bytes_full ? 100.0 * double(s.kv_bytes_kept) / double(s.kv_bytes_full) : 0.0,
              mib_text(s.kv_bytes_peak).c_str());
  std::printf("layer budgets     %s\n", list_text(s.layer_budgets).c_str());
  std::printf("layer lengths     %s\n", list_text(s.layer_lengths).c_str());
  std::printf("device memory     peak %s (weights %s)\n", mib_text(s.device_bytes_peak).c_str(),
              mib_text(s.weight_bytes).c_str());
}

nlohmann::json stats_json(const compresskv::Stats& s) {
  return {{"policy", s.policy},
          {"profile", s.profile_note},
          {"prompt_tokens", s.prompt_tokens},
          {"generated_tokens", s.generated_tokens},
          {"prefill_seconds", s.prefill_seconds},
          {"decode_seconds", s.decode_seconds},
          {"prefill_tokens_per_second", s.prefill_tokens_per_second},
          {"decode_tokens_per_second", s.decode_tokens_per_second},
          {"kv_bytes_full", s.kv_bytes_full},
          {"kv_bytes_kept", s.kv_bytes_kept},
          {"kv_bytes_peak", s.kv_bytes_peak},
          {"device_bytes_peak", s.device_bytes_peak},
          {"weight_bytes", s.weight_bytes},
          {"layer_budgets", s.layer_budgets},
          {"layer_lengths", s.layer_lengths}};
}

int run(RunFlags& f, const GlobalOptions& global) {
  if (f.prompt.empty() == f.prompt_file.empty()) throw std::invalid_argument("give exactly one of -p PROMPT or -f FILE");
  if (!f.prompt_file.empty()) {
    std::ifstream in(f.prompt_file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read prompt file " + f.prompt_file);
    std::stringstream text;
    text << in.rdbuf();
    f.prompt = text.str();
  }
  f.gen.chat = !f.no_chat;
  const bool progress = !f.json && isatty(STDERR_FILENO);
  if (progress)
    f.gen.on_prefill_progress = [](int done, int all) {
      const int width = 30, filled = width * done / all;
      std::fprintf(stderr, "\rprefill [%.*s%*s] %d/%d layers", filled, "##############################",
                   width - filled, "", done, all);
      if (done == all) std::fprintf(stderr, "\r%*s\r", width + 30, "");
      std::fflush(stderr);
    };
  auto model = compresskv::Model::load(f.model, {global.device, global.validation});
  std::vector<float> logits;
  std::string text;
  const compresskv::Stats stats = model->generate(
      f.prompt, f.kv, f.gen,
      [&](std::string_view piece) {
        if (f.json) {
          text += piece;
        } else {
          std::fwrite(piece.data(), 1, piece.size(), stdout);
          std::fflush(stdout);
        }
        return true;
      },
      f.dump_logits.empty() ? nullptr : &logits);
  if (!f.dump_logits.empty())
    write_npy_float32(f.dump_logits, std::vector<size_t>{logits.size()}, logits);
  if (f.json) {
    nlohmann::json j = stats_json(stats);
    j["text"] = text;
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    print_stats(stats);
  }
  return 0;
}

}  // namespace

Command add_run_command(CLI::App& app, const GlobalOptions& global) {
  auto f = std::make_shared<RunFlags>();
  CLI::App* sub = app.add_subcommand("run", "Generate text from a GGUF model with a compressed KV cache");
  sub->add_option("-m,--model", f->model, "GGUF model file")->required();
  sub->add_option("-p,--prompt", f->prompt, "prompt text");
  sub->add_option("-f,--file", f->prompt_file, "read the prompt from a file");
  sub->add_option("-n,--n-predict", f->gen.max_tokens, "tokens to generate");
  sub->add_option("-c,--ctx-size", f->gen.context, "context size (prompt + generated); 0: the model's");
  sub->add_option("--temp", f->gen.temperature, "temperature; 0 = greedy");
  sub->add_option("--top-p", f->gen.top_p, "nucleus sampling threshold");
  sub->add_option("--seed", f->gen.seed, "random seed for sampling");
  sub->add_option("--ubatch", f->gen.ubatch, "prompt tokens per prefill chunk");
  sub->add_flag("--no-chat", f->no_chat, "do not apply the model's chat template");
  sub->add_option("--kv-policy", f->kv.policy, "fullkv | streaming | snapkv | pyramidkv | compresskv")
      ->check(CLI::IsMember({"fullkv", "streaming", "snapkv", "pyramidkv", "compresskv"}));
  sub->add_option("--kv-budget", f->kv.budget, "average KV tokens kept per layer (window included)");
  sub->add_option("--kv-budget-mib", f->kv.budget_mib, "KV memory budget in MiB (converted to tokens)");
  sub->add_option("--heads", f->kv.heads_file, "CompressKV retrieval heads JSON {\"layer\": [heads]}");
  sub->add_option("--layers", f->kv.layers_file, "CompressKV per-layer weights JSON (implies --error-aware)");
  sub->add_flag("--error-aware", f->kv.error_aware,
                "CompressKV error-aware layer budgets (weights from --layers, else from the model's profile)");
  sub->add_option("--profile", f->kv.profile,
                  "CompressKV profile: a shipped profile name, a profile folder, or none (default: the shipped one "
                  "that matches the model)");
  sub->add_option("--window", f->kv.window, "observation window tokens");
  sub->add_option("--pool", f->kv.pool, "pooling: avg | max")->check(CLI::IsMember({"avg", "max"}));
  sub->add_option("--kernel", f->kv.pool_kernel, "pooling kernel size (odd)");
  sub->add_flag("--json", f->json, "print the text and stats as one JSON object");
  sub->add_option("--dump-logits", f->dump_logits, "write the float32 logits of the last prompt token (.npy)");
  return {sub, [f, &global]() { return run(*f, global); }};
}

}  // namespace ckv::cli
