// The dynamic inference batcher, with the semantics of NVIDIA Triton's dynamic batcher.
//
// Requests (1..max_batch_size rows of row_bytes bytes each) are queued from any thread. An idle
// instance thread takes the head of the queue, in priority order (level 0 first) and FIFO within a
// level, as long as the rows fit in max_batch_size, and dispatches it when
//   - the batch is full: max_batch_size rows, or the next request does not fit; or
//   - a preferred batch size can be formed: the largest such prefix goes at once; or
//   - the oldest request of the batch has waited max_queue_delay_us; or
//   - the batcher is draining (closing with drain=true).
// Otherwise it waits for more requests until that delay runs out. The chosen rows are copied into
// the instance's buffer (from the allocator), the model runs once on them, and every request of
// the batch completes with the shared output and its own row range, or with the batch's error.
//
// A full queue (max_queue_size requests waiting) refuses a request at once (QueueFull). A request
// still queued at its deadline is removed and completes with RequestTimeout: the instance threads
// never dispatch one past its deadline, and a reaper thread removes it even while every instance
// is busy. close(drain) stops accepting requests (BatcherClosed) and either runs what is queued
// or completes it with BatcherClosed; it returns once the threads have stopped.
//
// Threads: `instances` instance threads (each runs one batch at a time, so up to `instances`
// batches run concurrently) and one reaper. Request::complete() and the model run with no batcher
// lock held. An instance completes its batch's requests itself when it has nothing else to do
// (the lowest latency); when the next batch is already waiting, it hands them to the reaper and
// starts the next model call first, so that their callers, woken all at once, do not compete
// with that call for the GIL (or the CPU).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "seawall/serving/allocator.h"

namespace seawall::serving {

namespace detail {
struct BatcherState;
}  // namespace detail

using Clock = std::chrono::steady_clock;

struct BatcherOptions {
  int64_t max_batch_size = 32;  // rows per batch, >= 1
  int64_t max_queue_delay_us = 0;
  // Batch sizes (rows) to dispatch as soon as they can be formed, each in 1..max_batch_size.
  std::vector<int64_t> preferred_batch_sizes;
  int64_t max_queue_size = 0;      // requests waiting; 0: unbounded
  int64_t default_timeout_us = 0;  // queue timeout of requests that give none; 0: none
  int priority_levels = 1;         // priorities 0 (highest) .. priority_levels - 1
  int default_priority = -1;       // priority of requests that give none; -1: the lowest level
  int instances = 1;               // batches that may run at once
  int64_t row_bytes = 0;           // bytes per row, >= 0
  // How long an idle instance, and a caller about to wait for a result expected soon, poll
  // before they sleep (0: never). Waking a sleeping thread costs tens of microseconds on an idle
  // virtual machine, more than the batcher's own work per request; polling is bounded by this.
  int64_t spin_us = 50;

  // Throws InvalidInput naming the first bad option.
  void validate() const;
};

// What a model returns for a batch, shared by every request of that batch; each request reads its
// own rows [offset, offset + rows) of it.
class BatchOutput {
 public:
  virtual ~BatchOutput() = default;
  // The output's rows: must equal the batch's rows, else the batch fails.
  virtual int64_t rows() const = 0;
};

// One call to the batcher, from submit() to complete(). The caller owns it and keeps it, and the
// rows it points at, alive and unchanged until complete() has been called (or cancel() returned
// true).
class Request {
 public:
  Request(const void* rows, int64_t num_rows, int priority = -1, int64_t timeout_us = -1)
      : data(static_cast<const std::byte*>(rows)),
        num_rows(num_rows),
        priority(priority),
        timeout_us(timeout_us) {}
  virtual ~Request() = default;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  const std::byte* data;
  int64_t num_rows;
  int priority;        // -1: the batcher's default
  int64_t timeout_us;  // -1: the batcher's default; 0: none

  // Set before complete(): on success the batch's output and this request's first row in it;
  // on failure the error (the model's exception, RequestTimeout, BatcherClosed...).
  std::shared_ptr<const BatchOutput> output;
  int64_t offset = 0;
  std::exception_ptr error;

 protected:
  friend struct detail::BatcherState;
  // Called exactly once per submitted request, from a batcher thread or from close(), with no
  // batcher lock held; the batcher does not touch the request afterwards. Must be quick and must
  // not call back into the batcher's submit.
  virtual void complete() = 0;

 private:
  Clock::time_point enqueued_{};
  Clock::time_point deadline_ = Clock::time_point::max();
  int level_ = 0;
};

// A request that a thread waits on.
class WaitableRequest : public Request {
 public:
  using Request::Request;
  void wait();
  // Waits at most `timeout`; true when complete.
  bool wait_for(std::chrono::microseconds timeout);
  // Polls (yielding the CPU) for at most `budget`, without sleeping; true when complete.
  bool poll_for(std::chrono::microseconds budget);

