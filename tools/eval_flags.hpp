// Flag parsing and progress display shared by the evaluation commands (ckv heads, ckv niah).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ckv::cli {

// "512,1024" → {512, 1024}; throws std::invalid_argument naming the flag and the bad item.
std::vector<uint32_t> parse_length_list(const std::string& text, const char* flag);
std::vector<double> parse_number_list(const std::string& text, const char* flag);
std::vector<std::string> parse_name_list(const std::string& text, const char* flag);

// A one-line progress bar on stderr, drawn only when stderr is a terminal.
class ProgressBar {
 public:
  ProgressBar(std::string label, uint32_t total);
  ~ProgressBar();
  void step(const std::string& note);  // one item done
 private:
  std::string label_;
  uint32_t total_, done_ = 0;
  bool enabled_;
};

}  // namespace ckv::cli
