// `ckv bench e2e`: prefill + greedy decode on a synthetic model (FullKV and CompressKV) against the bandwidth
// roofline; prints a table and writes JSON. With --profile (or CKV_PROFILE=1) it also prints the per-pipeline GPU
// time of each phase (prefill, decode) of each policy.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "bench/bench_e2e.hpp"
#include "commands.hpp"

namespace ckv::cli {

Command add_bench_e2e_command(CLI::App& bench, const GlobalOptions& global) {
  struct Flags {
    bench::E2eOptions options;
    std::string json_out;
  };
  auto f = std::make_shared<Flags>();
  bench::E2eOptions& o = f->options;
  CLI::App* sub = bench.add_subcommand(
      "e2e", "End-to-end prefill + decode on a synthetic model, FullKV vs CompressKV, against the bandwidth roofline");
  sub->add_option("--synthetic", o.synthetic, "model shape: llama-3.1-8b or tiny")->required();
  sub->add_option("--weights", o.weights, "weight type of the matrices: f16 or q4_0 (norms are f32)");
  sub->add_option("--layers", o.layers, "use this many layers instead of the preset's")->check(CLI::PositiveNumber);
  sub->add_option("--context", o.context, "prompt tokens (random ids)")->check(CLI::PositiveNumber);
  sub->add_option("--budget", o.budget, "CompressKV: KV tokens kept per layer (window included)");
  sub->add_option("--decode-tokens", o.decode_tokens, "greedy decode steps timed after the prompt");
  sub->add_option("--policy", o.policy, "both (default), fullkv or compresskv: which policies run");
  sub->add_option("--window", o.window, "CompressKV observation window tokens");
  sub->add_option("--retrieval-heads", o.retrieval_heads, "CompressKV: query heads 0..N-1 of every layer are its "
                                                          "(synthetic) retrieval heads");
  sub->add_option("--ubatch", o.ubatch, "prompt tokens per prefill chunk")->check(CLI::PositiveNumber);
  sub->add_option("--headroom", o.headroom, "KV rows kept free for decoded tokens after prefill");
  sub->add_option("--seed", o.seed, "seed of the weights and the prompt");
  sub->add_option("--copy-mib", o.copy_mib, "copy bench sizes in MiB (the roofline uses the best bandwidth)")
      ->delimiter(',');
  sub->add_option("--copy-repeats", o.copy_repeats, "timed submissions per copy size")->check(CLI::PositiveNumber);
  sub->add_flag("--profile", o.profile, "per-pipeline GPU time of each prefill and of extra decode steps run after "
                                        "the timed (unprofiled) ones; printed and in the JSON");
  sub->add_option("--profile-steps", o.profile_steps, "decode steps profiled with --profile");
  sub->add_flag("--unfused-decode", o.unfused_decode, "decode without the per-layer fusions (separate SiLU, RoPE/KV "
                                                      "store and attention reduce passes), for before/after numbers");
  sub->add_flag("--float-activations", o.float_activations, "Q4_0 products in fp32 instead of on int8-rounded "
                                                            "activations with integer dot products");
  sub->add_option("--json", f->json_out, "write the JSON report to this file");
  return {sub, [f, &global]() {
            bench::check_e2e_options(f->options);
            if (!f->json_out.empty()) {  // fail before minutes of work, not after; leave no file behind
              const bool existed = std::filesystem::exists(f->json_out);
              if (!std::ofstream(f->json_out, std::ios::app)) throw std::runtime_error("cannot write " + f->json_out);
              if (!existed) std::filesystem::remove(f->json_out);
            }
            vk::Context ctx(global.context());
            const nlohmann::json report = bench::run_e2e(ctx, f->options);
            if (!f->json_out.empty()) {
              std::ofstream out(f->json_out);
              if (!out) throw std::runtime_error("cannot write " + f->json_out);
              out << report.dump(2) << "\n";
              std::printf("wrote %s\n", f->json_out.c_str());
            }
            return 0;
          }};
}

}  // namespace ckv::cli