 protected:
  void complete() override;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<bool> polled_done_{false};  // done_, readable without the mutex
};

// The rows of one batch, as a model sees them.
struct Batch {
  // rows * row_bytes bytes at buffer->data(). A model that needs the memory past its call (the
  // Python bindings, when the model kept the batch array) may move the buffer out; the instance
  // then allocates a new one.
  std::unique_ptr<BatchBuffer> buffer;
  int64_t rows = 0;
  int64_t row_bytes = 0;
  int instance = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  // Runs one batch; throwing fails exactly the requests of this batch (with that exception).
  // Called from up to `instances` threads at once.
  virtual std::shared_ptr<const BatchOutput> run(Batch& batch) = 0;
  // Wraps the whole life of an instance thread: must call loop() once and return after it does.
  // The Python bindings create the thread's interpreter state here.
  virtual void instance_thread(int instance, const std::function<void()>& loop) {
    (void)instance;
    loop();
  }
};

// count, sum and quantiles of a latency in microseconds (quantiles 0 while count is 0).
struct LatencySummary {
  uint64_t count = 0;
  double sum = 0, mean = 0, min = 0, max = 0, p50 = 0, p90 = 0, p99 = 0;
};

// How many times something happened, and its total duration in nanoseconds (as Triton's
// statistics count them: the mean is ns / count).
struct DurationTotal {
  uint64_t count = 0;
  uint64_t ns = 0;
  void add(uint64_t times, uint64_t each_ns) {
    count += times;
    ns += times * each_ns;
  }
};

// The phases of the batches of one size, per batch.
struct BatchSizeStats {
  DurationTotal compute_input;   // from the batch being taken to the model call: copying its rows
  DurationTotal compute_infer;   // the model call
  DurationTotal compute_output;  // from the end of the call until its last request completed
};

// Counters since construction. requests = completed + failed + timed_out + cancelled + queued +
// running, once no submit or completion is in progress.
struct BatcherStats {
  uint64_t requests = 0;   // accepted into the queue
  uint64_t rejected = 0;   // refused at submit: queue full or closed
  uint64_t completed = 0;  // completed with an output
  uint64_t failed = 0;     // completed with their batch's error
  uint64_t timed_out = 0;  // removed from the queue at their deadline
  uint64_t cancelled = 0;  // removed by close(drain=false) or cancel()
  uint64_t queued = 0;     // waiting now
  uint64_t running = 0;    // in a batch being run now
  uint64_t batches = 0;    // model calls
  uint64_t failed_batches = 0;
  uint64_t rows = 0;  // rows sent to the model
  std::map<int64_t, uint64_t> batch_size_histogram;  // rows per batch -> batches
  LatencySummary queue_wait_us;  // per dispatched request: queued until its batch was taken
  LatencySummary compute_us;     // per batch: the model call
  // Per request, in nanoseconds, as Triton's inference statistics: `queue` counts each request
  // whose batch was taken; the compute phases count each request of a batch that ran (completed
  // or failed) with its batch's durations (see BatchSizeStats). compute_output is counted just
  // after the request completes, so a caller woken by the completion may not see it yet.
  DurationTotal queue, compute_input, compute_infer, compute_output;
  std::map<int64_t, BatchSizeStats> batch_stats;  // rows per batch -> its phases, per batch
};

class Batcher {
 public:
  // Validates the options (InvalidInput), allocates one buffer per instance and starts the
  // threads.
  Batcher(BatcherOptions options, std::shared_ptr<Model> model,
          std::shared_ptr<BatchAllocator> allocator = cpu_allocator());
  // close(false), then joins the threads; from one of the batcher's own threads (a model that
  // drops the last reference) it detaches them instead, and they stop on their own.
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues the request, or throws at once without queueing it: InvalidInput (rows outside
  // 1..max_batch_size, priority outside -1..priority_levels - 1, timeout below -1), QueueFull,
  // BatcherClosed. Once it returns, complete() will be called exactly once.
  void submit(Request& request);
  // Removes a request that is still queued: true if it was (it is then never completed), false if
  // its batch has been taken or it has completed.
  bool cancel(Request& request);
  // Waits for a submitted request by polling, briefly, when its result is expected within
  // options().spin_us (from recent requests) and no other caller is polling; true when complete.
  // Otherwise, or if it is not complete by then, returns false at once: wait() on it then.
  bool wait_briefly(WaitableRequest& request);
  // Stops accepting requests. drain: queued requests still run, at once (no queue delay);
  // otherwise they complete with BatcherClosed. Returns true when every thread has stopped (so
  // every request has completed); from one of the batcher's threads (a model closing its own
  // batcher) it returns false at once, without waiting. Idempotent; a later close(false) cancels
  // what a draining close left queued.
  bool close(bool drain = true);
  bool closed() const;

  BatcherStats stats() const;
  // Sets the counters and latencies back to zero, as if the batcher had just been made; requests
  // queued or running now stay counted in `requests` (so that the invariant of BatcherStats
  // holds). A server resets its batcher after the model's warm-up.
  void reset_stats();
  const BatcherOptions& options() const;

 private:
  void join();
  bool on_own_thread() const;

  std::shared_ptr<detail::BatcherState> state_;  // shared with the threads
  std::mutex join_mutex_;
  std::vector<std::thread> threads_;  // the instances, then the reaper
};

}  // namespace seawall::serving
