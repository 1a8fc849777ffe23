// Memory-state probe (GPU preset, only when CKV_MEMORY_PROBE is set): a script of steps that times copies around
// other allocations, to find what made a process's copies slow after large buffers (bench/RESULTS.md run 12; run 13
// traced it to the GPU clock dropping while the host worked).
// Steps, comma-separated: cN copy N MiB (timed), bN allocate N MiB and keep it untouched, fN the same filled
// with zeros, x free everything kept, sN sleep N ms, uN N uploads of 256 KiB (each its own vk::upload_bytes call
// and submission), tN N device-to-device vkCmdCopyBuffer of 256 KiB in N submissions,
// aN N host-visible 256 KiB buffers created and freed. Example: CKV_MEMORY_PROBE=c64,b1024,c64,x,s2000,c64
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "bench.hpp"
#include "vk/transfer.hpp"

namespace ckv::bench {

std::vector<BenchResult> bench_memory_probe(vk::Context& ctx, const BenchOptions& options) {
  std::vector<BenchResult> results;
  const char* script = std::getenv("CKV_MEMORY_PROBE");
  if (!script || options.preset != Preset::Gpu) return results;
  // The whole script is checked before any step runs.
  std::vector<std::pair<char, uint64_t>> parsed;
  std::stringstream steps(script);
  for (std::string step; std::getline(steps, step, ',');) {
    if (step.empty()) continue;
    const char kind = step[0];
    const std::string count = step.substr(1);
    if (std::string("cbfxsuta").find(kind) == std::string::npos)
      throw std::invalid_argument("CKV_MEMORY_PROBE: unknown step '" + step + "' (cN, bN, fN, x, sN, uN, tN, aN)");
    if (kind == 'x' ? !count.empty() : count.empty() || count.find_first_not_of("0123456789") != std::string::npos)
      throw std::invalid_argument("CKV_MEMORY_PROBE: step '" + step + "' is not x or a letter and a number");
    parsed.push_back({kind, kind == 'x' ? 0 : std::stoull(count)});
  }
  std::vector<vk::Buffer> kept;
  std::string done;  // the steps so far, named in each result
  for (const auto& [kind, n] : parsed) {
    if (kind == 'c') {
      BenchResult r = measure_copy(ctx, n << 20, options.warmup, options.repeats);
      r.name = "probe " + (done.empty() ? std::string("start") : done) + " -> copy " + std::to_string(n) + " MiB";
      results.push_back(std::move(r));
    } else if (kind == 'b' || kind == 'f') {
      kept.emplace_back(ctx.device(), n << 20, vk::MemoryKind::DeviceLocal, "probe ballast");
      if (kind == 'f') {
        vk::CommandStream s(ctx.device());
        s.fill(kept.back(), 0);
        s.submit_and_wait();
      }
    } else if (kind == 'x') {
      kept.clear();
    } else if (kind == 'u' || kind == 't' || kind == 'a') {
      constexpr uint64_t kPiece = 256 << 10;
      vk::Buffer target(ctx.device(), kPiece, vk::MemoryKind::DeviceLocal, "probe target");
      vk::Buffer source(ctx.device(), kPiece, vk::MemoryKind::DeviceLocal, "probe source");
      const std::vector<uint8_t> bytes(kPiece, 7);
      for (uint64_t i = 0; i < n; ++i) {
        if (kind == 'u') {
          vk::upload_bytes(ctx.device(), target, bytes.data(), bytes.size());
        } else if (kind == 't') {
          vk::CommandStream s(ctx.device());
          s.copy(source, target);
          s.submit_and_wait();
        } else {
          vk::Buffer staging(ctx.device(), kPiece, vk::MemoryKind::Upload, "probe staging");
        }
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(n));
    }
    if (!done.empty()) done += ',';
    done += kind;
    if (kind != 'x') done += std::to_string(n);
  }
  return results;
}

}  // namespace ckv::bench
