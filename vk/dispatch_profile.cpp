#include "dispatch_profile.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

namespace ckv::vk {

namespace {

struct Entry {
  uint64_t count = 0;
  double ns = 0;
};

struct Profile {
  std::mutex mutex;
  std::map<std::string, Entry> entries;
  ~Profile() {
    if (!entries.empty()) std::fprintf(stderr, "%s", dispatch_profile_report().c_str());
  }
};

Profile& profile() {
  static Profile p;
  return p;
}

}  // namespace

namespace {
// -1: follow CKV_PROFILE; 0 / 1: set by set_dispatch_profiling().
std::atomic<int> profiling_override{-1};
}  // namespace

bool dispatch_profiling_enabled() {
  const int forced = profiling_override.load();
  if (forced >= 0) return forced == 1;
  return dispatch_profiling_requested();
}

bool dispatch_profiling_requested() {
  static const bool requested = [] {
    const char* v = std::getenv("CKV_PROFILE");
    return v && *v && std::string(v) != "0";
  }();
  return requested;
}

void set_dispatch_profiling(bool on) { profiling_override.store(on ? 1 : 0); }

void add_dispatch_time(const std::string& pipeline, double ns) {
  Profile& p = profile();
  std::lock_guard lock(p.mutex);
  Entry& e = p.entries[pipeline];
  ++e.count;
  e.ns += ns;
}

void reset_dispatch_profile() {
  Profile& p = profile();
  std::lock_guard lock(p.mutex);
  p.entries.clear();
}

std::string dispatch_profile_report() {
  Profile& p = profile();
  std::vector<std::pair<std::string, Entry>> rows;
  double total = 0;
  {
    std::lock_guard lock(p.mutex);
    rows.assign(p.entries.begin(), p.entries.end());
  }
  for (const auto& r : rows) total += r.second.ns;
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ns > b.second.ns; });
  std::string out = "GPU time per pipeline (CKV_PROFILE):\n";
  char line[256];
  for (const auto& [name, e] : rows) {
    std::snprintf(line, sizeof line, "  %-40s %8llu dispatches %12.1f us %6.1f%%  %10.2f us each\n", name.c_str(),
                  static_cast<unsigned long long>(e.count), e.ns / 1e3, total > 0 ? 100.0 * e.ns / total : 0.0,
                  e.ns / 1e3 / double(e.count));
    out += line;
  }
  return out;
}

}  // namespace ckv::vk
