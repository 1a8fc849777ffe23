#include "bench.hpp"

namespace ckv::bench {

std::vector<BenchSuite> all_suites() {
  return {
      {"copy", bench_copy},
      {"memory_probe", bench_memory_probe},
      {"prefill_attention", bench_prefill_attention},
      {"decode_attention", bench_decode_attention},
      {"decode_sweep", bench_decode_sweep},
      {"compression", bench_compression},
      {"window_scores", bench_window_scores},
      {"topk", bench_topk},
      {"matmul", bench_matmul},
      {"matvec_sweep", bench_matvec_sweep},
  };
}

}  // namespace ckv::bench
