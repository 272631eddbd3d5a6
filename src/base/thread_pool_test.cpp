#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace tandem {
namespace {

TEST(ThreadPoolTest, CoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (size_t n : {0u, 1u, 7u, 1000u, 12345u}) {
      std::vector<std::atomic<int>> hits(n);
      pool.parallel_for(n, 3, [&](size_t b, size_t e) {
        for (size_t i = b; i < e; ++i) hits[i].fetch_add(1);
      });
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "threads=" << threads;
    }
  }
}

TEST(ThreadPoolTest, ManyCallsInARow) {
  ThreadPool pool(4);
  std::atomic<long> sum{0};
  for (int it = 0; it < 2000; ++it) {
    pool.parallel_for(64, 1, [&](size_t b, size_t e) { sum.fetch_add(static_cast<long>(e - b)); });
  }
  EXPECT_EQ(sum.load(), 2000L * 64);
}

}  // namespace
}  // namespace tandem
