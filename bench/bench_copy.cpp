// Copy bandwidth: the reference every bandwidth-bound kernel is compared with (bytes read + bytes written).
#include <cstring>

#include "bench.hpp"
#include "engine/ops/copy.hpp"
#include "vk/transfer.hpp"

namespace ckv::bench {

namespace {
std::string copy_case_name(uint64_t bytes, bool transfer, uint64_t piece_limit) {
  std::string name = std::string(transfer ? "copy (transfer) " : "copy ") + std::to_string(bytes >> 20) + " MiB";
  if (piece_limit) name += " in " + std::to_string(piece_limit >> 20) + " MiB dispatches";
  return name;
}
}  // namespace

// transfer: vkCmdCopyBuffer instead of the compute shader (the driver's own copy, for comparison).
// piece_limit: bind and dispatch at most this many bytes at a time (0: as much as the storage-buffer range allows),
// which tells a slow large buffer apart from a slow large dispatch.
BenchResult measure_copy(vk::Context& ctx, uint64_t bytes, int warmup, int repeats, bool transfer,
                         uint64_t piece_limit) {
  vk::Device& device = ctx.device();
  uint64_t piece = std::min<uint64_t>(bytes, device.info().max_storage_buffer_range & ~uint64_t(255));
  if (piece_limit) piece = std::min(piece, piece_limit);
  vk::Buffer src(device, bytes, vk::MemoryKind::DeviceLocal, "bench copy src");
  vk::Buffer dst(device, bytes, vk::MemoryKind::DeviceLocal, "bench copy dst");
  std::vector<uint32_t> pattern(std::min<uint64_t>(1 << 16, bytes / 4));
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = uint32_t(i * 2654435761u);
  for (uint64_t off = 0; off < bytes; off += pattern.size() * 4)
    vk::upload_bytes(device, src, pattern.data(), std::min<uint64_t>(pattern.size() * 4, bytes - off), off);
  auto record = [&](vk::CommandStream& s) {
    s.set_auto_barrier(false);  // the pieces are independent
    for (uint64_t off = 0; off < bytes; off += piece) {
      const uint64_t n = std::min(piece, bytes - off);
      if (transfer)
        s.copy(vk::BufferRange(src, off, n), vk::BufferRange(dst, off, n));
      else
        ops::record_copy(ctx, s, vk::BufferRange(src, off, n), vk::BufferRange(dst, off, n));
    }
    s.set_auto_barrier(true);
  };
  const Timing t = time_on_gpu(ctx, record, warmup, repeats);
  // Verify the first and the last block of the copy.
  const auto head = vk::download<uint32_t>(device, dst, pattern.size());
  const uint64_t tail_off = bytes - pattern.size() * 4;
  const auto tail = vk::download<uint32_t>(device, dst, pattern.size(), tail_off);
  const auto tail_src = vk::download<uint32_t>(device, src, pattern.size(), tail_off);
  BenchResult r;
  r.name = copy_case_name(bytes, transfer, piece_limit);
  r.shape = {{"bytes", bytes}};
  r.median_us = t.median_us;
  r.min_us = t.min_us;
  r.max_us = t.max_us;
  r.bytes = 2.0 * double(bytes);
  r.checked = head == pattern && tail == tail_src;
  r.check = "first and last " + std::to_string(pattern.size() * 4 / 1024) + " KiB equal the source";
  return r;
}

std::vector<BenchResult> bench_copy(vk::Context& ctx, const BenchOptions& options) {
  std::vector<uint64_t> sizes = options.preset == Preset::Gpu
                                    ? std::vector<uint64_t>{64ull << 20, 128ull << 20, 256ull << 20, 1ull << 30}
                                    : std::vector<uint64_t>{16ull << 20};
  std::vector<BenchResult> results;
  auto add = [&](uint64_t bytes, bool transfer, uint64_t piece_limit) {  // whether the filter let the case run
    const std::string name = copy_case_name(bytes, transfer, piece_limit);
    if (!options.filter.empty() && name.find(options.filter) == std::string::npos) return false;
    results.push_back(measure_copy(ctx, bytes, options.warmup, options.repeats, transfer, piece_limit));
    return true;
  };
  for (bool transfer : {false, true})
    for (uint64_t bytes : sizes) add(bytes, transfer, 0);
  if (options.preset == Preset::Gpu) {
    add(512ull << 20, false, 0);
    add(1ull << 30, false, 256ull << 20);  // same buffer size as above, dispatches of the fast size
    // The first size once more, after the large buffers came and went: tells a size effect from a state the
    // process got into (on an H200 it read 2.6x slower with a short warm-up, which let the clock drop;
    // bench/RESULTS.md run 13).
    if (add(sizes.front(), false, 0)) results.back().name += " again";
  }
  return results;
}

}  // namespace ckv::bench
