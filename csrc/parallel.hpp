// Thread-count control, exception transport out of OpenMP regions,
// cooperative cancellation, and the one parallel loop of the native core.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace tsne {

// Thrown when the caller's interrupt check asks the computation to stop.
class Interrupted : public std::exception {
public:
    const char* what() const noexcept override { return "computation interrupted"; }
};

// Returns true when the computation should stop (e.g. Ctrl-C was pressed).
// Called only from the thread that started the computation.
using InterruptCheck = std::function<bool()>;

struct RunOptions {
    int n_threads = 1;
    InterruptCheck interrupt_check;  // may be empty
};

inline bool compiled_with_openmp() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

inline int current_thread_index() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Coordinates one parallel loop: keeps the first exception thrown by any worker
// (exceptions must not escape an OpenMP region), polls the interrupt check from
// the calling thread at most every `poll_interval`, and tells workers to stop
// early once either happened.  `rethrow()` is called after the region.
class ParallelGuard {
public:
    explicit ParallelGuard(const RunOptions& options)
        : check_(options.interrupt_check), last_poll_(std::chrono::steady_clock::now()) {}

    bool should_stop() const { return stop_.load(std::memory_order_relaxed); }

    // For long loops inside a unit of work: thread 0 polls the interrupt check;
    // every thread learns whether to stop.
    bool checkpoint() {
        if (current_thread_index() == 0) poll();
        return should_stop();
    }

    // Runs `body` (one unit of work, e.g. a block of rows) unless the loop is
    // stopping, and records its exception, if any.
    template <class Body>
    void run(Body&& body) {
        try {
            if (checkpoint()) return;
            body();
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!error_) error_ = std::current_exception();
            stop_.store(true, std::memory_order_relaxed);
        }
    }

    void rethrow() const {
        if (error_) std::rethrow_exception(error_);
        if (interrupted_) throw Interrupted();
    }

private:
    void poll() {
        if (!check_) return;
        const auto now = std::chrono::steady_clock::now();
        if (now - last_poll_ < std::chrono::milliseconds(100)) return;
        last_poll_ = now;
        if (check_()) {
            interrupted_ = true;
            stop_.store(true, std::memory_order_relaxed);
        }
    }

    const InterruptCheck& check_;
    std::chrono::steady_clock::time_point last_poll_;
    std::atomic<bool> stop_{false};
    bool interrupted_ = false;  // written by thread 0 only, read after the region
    std::mutex mutex_;
    std::exception_ptr error_;
};

// The number of blocks of `size` items that cover n items.
inline std::int64_t block_count(std::int64_t n, std::int64_t size) {
    return (n + size - 1) / size;
}

// The parallel loop of the core: body(b, scratch, guard) for every block b in
// [0, n_blocks), on max(1, options.n_threads) threads taking one block at a
// time (blocks differ in cost).  Each thread default-constructs one Scratch and
// hands it to setup(scratch) once before its first block.  Setup and every block
// run under guard.run: the first exception is kept and rethrown after the
// region, and once it was thrown or the interrupt check asked to stop, blocks
// not yet begun are skipped.  A long block calls guard.checkpoint() between its
// steps and returns early when that is true.  Which thread runs a block must not
// change its result.
template <class Scratch, class Setup, class Body>
void for_each_block(std::int64_t n_blocks, const RunOptions& options, Setup&& setup,
                    Body&& body) {
    ParallelGuard guard(options);
#pragma omp parallel num_threads(std::max(1, options.n_threads))
    {
        Scratch scratch;
        guard.run([&] { setup(scratch); });
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t b = 0; b < n_blocks; ++b) {
            guard.run([&] { body(b, scratch, guard); });
        }
    }
    guard.rethrow();
}

// The same loop without per-thread scratch: body(b, guard).
template <class Body>
void for_each_block(std::int64_t n_blocks, const RunOptions& options, Body&& body) {
    struct NoScratch {};
    for_each_block<NoScratch>(
        n_blocks, options, [](NoScratch&) {},
        [&](std::int64_t b, NoScratch&, ParallelGuard& guard) { body(b, guard); });
}

}  // namespace tsne
