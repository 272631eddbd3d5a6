#include "base/huge_pages.h"

#include <algorithm>
#include <cstdlib>

#include <sys/mman.h>

namespace tandem {

void HugePagesFree::operator()(uint8_t* p) const { std::free(p); }

HugePages alloc_huge_pages(size_t bytes) {
  const size_t alloc = (std::max<size_t>(bytes, 1) + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(kHugePageBytes, alloc));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p != nullptr) (void)::madvise(p, alloc, MADV_HUGEPAGE);
#endif
  return HugePages(p);
}

}  // namespace tandem
