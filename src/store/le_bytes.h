// Little-endian integers in the store's on-disk formats (chunk headers, pack
// indexes and footers), independent of the host's byte order.
#pragma once

#include <cstdint>

namespace tandem::store {

inline void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

inline uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

}  // namespace tandem::store
