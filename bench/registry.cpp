#include "bench.hpp"

namespace ckv::bench {

std::vector<BenchSuite> all_suites() {
  return {
      {"copy", bench_copy},
  };
}

}  // namespace ckv::bench
