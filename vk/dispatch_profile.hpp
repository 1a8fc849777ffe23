// Per-pipeline GPU time, collected when CKV_PROFILE=1: every dispatch is followed by a timestamp, and the time
// since the previous timestamp is charged to the dispatch's pipeline. A table is printed to stderr at exit.
#pragma once
#include <cstdint>
#include <string>

namespace ckv::vk {

bool dispatch_profiling_enabled();
void add_dispatch_time(const std::string& pipeline, double ns);
// The table sorted by total time (also printed at exit when profiling is on).
std::string dispatch_profile_report();
// Forgets the times collected so far (e.g. to profile one phase of a run on its own).
void reset_dispatch_profile();

}  // namespace ckv::vk
