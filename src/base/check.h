// TANDEM_CHECK: broken invariants are bugs; abort with file and line.
// Expected failures use Status / Result<T> instead (base/status.h).
#pragma once

#include <string>

namespace tandem::detail {
[[noreturn]] void check_failed(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace tandem::detail

#define TANDEM_CHECK(cond, ...)                                                        \
  do {                                                                                 \
    if (__builtin_expect(!(cond), 0))                                                  \
      ::tandem::detail::check_failed(__FILE__, __LINE__, #cond, std::string(__VA_ARGS__)); \
  } while (0)
