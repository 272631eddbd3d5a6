// Persistent worker pool for data-parallel kernels. Threads are created once;
// parallel_for hands out index ranges and blocks until all are done. Workers
// spin briefly between calls before sleeping, so the back-to-back calls of a
// forward pass cost a few microseconds each, not a futex round trip.
// Work splitting never changes results: callers split over independent
// outputs (rows, heads), never inside a reduction, so kernels stay
// batch-invariant and thread-count invariant.
//
// Thread safety: parallel_for may be called from one thread at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tandem {

class ThreadPool {
 public:
  // n_threads counts the calling thread: n_threads == 1 runs inline.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(begin, end) over disjoint chunks covering [0, n), with chunks of
  // at least `grain` items (the last may be smaller), large ones first: each
  // claim takes 1/parts of what is left (parts 0: 2 x threads, which keeps
  // threads within a small chunk of each other when one is descheduled;
  // parts = threads halves the claims, for short calls where each claim's
  // cache-line transfer counts). Returns when all chunks are done.
  void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn, size_t parts = 0);

  // Process-wide pool sized to the hardware (TANDEM_THREADS overrides).
  static ThreadPool& global();

 private:
  void worker_loop(int index);
  void run_chunks();

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<int> remaining_{0};
  std::atomic<bool> stop_{false};

  const std::function<void(size_t, size_t)>* fn_ = nullptr;
  size_t n_ = 0;
  size_t grain_ = 1;
  size_t parts_ = 2;
  std::atomic<size_t> next_{0};
};

}  // namespace tandem
