#include "engine/gguf/gguf_value.hpp"

#include <array>

namespace ckv {

std::string gguf_value_type_name(uint32_t type_id) {
  static constexpr std::array<const char*, kGgufValueTypeCount> kNames = {
      "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
      "BOOL",  "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"};
  if (type_id < kNames.size()) return kNames[type_id];
  return "type " + std::to_string(type_id);
}

size_t GgufArray::size() const {
  return std::visit([](const auto& v) { return v.size(); }, elements);
}

}  // namespace ckv
