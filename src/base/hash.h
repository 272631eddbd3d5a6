// 256-bit content hashes: SHA-256 (OpenSSL libcrypto; SHA-NI on x86 when the
// CPU has it) and BLAKE3 (base/blake3.cpp; AVX2 when the CPU has it). The
// store names chunks by BLAKE3 (format 3) or SHA-256 (format 2);
// docs/store.md explains the choice. All functions are thread-safe.
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

// BLAKE3 in hash mode, 32-byte output.
Hash256 blake3(const void* data, size_t n);
inline Hash256 blake3(std::string_view s) { return blake3(s.data(), s.size()); }

enum class HashKind : uint8_t { kSha256, kBlake3 };
inline Hash256 hash_bytes(HashKind kind, const void* data, size_t n) {
  return kind == HashKind::kBlake3 ? blake3(data, n) : sha256(data, n);
}
// "sha256" / "blake3".
const char* hash_kind_name(HashKind kind);

}  // namespace tandem
