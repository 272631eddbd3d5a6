#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>
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

TEST(ThreadPoolTest, ChunksRespectTheGrainAndShrinkTowardTheEnd) {
  ThreadPool pool(2);
  const size_t n = 1000, grain = 7;
  std::mutex mu;
  std::vector<std::pair<size_t, size_t>> chunks;
  pool.parallel_for(n, grain, [&](size_t b, size_t e) {
    std::lock_guard<std::mutex> lock(mu);
    chunks.emplace_back(b, e);
  });
  std::sort(chunks.begin(), chunks.end());
  ASSERT_FALSE(chunks.empty());
  EXPECT_EQ(chunks.front().first, 0u);
  EXPECT_EQ(chunks.back().second, n);
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].second, chunks[i + 1].first);
    EXPECT_GE(chunks[i].second - chunks[i].first, grain);
  }
  // Guided: the first claim is a quarter of the range, the last ones small.
  EXPECT_EQ(chunks.front().second - chunks.front().first, n / 4);
  EXPECT_LE(chunks.back().second - chunks.back().first, 2 * grain);
}

TEST(ThreadPoolTest, PartsSetTheClaimSize) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    const size_t n = 1000;
    std::mutex mu;
    std::vector<std::pair<size_t, size_t>> chunks;
    std::vector<std::atomic<int>> hits(n);
    pool.parallel_for(
        n, 1,
        [&](size_t b, size_t e) {
          for (size_t i = b; i < e; ++i) hits[i].fetch_add(1);
          std::lock_guard<std::mutex> lock(mu);
          chunks.emplace_back(b, e);
        },
        static_cast<size_t>(threads));
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "threads=" << threads;
    std::sort(chunks.begin(), chunks.end());
    // One thread's worth of the range in the first claim.
    EXPECT_EQ(chunks.front().second - chunks.front().first, n / static_cast<size_t>(threads));
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
