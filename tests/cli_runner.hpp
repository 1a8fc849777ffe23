// Runs the built `ckv` binary as a user would and captures its exit code, stdout and stderr.
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "paths.hpp"

namespace ckv::test {

struct CliResult {
  int exit_code = -1;
  std::string out, err;
  // Lines of stderr without the validation layer's noise-free guarantee: every line counts.
  std::vector<std::string> err_lines() const {
    std::vector<std::string> lines;
    std::istringstream in(err);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) lines.push_back(line);
    return lines;
  }
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `ckv <args...>` from the build tree; stdout and stderr go to temporary files.
inline CliResult run_ckv(const std::vector<std::string>& args) {
  static int counter = 0;
  const auto dir = std::filesystem::temp_directory_path();
  const std::string stem = "ckv_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  const auto out_path = dir / (stem + ".out"), err_path = dir / (stem + ".err");
  std::string command = shell_quote((binary_dir() / "tools/ckv").string());
  for (const auto& a : args) {
    command += ' ';
    command += shell_quote(a);
  }
  command += " >" + shell_quote(out_path.string()) + " 2>" + shell_quote(err_path.string()) + " </dev/null";
  const int status = std::system(command.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_text(out_path);
  r.err = read_text(err_path);
  std::filesystem::remove(out_path);
  std::filesystem::remove(err_path);
  return r;
}

// A fresh empty directory for one test's files.
inline std::filesystem::path fresh_temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("ckv_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace ckv::test
