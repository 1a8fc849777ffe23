#include "kv_cache.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/ops/gather_rows.hpp"

namespace ckv {

KvCache::KvCache(vk::Context& ctx, const KvShape& shape, uint32_t growth_chunk)
    : ctx_(ctx), shape_(shape), growth_chunk_(std::max(growth_chunk, 1u)), layers_(shape.n_layers) {
  if (!shape.n_layers || !shape.n_kv || !shape.head_dim || shape.head_dim % 2)
    throw std::invalid_argument("KV cache needs layers, KV heads and an even head dim > 0");
}

LayerKv& KvCache::layer(uint32_t index) {
  if (index >= layers_.size())
    throw std::out_of_range("layer " + std::to_string(index) + " out of range: the cache has " +
                            std::to_string(layers_.size()) + " layers");
  return layers_[index];
}

const LayerKv& KvCache::layer(uint32_t index) const { return const_cast<KvCache*>(this)->layer(index); }

uint32_t KvCache::round_up(uint32_t tokens) const {
  return uint32_t((uint64_t(tokens) + growth_chunk_ - 1) / growth_chunk_ * growth_chunk_);
}

KvCache::Pair KvCache::allocate(uint32_t index, uint32_t capacity) {
  const uint64_t bytes = layer_bytes(capacity) / 2;
  const std::string name = "layer " + std::to_string(index) + " ";
  Pair p;
  p.k = std::make_unique<vk::Buffer>(ctx_.device(), bytes, vk::MemoryKind::DeviceLocal, name + "K cache");
  p.v = std::make_unique<vk::Buffer>(ctx_.device(), bytes, vk::MemoryKind::DeviceLocal, name + "V cache");
  allocated_ += 2 * bytes;
  peak_ = std::max(peak_, allocated_);
  return p;
}

void KvCache::retire(LayerKv& layer) {
  if (layer.k) retired_.push_back(std::move(layer.k));
  if (layer.v) retired_.push_back(std::move(layer.v));
}

void KvCache::release_retired() { release_retired(retired_.size()); }

void KvCache::release_retired(size_t count) {
  count = std::min(count, retired_.size());
  for (size_t i = 0; i < count; ++i) allocated_ -= retired_[i]->size();
  retired_.erase(retired_.begin(), retired_.begin() + std::ptrdiff_t(count));
}

void KvCache::reserve(vk::CommandStream& stream, uint32_t index, uint32_t tokens) {
  LayerKv& l = layer(index);
  if (tokens <= l.capacity) return;
  const uint32_t capacity = round_up(tokens);
  Pair fresh = allocate(index, capacity);
  if (l.length > 0) {
    const uint64_t rb = row_bytes();
    for (uint32_t g = 0; g < shape_.n_kv; ++g) {
      const uint64_t n = uint64_t(l.length) * rb;
      stream.copy(vk::BufferRange(*l.k, uint64_t(g) * l.capacity * rb, n),
                  vk::BufferRange(*fresh.k, uint64_t(g) * capacity * rb, n));
      stream.copy(vk::BufferRange(*l.v, uint64_t(g) * l.capacity * rb, n),
                  vk::BufferRange(*fresh.v, uint64_t(g) * capacity * rb, n));
    }
  }
  retire(l);
  l.k = std::move(fresh.k);
  l.v = std::move(fresh.v);
  l.capacity = capacity;
}

void KvCache::append(uint32_t index, uint32_t tokens) {
  LayerKv& l = layer(index);
  if (uint64_t(l.length) + tokens > l.capacity)
    throw std::out_of_range("layer " + std::to_string(index) + ": appending " + std::to_string(tokens) +
                            " tokens exceeds its capacity " + std::to_string(l.capacity) + " (reserve first)");
  l.length += tokens;
  l.positions += tokens;
}

void KvCache::drop_last(uint32_t index, uint32_t tokens) {
  LayerKv& l = layer(index);
  if (tokens > l.length)
    throw std::out_of_range("layer " + std::to_string(index) + ": cannot drop " + std::to_string(tokens) +
                            " of its " + std::to_string(l.length) + " tokens");
  l.length -= tokens;
  l.positions -= tokens;
}

void KvCache::compact(vk::CommandStream& stream, uint32_t index, const vk::BufferRange& indices, uint32_t index_rows,
                      uint32_t keep, uint32_t headroom) {
  LayerKv& l = layer(index);
  if (keep > l.length)
    throw std::invalid_argument("layer " + std::to_string(index) + ": cannot keep " + std::to_string(keep) +
                                " of " + std::to_string(l.length) + " tokens");
  const uint32_t capacity = round_up(std::max(keep + headroom, 1u));
  Pair fresh = allocate(index, capacity);
  ops::GatherParams p;
  p.n_kv = shape_.n_kv;
  p.row_words = uint32_t(row_bytes() / 4);
  p.src_capacity = l.capacity;
  p.dst_capacity = capacity;
  p.count = keep;
  p.index_rows = index_rows;
  if (keep > 0) {
    const vk::IndependentCommands k_and_v(stream);
    ops::record_gather_rows(ctx_, stream, p, *l.k, indices, *fresh.k);
    ops::record_gather_rows(ctx_, stream, p, *l.v, indices, *fresh.v);
  }
  retire(l);
  l.k = std::move(fresh.k);
  l.v = std::move(fresh.v);
  l.capacity = capacity;
  l.length = keep;
}

}  // namespace ckv
