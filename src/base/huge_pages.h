// Memory for large streamed buffers (packed weights, O_DIRECT staging,
// bandwidth probes): 2 MiB-aligned, a whole number of 2 MiB pages, and
// advised for transparent huge pages, so that streaming it takes no TLB miss
// per 4 KiB and a disk request can take it in few segments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace tandem {

constexpr size_t kHugePageBytes = size_t{2} << 20;

struct HugePagesFree {
  void operator()(uint8_t* p) const;
};
using HugePages = std::unique_ptr<uint8_t, HugePagesFree>;

// At least `bytes` (rounded up to 2 MiB), untouched; null when out of
// memory. The huge-page advice is a hint: without it only speed suffers.
HugePages alloc_huge_pages(size_t bytes);

}  // namespace tandem
