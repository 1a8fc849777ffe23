// Inputs for the benchmarks: fast deterministic random values uploaded to device buffers.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/half.hpp"
#include "vk/buffer.hpp"
#include "vk/context.hpp"
#include "vk/transfer.hpp"

namespace ckv::bench {

// Bytes that bandwidth-bound GPU cases cycle through (identical copies of their input), so that repeats read
// from memory and not from the last level cache (50 MiB on an H100, 60 MiB on an H200).
constexpr uint64_t kRotateBytes = 256ull << 20;

// Copies of an input of `bytes` that add up to at least kRotateBytes (1 when not rotating).
inline size_t rotation_copies(uint64_t bytes, bool rotate) {
  return rotate && bytes ? size_t((kRotateBytes + bytes - 1) / bytes) : 1;
}

// Uniform values in [-1, 1) from a xorshift generator (fast enough for GiB-sized inputs).
inline std::vector<float> bench_random(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& x : v) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    x = float(int32_t(s >> 32)) * (1.0f / 2147483648.0f);
  }
  return v;
}

inline std::vector<uint32_t> pack_f16(const std::vector<float>& v) {
  std::vector<uint32_t> w((v.size() + 1) / 2, 0);
  for (size_t i = 0; i < v.size(); ++i) w[i / 2] |= uint32_t(float_to_half(v[i])) << (16 * (i % 2));
  return w;
}

template <class T>
vk::Buffer device_buffer(vk::Context& ctx, const std::vector<T>& values, const char* name) {
  vk::Buffer b(ctx.device(), values.size() * sizeof(T), vk::MemoryKind::DeviceLocal, name);
  vk::upload(ctx.device(), b, std::span<const T>(values));
  return b;
}

}  // namespace ckv::bench
