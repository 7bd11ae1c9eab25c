#include "seawall/serving/batcher.h"

#ifdef __GLIBCXX__
#include <cxxabi.h>
#endif

#include <algorithm>
#include <cstring>
#include <deque>
#include <limits>
#include <string>
#include <utility>

#include "seawall/errors.h"
#include "seawall/sketch/kll.h"

namespace seawall::serving {

namespace {

// Requests per level, oldest first.
using Queue = std::deque<Request*>;

// The largest batch buffer allowed, in bytes: far beyond any real batch, and small enough that
// no size arithmetic on it can overflow.
constexpr int64_t kMaxBatchBytes = int64_t{1} << 46;

Clock::time_point add_us(Clock::time_point t, int64_t us) {
  const auto room = std::chrono::duration_cast<std::chrono::microseconds>(Clock::time_point::max() - t);
  return us >= room.count() ? Clock::time_point::max() : t + std::chrono::microseconds(us);
}

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

uint64_t nanos(Clock::duration d) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  return ns > 0 ? static_cast<uint64_t>(ns) : 0;
}

struct Latency {
  sketch::KllSketch sketch;
  double sum = 0;

  void add(double us) {
    sketch.update(us);
    sum += us;
  }
  LatencySummary summary() const {
    LatencySummary s;
    s.count = sketch.count();
    if (s.count == 0) return s;
    s.sum = sum;
    s.mean = sum / static_cast<double>(s.count);
    s.min = sketch.min();
    s.max = sketch.max();
    const double qs[] = {0.5, 0.9, 0.99};
    const auto values = sketch.quantiles(qs, 3);
    s.p50 = values[0];
    s.p90 = values[1];
    s.p99 = values[2];
    return s;
  }
};

}  // namespace

void BatcherOptions::validate() const {
  SEAWALL_CHECK(max_batch_size >= 1, "max_batch_size must be at least 1, got ", max_batch_size);
  SEAWALL_CHECK(max_queue_delay_us >= 0, "max_queue_delay_us must be >= 0, got ",
                max_queue_delay_us);
  for (const int64_t size : preferred_batch_sizes) {
    SEAWALL_CHECK(size >= 1 && size <= max_batch_size,
                  "preferred batch sizes must be between 1 and max_batch_size=", max_batch_size,
                  ", got ", size);
  }
  SEAWALL_CHECK(max_queue_size >= 0, "max_queue_size must be >= 0 (0: unbounded), got ",
                max_queue_size);
  SEAWALL_CHECK(default_timeout_us >= 0, "default_timeout_us must be >= 0 (0: none), got ",
                default_timeout_us);
  SEAWALL_CHECK(priority_levels >= 1, "priority_levels must be at least 1, got ", priority_levels);
  SEAWALL_CHECK(default_priority >= -1 && default_priority < priority_levels,
                "default_priority must be between 0 and priority_levels - 1 = ",
                priority_levels - 1, ", got ", default_priority);
  SEAWALL_CHECK(instances >= 1, "instances must be at least 1, got ", instances);
  SEAWALL_CHECK(row_bytes >= 0, "row_bytes must be >= 0, got ", row_bytes);
  SEAWALL_CHECK(spin_us >= 0 && spin_us <= 10'000, "spin_us must be between 0 and 10000, got ",
                spin_us);
  SEAWALL_CHECK(row_bytes == 0 || max_batch_size <= kMaxBatchBytes / row_bytes,
                "a batch of max_batch_size=", max_batch_size, " rows of ", row_bytes,
                " bytes is too large");
}

// --- waiting on a request ------------------------------------------------------------------------

void WaitableRequest::complete() {
  // Notified under the lock: the waiter may destroy the request as soon as it sees done_.
  std::lock_guard<std::mutex> lock(mutex_);
  done_ = true;
  polled_done_.store(true, std::memory_order_release);
  cv_.notify_all();
}

