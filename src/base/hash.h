// Content hashes. Hash256 is SHA-256 (OpenSSL libcrypto; SHA-NI on x86 when
// the CPU has it). The store names chunks by it; docs/store.md explains the
// choice over XXH3-128 and BLAKE3.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tandem {

struct Hash256 {
  std::array<uint8_t, 32> bytes{};

  bool operator==(const Hash256&) const = default;
  auto operator<=>(const Hash256&) const = default;
  bool is_zero() const;
  // 64 lowercase hex digits.
  std::string hex() const;
  // Parses 64 hex digits; nullopt otherwise.
  static std::optional<Hash256> from_hex(std::string_view s);
};

struct Hash256Hasher {
  size_t operator()(const Hash256& h) const {
    size_t x;
    static_assert(sizeof(x) <= sizeof(h.bytes));
    __builtin_memcpy(&x, h.bytes.data(), sizeof(x));
    return x;
  }
};

Hash256 sha256(const void* data, size_t n);
inline Hash256 sha256(std::string_view s) { return sha256(s.data(), s.size()); }

}  // namespace tandem
