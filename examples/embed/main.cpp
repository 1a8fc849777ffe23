// Embedding compresskv-vk: load a GGUF model, answer a prompt with a SnapKV-compressed KV cache (64 tokens per
// layer), stream the text and print what the run cost. Built against the installed package (see CMakeLists.txt).
//
//   embed MODEL.gguf [-p PROMPT] [-n MAX_TOKENS] [--raw]   (--raw: no chat template)
#include <compresskv/compresskv.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.gguf [-p PROMPT] [-n MAX_TOKENS] [--raw]\n", argv[0]);
    return 2;
  }
  std::string prompt = "Why is the sky blue?";
  compresskv::GenerateOptions gen;
  gen.max_tokens = 32;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--raw") gen.chat = false;
    else if (flag == "-p" && i + 1 < argc) prompt = argv[++i];
    else if (flag == "-n" && i + 1 < argc) gen.max_tokens = std::atoi(argv[++i]);
    else return std::fprintf(stderr, "error: unknown option or missing value: %s\n", flag.c_str()), 2;
  }
  try {
    auto model = compresskv::Model::load(argv[1], {});
    std::printf("%s\n", model->description().c_str());

    compresskv::KvOptions kv;
    kv.policy = "snapkv";
    kv.budget = 64;
    const compresskv::Stats s = model->generate(prompt, kv, gen, [](std::string_view text) {
      std::cout << text << std::flush;
      return true;  // false stops generation
    });

    std::printf("\n%d prompt tokens at %.1f tok/s, %d generated at %.1f tok/s\n", s.prompt_tokens,
                s.prefill_tokens_per_second, s.generated_tokens, s.decode_tokens_per_second);
    std::printf("KV cache: %.1f KiB kept of %.1f KiB FullKV (policy %s), device memory peak %.1f MiB\n",
                double(s.kv_bytes_kept) / 1024, double(s.kv_bytes_full) / 1024, s.policy.c_str(),
                double(s.device_bytes_peak) / (1 << 20));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
