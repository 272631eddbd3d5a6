#include "base/thread_pool.h"

#include <algorithm>
#include <cstdlib>

namespace tandem {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Polls that pause; later polls yield the core instead. On a quiet machine
// the answer comes within the pausing polls and nothing changes; on a shared
// or oversubscribed one (a server's I/O thread, other processes) a waiting
// thread stops burning the core that the thread it waits for needs.
constexpr int kPausePolls = 256;

inline void backoff(int i) {
  if (i < kPausePolls) {
    cpu_relax();
  } else {
    std::this_thread::yield();
  }
}

// Polls before an idle worker goes to sleep: the pausing ones (a few
// microseconds), then yielding ones (a few tens of microseconds when the core
// is free, longer when other threads take their turn).
constexpr int kSpinIterations = 256 + 64;

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
}

// Guided self-scheduling: each claim takes 1/parts_ of what is left (by
// default 1/(2 * threads)), at least `grain`. The early chunks are large (few
// claims), the last ones small, so threads finish within about one small
// chunk of each other even when one of them was descheduled for a while.
void ThreadPool::run_chunks() {
  const size_t parts = parts_;
  size_t begin = next_.load(std::memory_order_relaxed);
  while (begin < n_) {
    const size_t size = std::max(grain_, (n_ - begin) / parts);
    if (next_.compare_exchange_weak(begin, begin + size, std::memory_order_relaxed)) {
      (*fn_)(begin, std::min(n_, begin + size));
      begin = next_.load(std::memory_order_relaxed);
    }
  }
}

void ThreadPool::worker_loop(int /*index*/) {
  uint64_t seen = 0;
  for (;;) {
    bool ready = false;
    for (int i = 0; i < kSpinIterations; ++i) {
      if (generation_.load(std::memory_order_acquire) != seen || stop_.load(std::memory_order_relaxed)) {
        ready = true;
        break;
      }
      backoff(i);
    }
    if (!ready) {
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);
      cv_start_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
      sleepers_.fetch_sub(1);
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    run_chunks();
    remaining_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn,
                              size_t parts) {
  if (n == 0) return;
  grain = std::max<size_t>(1, grain);
  if (n_threads_ == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  fn_ = &fn;
  n_ = n;
  grain_ = grain;
  parts_ = parts > 0 ? parts : 2 * static_cast<size_t>(n_threads_);
  next_.store(0, std::memory_order_relaxed);
  remaining_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1);  // seq_cst: publishes the job before sleepers_ is read
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    cv_start_.notify_all();
  }
  run_chunks();
  for (int i = 0; remaining_.load(std::memory_order_acquire) != 0; ++i) backoff(i);
  fn_ = nullptr;
}

ThreadPool& ThreadPool::global() {
  static ThreadPool pool([] {
    if (const char* env = std::getenv("TANDEM_THREADS")) {
      int n = std::atoi(env);
      if (n > 0) return n;
    }
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }());
  return pool;
}

}  // namespace tandem
