// bitdial/core/parallel.hpp — a small persistent thread pool and parallel_for for examples,
// benchmarks and the convenience front door. Engines with their own pool call the kernels' row-
// range entry points instead; results never depend on how rows are split.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bitdial {

class thread_pool {
 public:
  /// `threads` workers in total, the calling thread included (so threads - 1 are spawned).
  explicit thread_pool(std::size_t threads = std::max(1u, std::thread::hardware_concurrency()))
      : size_(std::max<std::size_t>(1, threads)) {
    for (std::size_t i = 1; i < size_; ++i) workers_.emplace_back([this, i] { worker(i); });
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_.store(true, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  std::size_t size() const noexcept { return size_; }

  /// Runs fn(task) for task in [0, tasks) over at most `threads` workers (0 = all) and waits.
  /// Task i goes to worker i % used; the first exception thrown is rethrown here.
  void run(std::size_t tasks, const std::function<void(std::size_t)>& fn, std::size_t threads = 0) {
    if (tasks == 0) return;
    const std::size_t used = std::min(tasks, threads == 0 ? size_ : std::min(threads, size_));
    if (used == 1) {
      for (std::size_t t = 0; t < tasks; ++t) fn(t);
      return;
    }
    std::unique_lock<std::mutex> call(call_m_);  // one parallel region at a time
    fn_ = &fn;
    tasks_ = tasks;
    used_ = used;
    error_ = nullptr;
    // Every worker checks in, used or not, so none can lag into the next region's fields.
    pending_.store(size_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(m_);  // pairs with the sleepers' predicate check
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    run_share(0);
    if (!spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lk(m_);
      done_.wait(lk, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

  /// The process-wide pool used when no pool is passed.
  static thread_pool& global() {
    static thread_pool pool;
    return pool;
  }

 private:
  /// Busy-waits up to ~50 µs for cond: a GEMV region lasts 100 µs – 10 ms, and a futex sleep and
  /// wake-up costs 30–50 µs, so workers and the caller spin briefly before they block.
  template <class Cond>
  static bool spin_until(Cond&& cond) noexcept {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
    for (unsigned i = 0;; ++i) {
      if (cond()) return true;
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return false;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }

  void run_share(std::size_t id) {
    try {
      for (std::size_t t = id; t < tasks_; t += used_) (*fn_)(t);
    } catch (...) {
      std::lock_guard<std::mutex> lk(m_);
      if (!error_) error_ = std::current_exception();
    }
  }
  void worker(std::size_t id) {
    std::size_t seen = 0;
    for (;;) {
      auto fresh = [&] { return generation_.load(std::memory_order_acquire) != seen; };
      if (!spin_until(fresh)) {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, fresh);
      }
      if (stop_.load(std::memory_order_acquire)) return;
      seen = generation_.load(std::memory_order_acquire);
      if (id < used_) run_share(id);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(m_);
        done_.notify_one();
      }
    }
  }

  std::size_t size_;
  std::vector<std::thread> workers_;
  std::mutex m_, call_m_;
  std::condition_variable cv_, done_;
  // Written by run() before generation_ is bumped (release); read by workers after they see it.
  const std::function<void(std::size_t)>* fn_ = nullptr;
  std::size_t tasks_ = 0, used_ = 0;
  std::exception_ptr error_;
  std::atomic<std::size_t> generation_{0}, pending_{0};
  std::atomic<bool> stop_{false};
};

/// The one row-block split every packed kernel uses: output rows [r0, r1) of weights whose rows start
/// at `offset` in a store tiled by `block` rows. `parallel(blocks, run)` receives the number of whole
/// blocks overlapping the rows and may call run(i0, i1) for any disjoint cover of [0, blocks) on any
/// threads; each call hands fn(a, b) the rows [a, b) of its blocks, relative to the weights. No two
/// calls touch one block.
template <class Parallel, class Fn>
void split_row_blocks(std::size_t offset, std::size_t r0, std::size_t r1, std::size_t block, Parallel&& parallel,
                      Fn&& fn) {
  const std::size_t b0 = (offset + r0) / block, b1 = (offset + r1 + block - 1) / block;
  parallel(b1 - b0, [&](std::size_t i0, std::size_t i1) {
    if (i0 >= i1) return;
    const std::size_t s0 = std::max(offset + r0, (b0 + i0) * block), s1 = std::min(offset + r1, (b0 + i1) * block);
    if (s0 < s1) fn(s0 - offset, s1 - offset);
  });
}

/// Splits [0, n) into `chunks` contiguous ranges and runs fn(begin, end) on the pool.
inline void parallel_for(std::size_t n, std::size_t chunks, const std::function<void(std::size_t, std::size_t)>& fn,
                         thread_pool& pool = thread_pool::global(), std::size_t threads = 0) {
  chunks = std::max<std::size_t>(1, std::min(chunks, n));
  pool.run(
      chunks, [&](std::size_t i) { fn(n * i / chunks, n * (i + 1) / chunks); }, threads);
}

}  // namespace bitdial
