// Typed access to GGUF metadata: conversions that never lose information, and one clear error otherwise.
#include <cmath>
#include <cstdio>
#include <limits>
#include <type_traits>
#include <utility>

#include "engine/gguf/gguf_file.hpp"
#include "engine/gguf/gguf_reader.hpp"

namespace ckv {

namespace {

template <typename T>
constexpr bool kIsInteger = std::is_integral_v<T> && !std::is_same_v<T, bool>;

std::string short_double(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", d);
  return buf;
}

std::string type_description(const GgufValue& v) {
  if (const auto* a = v.get_if<GgufArray>()) return "ARRAY of " + gguf_value_type_name(a->element_type());
  return gguf_value_type_name(v.type());
}

// The integer in `v` as Out when v holds an integer type whose value fits; nullopt for non-integer types.
// Throws (through fail) when the value does not fit.
template <typename Out, typename Fail>
std::optional<Out> integer_as(const GgufValue& v, const Fail& fail) {
  return std::visit(
      [&](const auto& x) -> std::optional<Out> {
        using T = std::decay_t<decltype(x)>;
        if constexpr (kIsInteger<T>) {
          if (!std::in_range<Out>(x)) fail("holds " + std::to_string(x) + ", which does not fit");
          return static_cast<Out>(x);
        } else {
          return std::nullopt;
        }
      },
      v.value);
}

}  // namespace

// A FLOAT64 as float; finite values beyond the float range are an error (the conversion would be undefined).
float GgufFile::to_float(double d, std::string_view key, const std::string& element) const {
  if (std::isfinite(d) && std::fabs(d) > double(std::numeric_limits<float>::max()))
    fail("metadata key " + quote_name(key) + element + " holds " + short_double(d) + ", which does not fit in float");
  return static_cast<float>(d);
}

const GgufValue& GgufFile::require(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) fail("metadata key " + quote_name(key) + " is missing");
  return *v;
}

uint32_t GgufFile::get_u32(std::string_view key) const {
  const GgufValue& v = require(key);
  auto fail_fit = [&](const std::string& what) { fail("metadata key " + quote_name(key) + " " + what + " in uint32"); };
  if (auto x = integer_as<uint32_t>(v, fail_fit)) return *x;
  fail("metadata key " + quote_name(key) + " has type " + type_description(v) + ", expected an integer");
}

uint64_t GgufFile::get_u64(std::string_view key) const {
  const GgufValue& v = require(key);
  auto fail_fit = [&](const std::string& what) { fail("metadata key " + quote_name(key) + " " + what + " in uint64"); };
  if (auto x = integer_as<uint64_t>(v, fail_fit)) return *x;
  fail("metadata key " + quote_name(key) + " has type " + type_description(v) + ", expected an integer");
}

float GgufFile::get_f32(std::string_view key) const {
  const GgufValue& v = require(key);
  if (const auto* f = v.get_if<float>()) return *f;
  if (const auto* d = v.get_if<double>()) return to_float(*d, key, "");
  fail("metadata key " + quote_name(key) + " has type " + type_description(v) + ", expected FLOAT32 or FLOAT64");
}

bool GgufFile::get_bool(std::string_view key) const {
  const GgufValue& v = require(key);
  if (const auto* b = v.get_if<bool>()) return *b;
  fail("metadata key " + quote_name(key) + " has type " + type_description(v) + ", expected BOOL");
}

std::string GgufFile::get_string(std::string_view key) const {
  const GgufValue& v = require(key);
  if (const auto* s = v.get_if<std::string>()) return *s;
  fail("metadata key " + quote_name(key) + " has type " + type_description(v) + ", expected STRING");
}

std::optional<uint32_t> GgufFile::find_u32(std::string_view key) const {
  return find(key) ? std::optional(get_u32(key)) : std::nullopt;
}
std::optional<uint64_t> GgufFile::find_u64(std::string_view key) const {
  return find(key) ? std::optional(get_u64(key)) : std::nullopt;
}
std::optional<float> GgufFile::find_f32(std::string_view key) const {
  return find(key) ? std::optional(get_f32(key)) : std::nullopt;
}
std::optional<bool> GgufFile::find_bool(std::string_view key) const {
  return find(key) ? std::optional(get_bool(key)) : std::nullopt;
}
std::optional<std::string> GgufFile::find_string(std::string_view key) const {
  return find(key) ? std::optional(get_string(key)) : std::nullopt;
}

std::vector<std::string> GgufFile::get_string_array(std::string_view key) const {
  const GgufValue& v = require(key);
  if (const auto* a = v.get_if<GgufArray>())
    if (const auto* s = std::get_if<std::vector<std::string>>(&a->elements)) return *s;
  fail("metadata key " + quote_name(key) + " has type " + type_description(v) + ", expected ARRAY of STRING");
}

std::vector<float> GgufFile::get_f32_array(std::string_view key) const {
  const GgufValue& v = require(key);
  if (const auto* a = v.get_if<GgufArray>()) {
    if (const auto* f = std::get_if<std::vector<float>>(&a->elements)) return *f;
    if (const auto* d = std::get_if<std::vector<double>>(&a->elements)) {
      std::vector<float> converted;
      converted.reserve(d->size());
      for (size_t i = 0; i < d->size(); ++i)
        converted.push_back(to_float((*d)[i], key, " element " + std::to_string(i)));
      return converted;
    }
  }
  fail("metadata key " + quote_name(key) + " has type " + type_description(v) +
       ", expected ARRAY of FLOAT32 or FLOAT64");
}

std::vector<int32_t> GgufFile::get_i32_array(std::string_view key) const {
  const GgufValue& v = require(key);
  if (const auto* a = v.get_if<GgufArray>()) {
    std::optional<std::vector<int32_t>> out = std::visit(
        [&](const auto& elements) -> std::optional<std::vector<int32_t>> {
          using T = typename std::decay_t<decltype(elements)>::value_type;
          if constexpr (kIsInteger<T>) {
            std::vector<int32_t> converted;
            converted.reserve(elements.size());
            for (size_t i = 0; i < elements.size(); ++i) {
              if (!std::in_range<int32_t>(elements[i]))
                fail("metadata key " + quote_name(key) + " element " + std::to_string(i) + " holds " +
                     std::to_string(elements[i]) + ", which does not fit in int32");
              converted.push_back(static_cast<int32_t>(elements[i]));
            }
            return converted;
          } else {
            return std::nullopt;
          }
        },
        a->elements);
    if (out) return std::move(*out);
  }
  fail("metadata key " + quote_name(key) + " has type " + type_description(v) + ", expected ARRAY of an integer type");
}

}  // namespace ckv