bool WaitableRequest::poll_for(std::chrono::microseconds budget) {
  const auto until = Clock::now() + budget;
  do {
    if (polled_done_.load(std::memory_order_acquire)) {
      // complete() may still hold the mutex: once it is released, the request is ours again.
      const std::lock_guard<std::mutex> lock(mutex_);
      return true;
    }
    std::this_thread::yield();
  } while (Clock::now() < until);
  return false;
}

void WaitableRequest::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [this] { return done_; });
}

bool WaitableRequest::wait_for(std::chrono::microseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_for(lock, timeout, [this] { return done_; });
}

// --- the shared state --------------------------------------------------------------------------

namespace detail {

// Everything the threads use. The Batcher and each thread hold it, so a batcher destroyed from
// one of its own threads can let the others finish without dangling.
struct BatcherState {
  enum class Outcome { kCompleted, kFailed, kTimedOut, kCancelled };

  // What an idle instance should do now: take `take` requests in queue order, or wait until
  // `wake` (max: until notified).
  struct Plan {
    size_t take = 0;
    Clock::time_point wake = Clock::time_point::max();
  };

  // Requests whose batch has run, with their results set, waiting to be completed.
  struct Done {
    std::vector<Request*> requests;
    Outcome outcome = Outcome::kCompleted;
    Clock::time_point ran{};  // when the batch's model call ended
    int64_t rows = 0;         // the batch's rows
  };
  // Runs the batch and leaves its requests in `done`. The previous ones (in `done` on entry) go
  // to the reaper first, to be completed while this batch runs.
  BatcherState(BatcherOptions o, std::shared_ptr<Model> m, std::shared_ptr<BatchAllocator> a)
      : options(std::move(o)),
        model(std::move(m)),
        allocator(std::move(a)),
        preferred(static_cast<size_t>(options.max_batch_size) + 1, false),
        queues(static_cast<size_t>(options.priority_levels)),
        default_level(options.default_priority < 0 ? options.priority_levels - 1
                                                   : options.default_priority) {
    for (const int64_t size : options.preferred_batch_sizes) preferred[size] = true;
  }

  const BatcherOptions options;
  const std::shared_ptr<Model> model;
  const std::shared_ptr<BatchAllocator> allocator;
  std::vector<bool> preferred;  // preferred[rows]

  mutable std::mutex mutex;  // the queues and flags below; taken before stats_mutex, never after
  std::condition_variable work_cv;
  std::condition_variable reaper_cv;
  std::vector<Queue> queues;
  const int default_level;
  size_t queued = 0;
  int64_t queued_rows = 0;
  // Instances waiting for the queue's head to become a batch (a timer runs), and for any request.
  int filling = 0;
  int idle = 0;
  int live_instances = 0;
  std::vector<Done> handoff;  // batches run, for the reaper to complete

  // Polling instead of sleeping (see BatcherOptions::spin_us), outside the mutex.
  std::atomic<uint64_t> activity{0};          // bumped by every submit and by stop
  std::atomic<bool> instance_polling{false};  // one idle instance polls at a time
  std::atomic<int> callers_polling{0};        // and one caller
  std::atomic<int64_t> latency_ns{0};         // recent submit-to-completion time (an EWMA)
  Clock::time_point reaper_wake = Clock::time_point::max();
  bool closing = false;
  bool draining = false;

  mutable std::mutex stats_mutex;
  BatcherStats counters;  // all but queued and the latencies
  Latency queue_wait;
  Latency compute;

  void submit(Request& r);
  bool cancel(Request& r);
  // Stops accepting requests; without drain, completes the queued ones with BatcherClosed(why).
  void stop(bool drain, const char* why);
  void instance_loop(int instance, std::unique_ptr<BatchBuffer> buffer);
  void reaper_loop();

