// When and with which tiles the tensor-core prefill kernel (shaders/attention_prefill_cm.comp) can run.
#include <algorithm>
#include <bit>
#include <string>

#include "attention_prefill.hpp"
#include "coopmat_layout.hpp"
#include "shader_registry.hpp"

namespace ckv::ops {

namespace {

constexpr uint32_t kSubgroup = 32;  // the shader's lane roles assume subgroups of 32

std::string variant_name(bool khr, uint32_t head_dim, uint32_t key_cols, bool register_softmax) {
  return std::string("attention_prefill_cm_") + (khr ? "khr" : "nv") + "_d" + std::to_string(head_dim) + "_bc" +
         std::to_string(key_cols) + (register_softmax ? "_rs" : "");
}

bool has_f16_shape(const std::vector<vk::CoopMatShape>& shapes) {
  return std::any_of(shapes.begin(), shapes.end(), [](const vk::CoopMatShape& s) {
    return s.m == 16 && s.n == 16 && s.k == 16 && s.a_type == "f16" && s.b_type == "f16" && s.c_type == "f32" &&
           s.result_type == "f32" && s.scope == "subgroup";
  });
}

// Must match the shared arrays of attention_prefill_cm.comp: kv_tile (2 * BC rows of D + 8 halves) and, without
// REGISTER_SOFTMAX, s_tile (16 rows of BC + 4 floats per subgroup) and p_tile (16 rows of BC + 8 halves per subgroup).
uint32_t coopmat_shared_bytes(uint32_t head_dim, uint32_t subgroups, uint32_t key_cols, bool register_softmax) {
  const uint32_t kv = 2 * key_cols * (head_dim + 8) * 2;
  if (register_softmax) return kv;
  return kv + subgroups * 16 * (key_cols + 4) * 4 + subgroups * 16 * (key_cols + 8) * 2;
}

bool khr_usable(const vk::DeviceInfo& info, uint32_t head_dim) {
  return info.coopmat_khr && has_f16_shape(info.coopmat_shapes) && info.api_version >= VK_API_VERSION_1_3 &&
         shaders::has(variant_name(true, head_dim, 32, false));
}

bool nv_usable(const vk::DeviceInfo& info) { return info.coopmat_nv && has_f16_shape(info.coopmat_nv_shapes); }

}  // namespace

std::string PrefillAttentionCoopMatTiles::name() const {
  return std::string(khr ? "khr " : "nv ") + (register_softmax ? "rs " : "") + std::to_string(query_rows()) + "x" +
         std::to_string(key_cols);
}

CoopMatLayouts prefill_attention_coopmat_layouts(vk::Context& ctx) {
  const vk::DeviceInfo& info = ctx.device().info();
  CoopMatLayouts layouts;
  if (prefill_attention_coopmat_unsupported(info, 128, KvDtype::F16)) return layouts;
  layouts.khr_quad = khr_usable(info, 128) && coopmat_has_quad_layout(ctx, true);
  layouts.nv_quad = nv_usable(info) && coopmat_has_quad_layout(ctx, false);
  return layouts;
}

std::optional<std::string> prefill_attention_coopmat_unsupported(const vk::DeviceInfo& info, uint32_t head_dim,
                                                                 KvDtype kv_dtype) {
  if (kv_dtype != KvDtype::F16) return "the KV cache is not f16";
  if (head_dim != 64 && head_dim != 128) return "head_dim " + std::to_string(head_dim) + " is not 64 or 128";
  if (!khr_usable(info, head_dim) && !nv_usable(info)) {
    if (!info.coopmat_khr && !info.coopmat_nv) return "the device has no cooperative matrices";
    return "no usable 16x16x16 f16 x f16 -> f32 subgroup shape (KHR needs Vulkan 1.3 and a build with "
           "GL_KHR_cooperative_matrix tools; NV needs the shape in the NV list)";
  }
  if (!info.float16_arithmetic) return "no shaderFloat16";
  if (!info.vulkan_memory_model) return "no vulkanMemoryModel";
  if (!info.subgroup_shuffle) return "no subgroup shuffles";
  const bool size_settable =
      info.subgroup_size_control && info.min_subgroup_size <= kSubgroup && kSubgroup <= info.max_subgroup_size;
  if (!size_settable && info.subgroup_size != kSubgroup)
    return "subgroups of " + std::to_string(info.subgroup_size) + ", not 32, and no way to ask for 32";
  return std::nullopt;
}

std::vector<PrefillAttentionCoopMatTiles> prefill_attention_coopmat_candidates(const vk::DeviceInfo& info,
                                                                               uint32_t head_dim, KvDtype kv_dtype,
                                                                               CoopMatLayouts layouts) {
  std::vector<PrefillAttentionCoopMatTiles> tiles;
  if (prefill_attention_coopmat_unsupported(info, head_dim, kv_dtype)) return tiles;
  const bool size_settable =
      info.subgroup_size_control && info.min_subgroup_size <= kSubgroup && kSubgroup <= info.max_subgroup_size;
  // KHR first (the choice), then NV, so that benchmarks can compare both where a driver has both.
  for (bool khr : {true, false}) {
    if (khr ? !khr_usable(info, head_dim) : !nv_usable(info)) continue;
    for (bool register_softmax : {true, false}) {
      if (register_softmax && !(khr ? layouts.khr_quad : layouts.nv_quad)) continue;
      for (uint32_t subgroups : {8u, 4u, 2u})
        for (uint32_t key_cols : {64u, 32u}) {
          const uint32_t bytes = coopmat_shared_bytes(head_dim, subgroups, key_cols, register_softmax);
          if (bytes > info.shared_memory_bytes || subgroups * kSubgroup > info.max_workgroup_invocations) continue;
          if (!shaders::has(variant_name(khr, head_dim, key_cols, register_softmax))) continue;
          tiles.push_back({khr, subgroups, key_cols, size_settable ? kSubgroup : 0u, bytes, register_softmax});
        }
    }
  }
  return tiles;
}

std::optional<PrefillAttentionCoopMatTiles> choose_prefill_attention_coopmat_tiles(const vk::DeviceInfo& info,
                                                                                  uint32_t head_dim, uint32_t t_q,
                                                                                  KvDtype kv_dtype,
                                                                                  CoopMatLayouts layouts) {
  // Taller tiles stage each key tile for more queries, but rows past the chunk are wasted.
  const uint32_t row_cap = std::max<uint32_t>(32, std::bit_ceil(std::max<uint32_t>(t_q, 1)));
  const auto candidates = prefill_attention_coopmat_candidates(info, head_dim, kv_dtype, layouts);
  for (const PrefillAttentionCoopMatTiles& t : candidates)
    if (t.khr == candidates.front().khr && t.register_softmax == candidates.front().register_softmax &&
        t.query_rows() <= row_cap)
      return t;
  return std::nullopt;
}

bool prefill_attention_uses_coopmat(const vk::DeviceInfo& info, const PrefillAttentionParams& params) {
  switch (params.path) {
    case PrefillAttentionPath::Scalar: return false;
    case PrefillAttentionPath::CoopMat: return true;
    case PrefillAttentionPath::Auto: break;
  }
  if (prefill_attention_scalar_forced()) return false;
  return choose_prefill_attention_coopmat_tiles(info, params.head_dim, params.t_q, params.kv_dtype).has_value();
}

std::string prefill_attention_coopmat_variant(const PrefillAttentionCoopMatTiles& tiles, uint32_t head_dim) {
  return variant_name(tiles.khr, head_dim, tiles.key_cols, tiles.register_softmax);
}

}  // namespace ckv::ops
