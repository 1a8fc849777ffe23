// Element type of the KV cache.
#pragma once
#include <cstdint>

namespace ckv {

enum class KvDtype { F16, F32 };

inline uint32_t kv_dtype_bytes(KvDtype t) { return t == KvDtype::F16 ? 2 : 4; }

}  // namespace ckv
