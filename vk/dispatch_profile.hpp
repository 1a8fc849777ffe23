// Per-pipeline GPU time, collected when CKV_PROFILE=1: every dispatch is followed by a timestamp, and the time
// since the previous timestamp is charged to the dispatch's pipeline. A table is printed to stderr at exit.
#pragma once
#include <cstdint>
#include <string>

namespace ckv::vk {

// Whether command streams created now record a timestamp after every dispatch.
bool dispatch_profiling_enabled();
// Whether CKV_PROFILE asks for it.
bool dispatch_profiling_requested();
// Turns profiling on or off for command streams created from now on, whatever CKV_PROFILE says (e.g. to profile
// extra decode steps after unprofiled timed ones).
void set_dispatch_profiling(bool on);
void add_dispatch_time(const std::string& pipeline, double ns);
// The table sorted by total time (also printed at exit when profiling is on).
std::string dispatch_profile_report();
// Forgets the times collected so far (e.g. to profile one phase of a run on its own).
void reset_dispatch_profile();

}  // namespace ckv::vk
