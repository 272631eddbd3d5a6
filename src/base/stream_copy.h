// Copies with non-temporal (streaming) stores, for destinations this core
// will not read again soon: a staging buffer that a background thread
// persists, an O_DIRECT buffer that only the disk reads. Streaming stores skip
// the read-for-ownership that makes a cached copy move each destination line
// twice, and keep the source's lines in the cache. glibc's memcpy streams only
// above a size threshold (a fraction of the last-level cache).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem {

// Copies n bytes; with streaming stores when n >= min_stream_bytes (x86-64;
// elsewhere, and below the threshold, memcpy). Call store_fence() before
// another thread or the kernel reads dst.
void stream_copy(uint8_t* dst, const uint8_t* src, size_t n, size_t min_stream_bytes);

// Orders this thread's streaming stores before its later stores (sfence).
void store_fence();

}  // namespace tandem