  // With the mutex held: whether a request just queued can change what a waiting instance
  // decides, so that submit wakes one only then (not once per request).
  bool worth_waking_locked() const {
    if (closing || !options.preferred_batch_sizes.empty()) return true;
    if (queued_rows >= options.max_batch_size) return true;  // the head is a full batch now
    return filling == 0 && idle > 0;  // else the instance filling a batch keeps its timer
  }
  void forget_locked(const Request* r) {
    --queued;
    queued_rows -= r->num_rows;
  }
  Plan plan_locked(Clock::time_point now, std::vector<Request*>& expired);
  void take_locked(size_t take, std::vector<Request*>& batch);
  void expire_all_locked(Clock::time_point now, std::vector<Request*>& expired);
  void run_batch(int instance, std::unique_ptr<BatchBuffer>& buffer, std::vector<Request*>& batch,
                 Done& done);
  // Counts the requests as timed out or cancelled (BatcherClosed(why)), then completes them:
  // counted first, so stats() is consistent for anyone who saw the completion.
  void finish(std::vector<Request*>& requests, Outcome outcome, const char* why = nullptr);
  // The same for the requests of a batch that ran (completed or failed), then times their
  // completion (compute_output).
  void finish_batch(Done& done);
};

void BatcherState::submit(Request& r) {
  SEAWALL_CHECK(r.num_rows >= 1 && r.num_rows <= options.max_batch_size,
                "a request must have between 1 and max_batch_size=", options.max_batch_size,
                " rows, got ", r.num_rows);
  SEAWALL_CHECK(r.priority >= -1 && r.priority < options.priority_levels,
                "priority must be between 0 (highest) and ", options.priority_levels - 1,
                ", got ", r.priority);
  SEAWALL_CHECK(r.timeout_us >= -1, "timeout_us must be >= 0 (0: none), got ", r.timeout_us);
  SEAWALL_CHECK(r.data != nullptr || options.row_bytes == 0, "the request has no rows");
  const int64_t timeout = r.timeout_us < 0 ? options.default_timeout_us : r.timeout_us;
  const auto now = Clock::now();
  r.enqueued_ = now;
  r.deadline_ = timeout > 0 ? add_us(now, timeout) : Clock::time_point::max();
  r.level_ = r.priority < 0 ? default_level : r.priority;
  r.output.reset();
  r.error = nullptr;
  r.offset = 0;

  bool wake_reaper = false;
  bool wake_instance = false;
  {
    std::lock_guard<std::mutex> lock(mutex);
    const bool full = options.max_queue_size > 0 &&
                      queued >= static_cast<size_t>(options.max_queue_size);
    if (closing || full) {
      {
        std::lock_guard<std::mutex> stats_lock(stats_mutex);
        ++counters.rejected;
      }
      if (closing) throw BatcherClosed("the batcher is closed");
      throw QueueFull(::seawall::detail::concat("the batcher's queue is full (max_queue_size=",
                                                options.max_queue_size, " requests)"));
    }
    queues[static_cast<size_t>(r.level_)].push_back(&r);
    ++queued;
    queued_rows += r.num_rows;
    activity.fetch_add(1, std::memory_order_release);
    {
      std::lock_guard<std::mutex> stats_lock(stats_mutex);
      ++counters.requests;
    }
    if (r.deadline_ < reaper_wake) {
      reaper_wake = r.deadline_;
      wake_reaper = true;
    }
    wake_instance = worth_waking_locked();
  }
  if (wake_instance) work_cv.notify_one();
  if (wake_reaper) reaper_cv.notify_one();
}

bool BatcherState::cancel(Request& r) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    Queue& q = queues[static_cast<size_t>(r.level_)];
    const auto it = std::find(q.begin(), q.end(), &r);
    if (it == q.end()) return false;
    q.erase(it);
    forget_locked(&r);
    std::lock_guard<std::mutex> stats_lock(stats_mutex);
    ++counters.cancelled;
  }
  work_cv.notify_all();  // an exiting instance may have been waiting for the queue to empty
  return true;
}

