#include "eval_flags.hpp"

#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace ckv::cli {

namespace {

std::vector<std::string> items(const std::string& text, const char* flag) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (item.empty()) throw std::invalid_argument(std::string(flag) + ": empty item in '" + text + "'");
    out.push_back(item);
  }
  if (out.empty()) throw std::invalid_argument(std::string(flag) + " is empty");
  return out;
}

}  // namespace

std::vector<uint32_t> parse_length_list(const std::string& text, const char* flag) {
  std::vector<uint32_t> out;
  for (const auto& item : items(text, flag)) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v <= 0 || v > 1 << 24)
      throw std::invalid_argument(std::string(flag) + ": '" + item + "' is not a positive token count");
    out.push_back(uint32_t(v));
  }
  return out;
}

std::vector<double> parse_number_list(const std::string& text, const char* flag) {
  std::vector<double> out;
  for (const auto& item : items(text, flag)) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size()) throw std::invalid_argument(std::string(flag) + ": '" + item + "' is not a number");
    out.push_back(v);
  }
  return out;
}

std::vector<std::string> parse_name_list(const std::string& text, const char* flag) { return items(text, flag); }

ProgressBar::ProgressBar(std::string label, uint32_t total)
    : label_(std::move(label)), total_(total), enabled_(isatty(STDERR_FILENO) != 0) {}

ProgressBar::~ProgressBar() {
  if (enabled_) std::fprintf(stderr, "\r\033[K");
}

void ProgressBar::step(const std::string& note) {
  ++done_;
  if (!enabled_ || total_ == 0) return;
  const int width = 30, filled = int(uint64_t(width) * done_ / total_);
  std::fprintf(stderr, "\r\033[K%s [%.*s%*s] %u/%u %s", label_.c_str(), filled, "##############################",
               width - filled, "", done_, total_, note.c_str());
  std::fflush(stderr);
}

}  // namespace ckv::cli
