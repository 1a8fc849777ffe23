#include <gtest/gtest.h>

#include <cstdlib>

#if defined(__SANITIZE_ADDRESS__)
// Sanitizer builds (-DCKV_SANITIZE=ON). The Vulkan loader, the validation layer and lavapipe keep some
// allocations for the life of the process; tests/lsan.supp suppresses leaks reported from inside them (vk::Instance
// keeps those modules loaded under ASan, so that their frames keep their module names). The fast unwinder is
// kept: the slow one makes every allocation of the driver's shader compiler take a DWARF unwind (a decode test
// went from 1 s to over 15 min). These hooks configure the test process itself; the environment set in main()
// reaches the ckv processes that the CLI tests start.
#define CKV_ASAN_OPTIONS "detect_leaks=1"
#define CKV_LSAN_OPTIONS "suppressions=" CKV_LSAN_SUPPRESSIONS ":print_suppressions=0"
extern "C" const char* __asan_default_options() { return CKV_ASAN_OPTIONS; }
extern "C" const char* __lsan_default_options() { return CKV_LSAN_OPTIONS; }
#endif

int main(int argc, char** argv) {
#if defined(__SANITIZE_ADDRESS__)
  setenv("ASAN_OPTIONS", CKV_ASAN_OPTIONS, /*overwrite=*/0);
  setenv("LSAN_OPTIONS", CKV_LSAN_OPTIONS, /*overwrite=*/0);
#endif
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
