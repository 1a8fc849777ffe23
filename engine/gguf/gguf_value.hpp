// GGUF metadata values. The alternatives of both variants are ordered by GGUF value type id, so
// `value.index()` is the type id (UINT8 = 0 ... FLOAT64 = 12) and `array.elements.index()` the element type id.
// Arrays hold one typed vector (a u8 array of n elements costs n bytes), nested arrays a vector of GgufArray.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ckv {

enum class GgufValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};
inline constexpr uint32_t kGgufValueTypeCount = 13;

// "UINT8" ... "FLOAT64", or "type <id>" for an id outside the enum.
std::string gguf_value_type_name(uint32_t type_id);
inline std::string gguf_value_type_name(GgufValueType type) {
  return gguf_value_type_name(static_cast<uint32_t>(type));
}

struct GgufArray {
  std::variant<std::vector<uint8_t>, std::vector<int8_t>, std::vector<uint16_t>, std::vector<int16_t>,
               std::vector<uint32_t>, std::vector<int32_t>, std::vector<float>, std::vector<bool>,
               std::vector<std::string>, std::vector<GgufArray>, std::vector<uint64_t>, std::vector<int64_t>,
               std::vector<double>>
      elements;

  GgufValueType element_type() const { return static_cast<GgufValueType>(elements.index()); }
  size_t size() const;
};

struct GgufValue {
  std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool, std::string, GgufArray,
               uint64_t, int64_t, double>
      value;

  GgufValueType type() const { return static_cast<GgufValueType>(value.index()); }
  // Pointer to the alternative T, or nullptr when the value holds another type.
  template <typename T>
  const T* get_if() const { return std::get_if<T>(&value); }
};

// Compile-time check of the ordering that type() and element_type() rely on.
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(GgufValueType::STRING),
                                                        decltype(GgufValue::value)>, std::string>);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(GgufValueType::ARRAY),
                                                        decltype(GgufValue::value)>, GgufArray>);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(GgufValueType::FLOAT64),
                                                        decltype(GgufArray::elements)>, std::vector<double>>);
static_assert(std::variant_size_v<decltype(GgufValue::value)> == kGgufValueTypeCount);

}  // namespace ckv