void BatcherState::stop(bool drain, const char* why) {
  std::vector<Request*> cancelled;
  {
    std::lock_guard<std::mutex> lock(mutex);
    closing = true;
    activity.fetch_add(1, std::memory_order_release);
    if (drain) {
      draining = true;
    } else {
      for (Queue& q : queues) {
        cancelled.insert(cancelled.end(), q.begin(), q.end());
        q.clear();
      }
      queued = 0;
      queued_rows = 0;
    }
  }
  work_cv.notify_all();
  reaper_cv.notify_all();
  finish(cancelled, Outcome::kCancelled, why);
}

BatcherState::Plan BatcherState::plan_locked(Clock::time_point now,
                                              std::vector<Request*>& expired) {
  const int64_t max_rows = options.max_batch_size;
  int64_t rows = 0;
  size_t count = 0;
  size_t best_preferred = 0;  // requests in the largest prefix of a preferred size
  bool full = false;
  Clock::time_point oldest = Clock::time_point::max();
  for (Queue& q : queues) {
    for (auto it = q.begin(); it != q.end() && !full;) {
      Request* r = *it;
      if (r->deadline_ <= now) {  // never dispatched late: it times out instead
        expired.push_back(r);
        it = q.erase(it);
        forget_locked(r);
        continue;
      }
      if (rows + r->num_rows > max_rows) {
        full = true;  // as full as it gets without reordering
        break;
      }
      rows += r->num_rows;
      ++count;
      oldest = std::min(oldest, r->enqueued_);
      if (preferred[static_cast<size_t>(rows)]) best_preferred = count;
      full = rows == max_rows;
      ++it;
    }
    if (full) break;
  }
  Plan plan;
  if (count == 0) return plan;
  const Clock::time_point due = add_us(oldest, options.max_queue_delay_us);
  if (full || draining || now >= due) {
    plan.take = count;
  } else if (best_preferred > 0) {
    plan.take = best_preferred;
  } else {
    plan.wake = due;
  }
  return plan;
}

void BatcherState::take_locked(size_t take, std::vector<Request*>& batch) {
  for (Queue& q : queues) {
    while (take > 0 && !q.empty()) {
      batch.push_back(q.front());
      forget_locked(q.front());
      q.pop_front();
      --take;
    }
    if (take == 0) break;
  }
}

void BatcherState::expire_all_locked(Clock::time_point now, std::vector<Request*>& expired) {
  Clock::time_point next = Clock::time_point::max();
  for (Queue& q : queues) {
    for (auto it = q.begin(); it != q.end();) {
      if ((*it)->deadline_ <= now) {
        expired.push_back(*it);
        forget_locked(*it);
        it = q.erase(it);
      } else {
        next = std::min(next, (*it)->deadline_);
        ++it;
      }
    }
  }
  reaper_wake = next;
}

void BatcherState::finish(std::vector<Request*>& requests, Outcome outcome, const char* why) {
  if (requests.empty()) return;
  {
    std::lock_guard<std::mutex> lock(stats_mutex);
    (outcome == Outcome::kTimedOut ? counters.timed_out : counters.cancelled) += requests.size();
  }
  for (Request* r : requests) {
    if (outcome == Outcome::kTimedOut) {
      const auto waited = static_cast<int64_t>(micros(Clock::now() - r->enqueued_));
      r->error = std::make_exception_ptr(RequestTimeout(::seawall::detail::concat(
          "the request waited ", waited, " us in the batcher's queue, past its timeout")));
    } else {
      r->error = std::make_exception_ptr(BatcherClosed(why));
    }
    r->complete();
  }
  requests.clear();
}

