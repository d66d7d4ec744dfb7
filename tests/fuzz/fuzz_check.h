// FUZZ_CHECK(condition): an oracle in a fuzz target. When the condition is
// false it prints the file, line and condition and aborts, which libFuzzer
// reports as a crash and saves the input that caused it.
#ifndef ROTOR_TESTS_FUZZ_FUZZ_CHECK_H_
#define ROTOR_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                          \
  do {                                                                 \
    if (!(condition)) {                                                \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, \
                   __LINE__, #condition);                              \
      std::abort();                                                    \
    }                                                                  \
  } while (false)

#endif  // ROTOR_TESTS_FUZZ_FUZZ_CHECK_H_
