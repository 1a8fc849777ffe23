#include "engine/model/llama2c_checkpoint.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>

namespace ckv {

namespace {

constexpr uint64_t kHeaderBytes = 7 * 4;

// a * b, or nullopt-like max when it would pass 2^62 (no real file is that large, so the size check then fails).
uint64_t mul(uint64_t a, uint64_t b) {
  constexpr uint64_t kLimit = uint64_t(1) << 62;
  if (a != 0 && b > kLimit / a) return kLimit;
  return a * b;
}

}  // namespace

Llama2cCheckpoint Llama2cCheckpoint::read(const std::filesystem::path& path) {
  const std::string name = path.string();
  auto fail = [&](const std::string& what) -> void { throw std::runtime_error(name + ": " + what); };

  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("cannot open llama2.c checkpoint: not a readable file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(std::string("cannot open llama2.c checkpoint: ") + std::strerror(errno));
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) fail("cannot read the size: " + ec.message());
  if (file_size < kHeaderBytes)
    fail("truncated llama2.c checkpoint: " + std::to_string(file_size) + " bytes, the header alone needs " +
         std::to_string(kHeaderBytes));

  std::array<int32_t, 7> h{};
  in.read(reinterpret_cast<char*>(h.data()), kHeaderBytes);
  if (!in) fail("cannot read the header");
  const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i)
    if (h[i] == 0 || (h[i] < 0 && i != 5) || h[i] == std::numeric_limits<int32_t>::min())
      fail("header field " + std::string(names[i]) + " is " + std::to_string(h[i]) +
           " (not a llama2.c checkpoint, or a newer export version with a magic number?)");

  Llama2cCheckpoint ck;
  Llama2cConfig& c = ck.config;
  c.dim = uint32_t(h[0]);
  c.hidden_dim = uint32_t(h[1]);
  c.n_layers = uint32_t(h[2]);
  c.n_heads = uint32_t(h[3]);
  c.n_kv_heads = uint32_t(h[4]);
  c.shared_classifier = h[5] > 0;
  c.vocab_size = uint32_t(h[5] > 0 ? h[5] : -h[5]);
  c.seq_len = uint32_t(h[6]);
  if (c.dim % c.n_heads || c.head_size() % 2)
    fail("dim " + std::to_string(c.dim) + " is not n_heads " + std::to_string(c.n_heads) +
         " times an even head size");
  if (c.n_heads % c.n_kv_heads)
    fail("n_heads " + std::to_string(c.n_heads) + " is not a multiple of n_kv_heads " + std::to_string(c.n_kv_heads));

  const uint64_t hs = c.head_size(), L = c.n_layers, dim = c.dim;
  const uint64_t q_width = mul(c.n_heads, hs), kv_width = mul(c.n_kv_heads, hs);
  struct Part {
    std::vector<float>* into;  // nullptr: skipped
    uint64_t floats;
  };
  const std::array<Part, 14> parts = {{
      {&ck.token_embedding, mul(c.vocab_size, dim)},
      {&ck.rms_att, mul(L, dim)},
      {&ck.wq, mul(L, mul(q_width, dim))},
      {&ck.wk, mul(L, mul(kv_width, dim))},
      {&ck.wv, mul(L, mul(kv_width, dim))},
      {&ck.wo, mul(L, mul(dim, q_width))},
      {&ck.rms_ffn, mul(L, dim)},
      {&ck.w1, mul(L, mul(c.hidden_dim, dim))},
      {&ck.w2, mul(L, mul(dim, c.hidden_dim))},
      {&ck.w3, mul(L, mul(c.hidden_dim, dim))},
      {&ck.rms_final, dim},
      {nullptr, mul(c.seq_len, hs / 2)},  // freq_cis_real
      {nullptr, mul(c.seq_len, hs / 2)},  // freq_cis_imag
      {&ck.wcls, c.shared_classifier ? 0 : mul(c.vocab_size, dim)},
  }};
  uint64_t expected = kHeaderBytes;
  for (const Part& p : parts) expected += mul(p.floats, 4);
  if (expected != file_size)
    fail(std::string(expected > file_size ? "truncated" : "oversized") + " llama2.c checkpoint: the header (dim " +
         std::to_string(c.dim) + ", hidden_dim " + std::to_string(c.hidden_dim) + ", " + std::to_string(c.n_layers) +
         " layers, " + std::to_string(c.n_heads) + "/" + std::to_string(c.n_kv_heads) + " heads, vocab " +
         std::to_string(c.vocab_size) + (c.shared_classifier ? "" : " with wcls") + ", seq_len " +
         std::to_string(c.seq_len) + ") implies " + std::to_string(expected) + " bytes, the file has " +
         std::to_string(file_size));

  std::vector<float> skipped;
  for (const Part& p : parts) {
    std::vector<float>& v = p.into ? *p.into : skipped;
    v.resize(p.floats);
    in.read(reinterpret_cast<char*>(v.data()), std::streamsize(p.floats * 4));
    if (!in) fail("read error in the tensor data");
  }
  return ck;
}

}  // namespace ckv