void BatcherState::finish_batch(Done& done) {
  if (done.requests.empty()) return;
  const size_t n = done.requests.size();
  const Clock::time_point ran = done.ran;
  const int64_t rows = done.rows;
  uint64_t total_ns = 0;
  uint64_t last_ns = 0;
  {
    std::lock_guard<std::mutex> lock(stats_mutex);
    uint64_t& counter = done.outcome == Outcome::kFailed ? counters.failed : counters.completed;
    counter += n;
    counters.running -= n;
    const int64_t latency = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                Clock::now() - done.requests.front()->enqueued_)
                                .count();
    const int64_t old = latency_ns.load(std::memory_order_relaxed);
    latency_ns.store(old + (latency - old) / 8, std::memory_order_relaxed);
  }
  for (Request* r : done.requests) {
    r->complete();  // the request may be gone from here on: only the clock is read
    last_ns = nanos(Clock::now() - ran);
    total_ns += last_ns;
  }
  done.requests.clear();
  std::lock_guard<std::mutex> lock(stats_mutex);
  counters.compute_output.count += n;
  counters.compute_output.ns += total_ns;
  counters.batch_stats[rows].compute_output.add(1, last_ns);
}

void BatcherState::instance_loop(int instance, std::unique_ptr<BatchBuffer> buffer) {
  // However this thread ends (also by a forced unwind from the model), the reaper and the
  // other instances learn of it.
  struct Leaving {
    BatcherState& state;
    ~Leaving() {
      {
        std::lock_guard<std::mutex> lock(state.mutex);
        --state.live_instances;
      }
      state.work_cv.notify_all();  // the others check the same condition
      state.reaper_cv.notify_all();
    }
  } leaving{*this};
  std::vector<Request*> batch;
  std::vector<Request*> expired;
  Done done;
  batch.reserve(static_cast<size_t>(options.max_batch_size));
  done.requests.reserve(static_cast<size_t>(options.max_batch_size));
  for (;;) {
    bool stop = false;
    bool polled = false;  // once per idle spell, then sleep
    {
      std::unique_lock<std::mutex> lock(mutex);
      for (;;) {
        const Plan plan = plan_locked(Clock::now(), expired);
        if (plan.take > 0) {
          take_locked(plan.take, batch);
          if (queued > 0) work_cv.notify_one();  // another idle instance may take the rest
          break;
        }
        if (!expired.empty() || !done.requests.empty()) break;  // complete them, then wait
        if (closing && queued == 0) {
          stop = true;
          break;
        }
        if (plan.wake == Clock::time_point::max()) {
          if (!polled && options.spin_us > 0 && !instance_polling.exchange(true)) {
            polled = true;
            const uint64_t seen = activity.load(std::memory_order_acquire);
            lock.unlock();
            const auto until = Clock::now() + std::chrono::microseconds(options.spin_us);
            while (activity.load(std::memory_order_acquire) == seen && Clock::now() < until) {
              std::this_thread::yield();
            }
            instance_polling.store(false);
            lock.lock();
            continue;  // plan again: what arrived meanwhile did not wake anyone
          }
          ++idle;
          work_cv.wait(lock);
          --idle;
        } else {
          ++filling;
          work_cv.wait_until(lock, plan.wake);
          --filling;
        }
      }
    }
    finish(expired, Outcome::kTimedOut);
    if (!batch.empty()) {
      run_batch(instance, buffer, batch, done);
    } else {
      finish_batch(done);
    }
    if (stop) return;
  }
}

void BatcherState::reaper_loop() {
  std::vector<Request*> expired;
  std::unique_lock<std::mutex> lock(mutex);
  for (;;) {
    if (!handoff.empty()) {
      Done done = std::move(handoff.front());
      handoff.erase(handoff.begin());
      lock.unlock();
      finish_batch(done);
      lock.lock();
      continue;
    }
    if (closing && queued == 0 && live_instances == 0) return;
    const auto now = Clock::now();
    if (now >= reaper_wake) {
      expire_all_locked(now, expired);
      if (!expired.empty()) {
        lock.unlock();
        finish(expired, Outcome::kTimedOut);
        work_cv.notify_all();  // a closing instance may wait for the queue to empty
        lock.lock();
        continue;
      }
    }
    if (reaper_wake == Clock::time_point::max()) {
      reaper_cv.wait(lock);
    } else {
      reaper_cv.wait_until(lock, reaper_wake);
    }
  }
}

