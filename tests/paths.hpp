// Where the tests find the source tree (fixtures) and the build tree (the ckv binary). The compile-time paths
// can be overridden with CKV_TEST_SOURCE_DIR / CKV_TEST_BINARY_DIR, e.g. when the binaries run on another machine.
#pragma once
#include <cstdlib>
#include <filesystem>

namespace ckv::test {

inline std::filesystem::path source_dir() {
  const char* env = std::getenv("CKV_TEST_SOURCE_DIR");
  return env && *env ? env : CKV_SOURCE_DIR;
}

inline std::filesystem::path binary_dir() {
  const char* env = std::getenv("CKV_TEST_BINARY_DIR");
  return env && *env ? env : CKV_BINARY_DIR;
}

}  // namespace ckv::test
