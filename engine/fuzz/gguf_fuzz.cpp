// libFuzzer target for the GGUF parser: any input must parse or throw GgufError. On success every tensor's data
// and every metadata value is read, and the spans handed out must lie inside the input.
// Build: CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCKV_FUZZ=ON -DCKV_BUILD_TESTS=OFF && ninja -C build-fuzz ckv_gguf_fuzz
// Run:   build-fuzz/fuzz/ckv_gguf_fuzz -max_total_time=60 <corpus-dir> tests/data/gguf/valid tests/data/gguf/malformed
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <variant>

#include "engine/gguf/gguf_file.hpp"

namespace {

uint64_t touch(const ckv::GgufArray& array);

uint64_t touch(const std::string& s) {
  uint64_t sum = s.size();
  for (char c : s) sum += static_cast<unsigned char>(c);
  return sum;
}

template <typename T>
uint64_t touch_scalar(const T& x) {
  if constexpr (std::is_same_v<T, std::string>) return touch(x);
  else if constexpr (std::is_same_v<T, ckv::GgufArray>) return touch(x);
  else if constexpr (std::is_floating_point_v<T>) return x != 0 ? 1 : 0;  // float -> integer can be UB
  else return static_cast<uint64_t>(x);
}

uint64_t touch(const ckv::GgufArray& array) {
  return std::visit(
      [](const auto& elements) {
        using Element = typename std::decay_t<decltype(elements)>::value_type;
        uint64_t sum = elements.size();
        if constexpr (std::is_same_v<Element, bool>) {  // vector<bool> hands out proxies
          for (bool e : elements) sum += e;
        } else {
          for (const Element& e : elements) sum += touch_scalar(e);
        }
        return sum;
      },
      array.elements);
}

// Calls every typed getter on a key; type mismatches and values that do not fit throw GgufError, nothing else may.
uint64_t touch_getters(const ckv::GgufFile& f, const std::string& key) {
  uint64_t sum = 0;
  auto guarded = [&](auto fn) {
    try {
      fn();
    } catch (const ckv::GgufError&) {
      ++sum;
    }
  };
  guarded([&] { sum += f.get_u32(key); });
  guarded([&] { sum += f.get_u64(key); });
  guarded([&] { sum += static_cast<uint64_t>(f.get_f32(key) != 0.0f); });
  guarded([&] { sum += f.get_bool(key); });
  guarded([&] { sum += f.get_string(key).size(); });
  guarded([&] { sum += f.get_string_array(key).size(); });
  guarded([&] { sum += f.get_f32_array(key).size(); });
  guarded([&] { sum += f.get_i32_array(key).size(); });
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const ckv::GgufFile f = ckv::GgufFile::parse_memory(bytes, "fuzz-input");
    uint64_t sum = f.version() + f.alignment();
    for (const auto& t : f.tensors()) {
      const auto span = f.tensor_data(t);
      if (span.data() < bytes.data() || span.data() + span.size() > bytes.data() + bytes.size()) __builtin_trap();
      if (span.size() != t.byte_size || f.find_tensor(t.name) != &t) __builtin_trap();
      const auto& traits = ckv::ggml_type_traits(t.type);  // the size must be exact, not wrapped around
      if (static_cast<unsigned __int128>(t.element_count / traits.block_size) * traits.block_bytes != t.byte_size)
        __builtin_trap();
      for (std::byte b : span) sum += static_cast<uint8_t>(b);
      sum += t.shape_text().size();
      try {
        ckv::require_supported(t);
      } catch (const ckv::GgufError&) {
        ++sum;
      }
    }
    for (const auto& [key, value] : f.metadata()) {
      if (f.find(key) != &value) __builtin_trap();
      sum += std::visit([](const auto& x) { return touch_scalar(x); }, value.value);
      sum += touch_getters(f, key);
    }
    volatile uint64_t sink = sum;
    (void)sink;
  } catch (const ckv::GgufError&) {
  }
  return 0;
}