void BatcherState::run_batch(int instance, std::unique_ptr<BatchBuffer>& buffer,
                             std::vector<Request*>& batch, Done& done) {
  const auto taken = Clock::now();
  const int64_t row_bytes = options.row_bytes;
  int64_t rows = 0;
  for (Request* r : batch) {
    r->offset = rows;
    rows += r->num_rows;
  }
  {
    std::lock_guard<std::mutex> lock(stats_mutex);
    counters.running += batch.size();
    for (const Request* r : batch) {
      queue_wait.add(micros(taken - r->enqueued_));
      counters.queue.add(1, nanos(taken - r->enqueued_));
    }
  }

  std::shared_ptr<const BatchOutput> output;
  std::exception_ptr error;
  Batch b;
  b.rows = rows;
  b.row_bytes = row_bytes;
  b.instance = instance;
  if (!done.requests.empty()) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      handoff.push_back(std::move(done));
    }
    done = Done{};
    reaper_cv.notify_one();
  }
  Clock::time_point start{};
  try {
    if (!buffer) buffer = allocator->allocate(static_cast<size_t>(options.max_batch_size * row_bytes));
    std::byte* dst = buffer->host();
    if (row_bytes > 0) {
      for (const Request* r : batch) {
        std::memcpy(dst + r->offset * row_bytes, r->data, static_cast<size_t>(r->num_rows * row_bytes));
      }
    }
    buffer->stage(static_cast<size_t>(rows * row_bytes));
    b.buffer = std::move(buffer);
    start = Clock::now();
    output = model->run(b);
    if (!output) throw Error("the model returned no output");
    if (output->rows() != rows) {
      throw Error(::seawall::detail::concat(
          "the model returned ", output->rows(), " rows for a batch of ", rows,
          " (the first axis of its output must be the batch's rows)"));
    }
#ifdef __GLIBCXX__
  } catch (abi::__forced_unwind&) {  // the thread is being ended (pthread_exit): let it go
    throw;
#endif
  } catch (...) {
    error = std::current_exception();
    output.reset();
  }
  if (b.buffer) buffer = std::move(b.buffer);  // else the model kept it: the next batch allocates
  const auto end = Clock::now();

  const bool failed = static_cast<bool>(error);
  {
    // A batch whose rows could not be copied (no memory) never reached the model.
    const bool called = start != Clock::time_point{};
    const uint64_t input_ns = nanos((called ? start : end) - taken);
    const uint64_t infer_ns = called ? nanos(end - start) : 0;
    const uint64_t requests = batch.size();
    std::lock_guard<std::mutex> lock(stats_mutex);
    ++counters.batches;
    counters.rows += static_cast<uint64_t>(rows);
    ++counters.batch_size_histogram[rows];
    compute.add(called ? micros(end - start) : 0.0);
    if (failed) ++counters.failed_batches;
    counters.compute_input.add(requests, input_ns);
    counters.compute_infer.add(requests, infer_ns);
    BatchSizeStats& by_size = counters.batch_stats[rows];
    by_size.compute_input.add(1, input_ns);
    by_size.compute_infer.add(1, infer_ns);
  }
  // The last request takes this thread's reference, so an output from Python is released by the
  // thread that consumes it (which holds the interpreter lock), never here.
  const size_t n = batch.size();
  for (size_t i = 0; i < n; ++i) {
    Request* r = batch[i];
    if (failed) {
      r->error = i + 1 == n ? std::move(error) : error;
    } else {
      r->output = i + 1 == n ? std::move(output) : output;
    }
  }
  done.outcome = failed ? Outcome::kFailed : Outcome::kCompleted;
  done.ran = end;
  done.rows = rows;
  std::swap(done.requests, batch);  // both were empty or are now: batch is cleared by finish
}

}  // namespace detail

// --- the public handle ---------------------------------------------------------------------------

