#include "base/hash.h"

#include <openssl/evp.h>

#include "base/check.h"

namespace tandem {

bool Hash256::is_zero() const {
  for (uint8_t b : bytes)
    if (b != 0) return false;
  return true;
}

std::string Hash256::hex() const {
  static const char* kDigits = "0123456789abcdef";
  std::string s(64, '0');
  for (size_t i = 0; i < 32; ++i) {
    s[2 * i] = kDigits[bytes[i] >> 4];
    s[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return s;
}

std::optional<Hash256> Hash256::from_hex(std::string_view s) {
  if (s.size() != 64) return std::nullopt;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  Hash256 h;
  for (size_t i = 0; i < 32; ++i) {
    int hi = nib(s[2 * i]), lo = nib(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    h.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return h;
}

const char* hash_kind_name(HashKind kind) { return kind == HashKind::kBlake3 ? "blake3" : "sha256"; }

Hash256 sha256(const void* data, size_t n) {
  Hash256 h;
  unsigned int len = 0;
  // EVP_Digest is the one-shot form; with OpenSSL 3 it uses SHA-NI when present.
  int ok = EVP_Digest(data, n, h.bytes.data(), &len, EVP_sha256(), nullptr);
  TANDEM_CHECK(ok == 1 && len == 32, "EVP_Digest(sha256) failed");
  return h;
}

}  // namespace tandem