Batcher::Batcher(BatcherOptions options, std::shared_ptr<Model> model,
                 std::shared_ptr<BatchAllocator> allocator) {
  options.validate();
  SEAWALL_CHECK(model != nullptr, "the batcher needs a model");
  SEAWALL_CHECK(allocator != nullptr, "the batcher needs an allocator");
  state_ = std::make_shared<detail::BatcherState>(std::move(options), std::move(model),
                                                  std::move(allocator));
  const BatcherOptions& o = state_->options;
  const auto bytes = static_cast<size_t>(o.max_batch_size * o.row_bytes);
  // Every buffer first, so that running out of memory throws here with no thread started.
  std::vector<std::unique_ptr<BatchBuffer>> buffers;
  for (int i = 0; i < o.instances; ++i) buffers.push_back(state_->allocator->allocate(bytes));
  threads_.reserve(static_cast<size_t>(o.instances) + 1);
  try {
    for (int i = 0; i < o.instances; ++i) {
      {
        std::lock_guard<std::mutex> lock(state_->mutex);
        ++state_->live_instances;  // before the thread exists, so the reaper waits for it
      }
      threads_.emplace_back([state = state_, i, buffer = std::move(buffers[i])]() mutable {
        state->model->instance_thread(
            i, [&state, i, &buffer] { state->instance_loop(i, std::move(buffer)); });
      });
    }
    threads_.emplace_back([state = state_] { state->reaper_loop(); });
  } catch (...) {  // the system refused a thread: stop the ones started
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      state_->live_instances = static_cast<int>(threads_.size());
    }
    state_->stop(false, "the batcher could not start");
    join();
    throw;
  }
}

Batcher::~Batcher() {
  state_->stop(false, "the batcher was destroyed before this request ran");
  if (on_own_thread()) {
    for (auto& t : threads_) t.detach();
  } else {
    join();
  }
}

void Batcher::submit(Request& request) { state_->submit(request); }

bool Batcher::cancel(Request& request) { return state_->cancel(request); }

bool Batcher::wait_briefly(WaitableRequest& request) {
  detail::BatcherState& s = *state_;
  const auto budget = std::chrono::microseconds(s.options.spin_us);
  if (budget.count() == 0 || s.latency_ns.load(std::memory_order_relaxed) > budget.count() * 1000) {
    return false;
  }
  if (s.callers_polling.fetch_add(1) > 0) {
    s.callers_polling.fetch_sub(1);
    return false;
  }
  const bool done = request.poll_for(budget);
  s.callers_polling.fetch_sub(1);
  return done;
}

bool Batcher::close(bool drain) {
  state_->stop(drain, "the batcher was closed before this request ran");
  if (on_own_thread()) return false;
  join();
  return true;
}

bool Batcher::closed() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->closing;
}

const BatcherOptions& Batcher::options() const { return state_->options; }

BatcherStats Batcher::stats() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  std::lock_guard<std::mutex> stats_lock(state_->stats_mutex);
  BatcherStats s = state_->counters;
  s.queued = state_->queued;
  s.queue_wait_us = state_->queue_wait.summary();
  s.compute_us = state_->compute.summary();
  return s;
}

void Batcher::reset_stats() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  std::lock_guard<std::mutex> stats_lock(state_->stats_mutex);
  BatcherStats fresh;
  fresh.running = state_->counters.running;
  fresh.requests = state_->queued + fresh.running;
  state_->counters = std::move(fresh);
  Latency wait, compute;  // default-constructed: empty sketches
  state_->queue_wait = std::move(wait);
  state_->compute = std::move(compute);
}

void Batcher::join() {
  std::lock_guard<std::mutex> lock(join_mutex_);
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

bool Batcher::on_own_thread() const {
  const auto self = std::this_thread::get_id();
  return std::any_of(threads_.begin(), threads_.end(),
                     [self](const std::thread& t) { return t.get_id() == self; });
}

}  // namespace seawall::serving
