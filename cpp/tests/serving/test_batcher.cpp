#include "seawall/serving/batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "seawall/errors.h"

namespace {

using seawall::serving::Batch;
using seawall::serving::BatchAllocator;
using seawall::serving::BatchBuffer;
using seawall::serving::Batcher;
using seawall::serving::BatcherOptions;
using seawall::serving::BatchOutput;
using seawall::serving::Model;
using seawall::serving::WaitableRequest;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Rows are two int64 values: (request id, row index within the request).
constexpr int64_t kRowBytes = 2 * sizeof(int64_t);

struct Rows : BatchOutput {
  std::vector<int64_t> values;  // the rows seen, times 10 (2 values each)
  int64_t n = 0;
  int64_t rows() const override { return n; }
};

// A door the model waits at, so tests can hold an instance busy.
class Gate {
 public:
  void open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  void pass() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Multiplies every value by 10; records each batch's request ids; optional hooks block, fail or
// misbehave on chosen batches.
class RecordingModel : public Model {
 public:
  std::shared_ptr<const BatchOutput> run(Batch& batch) override {
    const auto* in = reinterpret_cast<const int64_t*>(batch.buffer->data());
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < batch.rows; ++i) {
      if (ids.empty() || ids.back() != in[2 * i]) ids.push_back(in[2 * i]);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      batches.push_back(ids);
      sizes.push_back(batch.rows);
    }
    const int now = ++active;
    int seen = max_active.load();
    while (now > seen && !max_active.compare_exchange_weak(seen, now)) {
    }
    if (before) before(ids);
    --active;
    auto out = std::make_shared<Rows>();
    out->n = batch.rows + extra_rows;
    out->values.resize(static_cast<size_t>(2 * batch.rows));
    for (int64_t i = 0; i < 2 * batch.rows; ++i) out->values[i] = in[i] * 10;
    if (keep_buffer) kept.push_back(std::move(batch.buffer));
    return out;
  }

  std::vector<std::vector<int64_t>> seen_batches() {
    std::lock_guard<std::mutex> lock(mutex_);
    return batches;
  }

  std::function<void(const std::vector<int64_t>&)> before;
  int64_t extra_rows = 0;
  bool keep_buffer = false;
  std::vector<std::unique_ptr<BatchBuffer>> kept;
  std::atomic<int> active{0};
  std::atomic<int> max_active{0};
  std::vector<int64_t> sizes;

 private:
  std::mutex mutex_;
  std::vector<std::vector<int64_t>> batches;
};

// A request of `rows` rows tagged with `id`.
struct Call {
  Call(int64_t id, int64_t rows, int priority = -1, int64_t timeout_us = -1)
      : data(static_cast<size_t>(2 * rows)), request(nullptr, rows, priority, timeout_us) {
    for (int64_t i = 0; i < rows; ++i) {
      data[2 * i] = id;
      data[2 * i + 1] = i;
    }
    request.data = reinterpret_cast<const std::byte*>(data.data());
  }
  std::vector<int64_t> data;
  WaitableRequest request;

  // The rows this request got back.
  std::vector<int64_t> result() const {
    const auto& out = static_cast<const Rows&>(*request.output);
    const auto begin = out.values.begin() + 2 * request.offset;
    return {begin, begin + 2 * request.num_rows};
  }
  std::vector<int64_t> expected() const {
    std::vector<int64_t> e = data;
    for (auto& v : e) v *= 10;
    return e;
  }
};

template <typename E>
bool fails_with(const WaitableRequest& r) {
  try {
    if (r.error) std::rethrow_exception(r.error);
  } catch (const E&) {
    return true;
  } catch (...) {
  }
  return false;
}

BatcherOptions options(int64_t max_batch_size, int64_t delay_us = 0) {
  BatcherOptions o;
  o.max_batch_size = max_batch_size;
  o.max_queue_delay_us = delay_us;
  o.row_bytes = kRowBytes;
  return o;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

TEST(Batcher, OneRequestGetsItsRowsBack) {
  auto model = std::make_shared<RecordingModel>();
  Batcher batcher(options(8), model);
  Call call(7, 3);
  batcher.submit(call.request);
  call.request.wait();
  ASSERT_FALSE(call.request.error);
  EXPECT_EQ(call.result(), call.expected());
  batcher.close();
  const auto s = batcher.stats();
  EXPECT_EQ(s.requests, 1u);
  EXPECT_EQ(s.completed, 1u);
  EXPECT_EQ(s.batches, 1u);
  EXPECT_EQ(s.rows, 3u);
  EXPECT_EQ(s.batch_size_histogram.at(3), 1u);
  EXPECT_EQ(s.queue_wait_us.count, 1u);
  EXPECT_EQ(s.compute_us.count, 1u);
}

TEST(Batcher, ManyThreadsEachGetTheirOwnRows) {
  auto model = std::make_shared<RecordingModel>();
  BatcherOptions o = options(16, 200);
  o.instances = 2;
  Batcher batcher(o, model);
  constexpr int kThreads = 8;
  constexpr int kCalls = 200;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 gen(static_cast<unsigned>(t));
      for (int c = 0; c < kCalls; ++c) {
        Call call(t * kCalls + c, 1 + static_cast<int64_t>(gen() % 5));
        batcher.submit(call.request);
        call.request.wait();
        if (call.request.error || call.result() != call.expected()) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  batcher.close();
  EXPECT_EQ(wrong.load(), 0);
  const auto s = batcher.stats();
  EXPECT_EQ(s.requests, static_cast<uint64_t>(kThreads * kCalls));
  EXPECT_EQ(s.completed, s.requests);
  uint64_t batches = 0;
  uint64_t rows = 0;
  for (const auto& [size, count] : s.batch_size_histogram) {
    EXPECT_LE(size, 16);
    batches += count;
    rows += static_cast<uint64_t>(size) * count;
  }
  EXPECT_EQ(batches, s.batches);
  EXPECT_EQ(rows, s.rows);
  EXPECT_LT(s.batches, s.requests);  // some batching happened
}

TEST(Batcher, LoneRequestWaitsForTheQueueDelay) {
  auto model = std::make_shared<RecordingModel>();
  Batcher batcher(options(8, 50'000), model);
  const auto start = Clock::now();
  Call call(1, 1);
  batcher.submit(call.request);
  call.request.wait();
  EXPECT_GE(seconds_since(start), 0.050);
  EXPECT_GE(batcher.stats().queue_wait_us.min, 50'000.0);
}

TEST(Batcher, FullBatchGoesAtOnce) {
  auto model = std::make_shared<RecordingModel>();
  Batcher batcher(options(4, 60'000'000), model);  // a minute of delay
  std::vector<std::unique_ptr<Call>> calls;
  const auto start = Clock::now();
  for (int i = 0; i < 4; ++i) {
    calls.push_back(std::make_unique<Call>(i, 1));
    batcher.submit(calls.back()->request);
  }
  for (auto& c : calls) c->request.wait();
  EXPECT_LT(seconds_since(start), 30.0);
  EXPECT_EQ(model->sizes, std::vector<int64_t>{4});
}

TEST(Batcher, RequestThatDoesNotFitClosesTheBatch) {
  auto model = std::make_shared<RecordingModel>();
  auto gate = std::make_shared<Gate>();
  model->before = [gate](const std::vector<int64_t>& ids) {
    if (ids[0] == 0) gate->pass();
  };
  Batcher batcher(options(8, 60'000'000), model);
  Call blocker(0, 8);  // a full batch: holds the one instance at the gate
  batcher.submit(blocker.request);
  Call a(1, 3);
  Call b(2, 6);  // 3 + 6 > 8
  batcher.submit(a.request);
  batcher.submit(b.request);
  gate->open();
  a.request.wait();  // dispatched without the minute's delay: b cannot join it
  batcher.close(true);
  b.request.wait();
  EXPECT_FALSE(b.request.error);
  EXPECT_EQ(model->sizes, (std::vector<int64_t>{8, 3, 6}));
}

TEST(Batcher, PreferredSizeGoesAtOnce) {
  auto model = std::make_shared<RecordingModel>();
  BatcherOptions o = options(8, 60'000'000);
  o.preferred_batch_sizes = {2, 4};
  Batcher batcher(o, model);
  Call a(1, 1);
  Call b(2, 1);
  batcher.submit(a.request);
  batcher.submit(b.request);
  a.request.wait();
  b.request.wait();
  EXPECT_EQ(model->sizes, std::vector<int64_t>{2});
  batcher.close(false);
}

TEST(Batcher, HigherPriorityDrainsFirst) {
  auto model = std::make_shared<RecordingModel>();
  auto gate = std::make_shared<Gate>();
  model->before = [gate](const std::vector<int64_t>& ids) {
    if (ids[0] == 0) gate->pass();
  };
  BatcherOptions o = options(1);
  o.priority_levels = 3;
  Batcher batcher(o, model);
  Call blocker(0, 1, 0);
  batcher.submit(blocker.request);
  while (model->seen_batches().empty()) std::this_thread::sleep_for(1ms);
  std::vector<std::unique_ptr<Call>> calls;
  // ids 1..3 at the default (lowest) level, 11..13 at level 1, 21..23 at level 0
  for (int i = 1; i <= 3; ++i) calls.push_back(std::make_unique<Call>(i, 1));
  for (int i = 11; i <= 13; ++i) calls.push_back(std::make_unique<Call>(i, 1, 1));
  for (int i = 21; i <= 23; ++i) calls.push_back(std::make_unique<Call>(i, 1, 0));
  for (auto& c : calls) batcher.submit(c->request);
  gate->open();
  for (auto& c : calls) c->request.wait();
  std::vector<int64_t> order;
  for (const auto& ids : model->seen_batches()) order.push_back(ids[0]);
  EXPECT_EQ(order, (std::vector<int64_t>{0, 21, 22, 23, 11, 12, 13, 1, 2, 3}));
}

TEST(Batcher, FullQueueRejectsAtOnce) {
  auto model = std::make_shared<RecordingModel>();
  auto gate = std::make_shared<Gate>();
  model->before = [gate](const std::vector<int64_t>&) { gate->pass(); };
  BatcherOptions o = options(1);
  o.max_queue_size = 2;
  Batcher batcher(o, model);
  Call running(0, 1);
  batcher.submit(running.request);
  while (model->seen_batches().empty()) std::this_thread::sleep_for(1ms);
  Call a(1, 1);
  Call b(2, 1);
  Call c(3, 1);
  batcher.submit(a.request);
  batcher.submit(b.request);
  EXPECT_THROW(batcher.submit(c.request), seawall::QueueFull);
  gate->open();
  a.request.wait();
  b.request.wait();
  batcher.close();
  const auto s = batcher.stats();
  EXPECT_EQ(s.rejected, 1u);
  EXPECT_EQ(s.requests, 3u);
  EXPECT_EQ(s.completed, 3u);
}

TEST(Batcher, TimedOutRequestIsRemovedWhileEveryInstanceIsBusy) {
  auto model = std::make_shared<RecordingModel>();
  auto gate = std::make_shared<Gate>();
  model->before = [gate](const std::vector<int64_t>& ids) {
    if (ids[0] == 0) gate->pass();
  };
  Batcher batcher(options(4), model);
  Call blocker(0, 4);
  batcher.submit(blocker.request);
  while (model->seen_batches().empty()) std::this_thread::sleep_for(1ms);
  Call late(1, 1, -1, 20'000);
  Call patient(2, 1, -1, 0);
  batcher.submit(late.request);
  batcher.submit(patient.request);
  late.request.wait();  // completes while the model is still blocked
  EXPECT_TRUE(fails_with<seawall::RequestTimeout>(late.request));
  gate->open();
  patient.request.wait();
  EXPECT_FALSE(patient.request.error);
  batcher.close();
  for (const auto& ids : model->seen_batches()) {
    EXPECT_EQ(std::count(ids.begin(), ids.end(), 1), 0) << "the timed-out request ran";
  }
  const auto s = batcher.stats();
  EXPECT_EQ(s.timed_out, 1u);
  EXPECT_EQ(s.completed, 2u);
}

TEST(Batcher, DefaultTimeoutApplies) {
  auto model = std::make_shared<RecordingModel>();
  BatcherOptions o = options(4, 60'000'000);
  o.default_timeout_us = 10'000;
  Batcher batcher(o, model);
  Call call(1, 1);
  batcher.submit(call.request);
  call.request.wait();
  EXPECT_TRUE(fails_with<seawall::RequestTimeout>(call.request));
  EXPECT_TRUE(model->seen_batches().empty());
}

TEST(Batcher, CloseDrainsWhatIsQueued) {
  auto model = std::make_shared<RecordingModel>();
  Batcher batcher(options(4, 60'000'000), model);
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < 3; ++i) {
    calls.push_back(std::make_unique<Call>(i, 1));
    batcher.submit(calls.back()->request);
  }
  batcher.close(true);  // no minute-long delay: draining dispatches at once
  for (auto& c : calls) {
    c->request.wait();
    EXPECT_FALSE(c->request.error);
    EXPECT_EQ(c->result(), c->expected());
  }
  Call after(9, 1);
  EXPECT_THROW(batcher.submit(after.request), seawall::BatcherClosed);
  EXPECT_TRUE(batcher.closed());
  EXPECT_EQ(batcher.stats().rejected, 1u);
}

TEST(Batcher, CloseWithoutDrainRejectsWhatIsQueued) {
  auto model = std::make_shared<RecordingModel>();
  Batcher batcher(options(4, 60'000'000), model);
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < 3; ++i) {
    calls.push_back(std::make_unique<Call>(i, 1));
    batcher.submit(calls.back()->request);
  }
  batcher.close(false);
  for (auto& c : calls) {
    c->request.wait();
    EXPECT_TRUE(fails_with<seawall::BatcherClosed>(c->request));
  }
  EXPECT_TRUE(model->seen_batches().empty());
  EXPECT_EQ(batcher.stats().cancelled, 3u);
  batcher.close(false);  // idempotent
}

TEST(Batcher, DestroyingCancelsWhatIsQueued) {
  auto model = std::make_shared<RecordingModel>();
  Call call(1, 1);
  {
    Batcher batcher(options(4, 60'000'000), model);
    batcher.submit(call.request);
  }
  call.request.wait();
  EXPECT_TRUE(fails_with<seawall::BatcherClosed>(call.request));
}

TEST(Batcher, ModelErrorFailsExactlyItsBatch) {
  auto model = std::make_shared<RecordingModel>();
  model->before = [](const std::vector<int64_t>& ids) {
    if (std::find(ids.begin(), ids.end(), 13) != ids.end()) throw std::runtime_error("unlucky");
  };
  Batcher batcher(options(2, 60'000'000), model);
  Call a(12, 1);
  Call b(13, 1);  // a and b make one full batch
  Call c(14, 1);
  Call d(15, 1);
  for (Call* call : {&a, &b, &c, &d}) batcher.submit(call->request);
  for (Call* call : {&a, &b, &c, &d}) call->request.wait();
  for (Call* call : {&a, &b}) {
    ASSERT_TRUE(call->request.error);
    try {
      std::rethrow_exception(call->request.error);
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "unlucky");
    }
  }
  EXPECT_FALSE(c.request.error);
  EXPECT_FALSE(d.request.error);
  const auto s = batcher.stats();
  EXPECT_EQ(s.failed, 2u);
  EXPECT_EQ(s.failed_batches, 1u);
  EXPECT_EQ(s.completed, 2u);
}

// Triton's per-request statistics: every request of a batch counts its batch's phases.
TEST(Batcher, PhaseTotalsCountEachRequestOfABatch) {
  auto model = std::make_shared<RecordingModel>();
  model->before = [](const std::vector<int64_t>&) { std::this_thread::sleep_for(20ms); };
  BatcherOptions o = options(8, 60'000'000);
  o.preferred_batch_sizes = {5};
  Batcher batcher(o, model);
  Call a(1, 3);
  Call b(2, 2);  // a and b make one batch of the preferred 5 rows
  batcher.submit(a.request);
  batcher.submit(b.request);
  a.request.wait();
  b.request.wait();
  Call c(3, 8);  // a full batch on its own
  batcher.submit(c.request);
  c.request.wait();
  batcher.close();  // the threads have stopped: compute_output is counted too
  const auto s = batcher.stats();
  ASSERT_EQ(model->sizes, (std::vector<int64_t>{5, 8}));
  EXPECT_EQ(s.queue.count, 3u);
  for (const auto* phase : {&s.compute_input, &s.compute_infer, &s.compute_output}) {
    EXPECT_EQ(phase->count, 3u);
  }
  ASSERT_EQ(s.batch_stats.size(), 2u);
  for (const auto& [rows, phases] : s.batch_stats) {
    EXPECT_EQ(phases.compute_input.count, 1u);
    EXPECT_EQ(phases.compute_infer.count, 1u);
    EXPECT_EQ(phases.compute_output.count, 1u);
    EXPECT_GE(phases.compute_infer.ns, 20'000'000u);  // the model sleeps 20 ms
    EXPECT_EQ(s.batch_size_histogram.at(rows), 1u);
  }
  const auto& five = s.batch_stats.at(5);
  const auto& eight = s.batch_stats.at(8);
  // Per request: the batch of two requests counts its durations twice.
  EXPECT_EQ(s.compute_infer.ns, 2 * five.compute_infer.ns + eight.compute_infer.ns);
  EXPECT_EQ(s.compute_input.ns, 2 * five.compute_input.ns + eight.compute_input.ns);
  // compute_output: each request from the end of the call to its own completion, the batch's
  // entry up to its last one.
  EXPECT_LE(s.compute_output.ns, 2 * five.compute_output.ns + eight.compute_output.ns);
  EXPECT_GE(s.compute_output.ns, five.compute_output.ns + eight.compute_output.ns);
  // The wait for the preferred size is queue time, not compute.
  EXPECT_EQ(s.queue_wait_us.count, s.queue.count);
  EXPECT_NEAR(static_cast<double>(s.queue.ns) / 1000.0, s.queue_wait_us.sum,
              1e-6 * s.queue_wait_us.sum + 3.0);
}

TEST(Batcher, PhaseTotalsCountFailedBatchesAndNotCancelledRequests) {
  auto model = std::make_shared<RecordingModel>();
  model->before = [](const std::vector<int64_t>& ids) {
    if (ids.front() == 1) throw std::runtime_error("broken");
  };
  Batcher batcher(options(4, 60'000'000), model);
  Call a(1, 4);  // a full batch that fails
  batcher.submit(a.request);
  a.request.wait();
  ASSERT_TRUE(fails_with<std::runtime_error>(a.request));
  Call b(2, 1);  // still queued (a minute of delay) when the batcher closes without draining
  batcher.submit(b.request);
  batcher.close(false);
  ASSERT_TRUE(fails_with<seawall::BatcherClosed>(b.request));
  const auto s = batcher.stats();
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.cancelled, 1u);
  EXPECT_EQ(s.queue.count, 1u);
  EXPECT_EQ(s.compute_infer.count, 1u);
  EXPECT_EQ(s.compute_output.count, 1u);
  EXPECT_EQ(s.batch_stats.at(4).compute_infer.count, 1u);
  EXPECT_EQ(s.batch_stats.count(1), 0u);
}

TEST(Batcher, ResetStatsStartsTheCountersAgain) {
  auto model = std::make_shared<RecordingModel>();
  auto gate = std::make_shared<Gate>();
  std::atomic<int> calls{0};
  model->before = [&](const std::vector<int64_t>&) {
    if (++calls == 2) gate->pass();  // the second batch is held while the stats are reset
  };
  Batcher batcher(options(4), model);
  Call a(1, 2);
  batcher.submit(a.request);
  a.request.wait();
  Call b(2, 1);
  batcher.submit(b.request);
  while (batcher.stats().running == 0) std::this_thread::yield();
  batcher.reset_stats();
  auto s = batcher.stats();
  EXPECT_EQ(s.requests, 1u);  // b, running
  EXPECT_EQ(s.running, 1u);
  EXPECT_EQ(s.completed, 0u);
  EXPECT_EQ(s.batches, 0u);
  EXPECT_EQ(s.rows, 0u);
  EXPECT_TRUE(s.batch_size_histogram.empty());
  EXPECT_TRUE(s.batch_stats.empty());
  EXPECT_EQ(s.queue.count, 0u);
  EXPECT_EQ(s.queue_wait_us.count, 0u);
  EXPECT_EQ(s.compute_us.count, 0u);
  gate->open();
  b.request.wait();
  batcher.close();
  s = batcher.stats();
  EXPECT_EQ(s.requests, s.completed);
  EXPECT_EQ(s.completed, 1u);
  EXPECT_EQ(s.batches, 1u);
  EXPECT_EQ(s.batch_size_histogram.at(1), 1u);
  EXPECT_EQ(s.compute_infer.count, 1u);
  EXPECT_EQ(s.compute_us.count, 1u);
}

TEST(Batcher, WrongRowCountFailsTheBatch) {
  auto model = std::make_shared<RecordingModel>();
  model->extra_rows = 1;
  Batcher batcher(options(4), model);
  Call call(1, 2);
  batcher.submit(call.request);
  call.request.wait();
  ASSERT_TRUE(call.request.error);
  try {
    std::rethrow_exception(call.request.error);
  } catch (const seawall::Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 rows for a batch of 2"), std::string::npos) << e.what();
  }
}

TEST(Batcher, InstancesRunConcurrently) {
  auto model = std::make_shared<RecordingModel>();
  auto both = std::make_shared<std::atomic<int>>(0);
  // Each batch waits (up to a minute) until the other one has started too.
  model->before = [both](const std::vector<int64_t>&) {
    ++*both;
    const auto until = Clock::now() + 60s;
    while (both->load() < 2 && Clock::now() < until) std::this_thread::sleep_for(1ms);
  };
  BatcherOptions o = options(1);
  o.instances = 2;
  Batcher batcher(o, model);
  Call a(1, 1);
  Call b(2, 1);
  batcher.submit(a.request);
  batcher.submit(b.request);
  a.request.wait();
  b.request.wait();
  EXPECT_EQ(model->max_active.load(), 2);
}

TEST(Batcher, CancelRemovesAQueuedRequest) {
  auto model = std::make_shared<RecordingModel>();
  Batcher batcher(options(4, 60'000'000), model);
  Call call(1, 1);
  batcher.submit(call.request);
  EXPECT_TRUE(batcher.cancel(call.request));
  EXPECT_FALSE(batcher.cancel(call.request));
  batcher.close(true);
  EXPECT_TRUE(model->seen_batches().empty());
  const auto s = batcher.stats();
  EXPECT_EQ(s.cancelled, 1u);
  EXPECT_EQ(s.queued, 0u);
}

TEST(Batcher, ModelKeepingItsBufferGetsAFreshOneNextTime) {
  auto model = std::make_shared<RecordingModel>();
  model->keep_buffer = true;
  Batcher batcher(options(2), model);
  for (int i = 0; i < 3; ++i) {
    Call call(i, 2);
    batcher.submit(call.request);
    call.request.wait();
    ASSERT_FALSE(call.request.error);
    EXPECT_EQ(call.result(), call.expected());
  }
  batcher.close();
  ASSERT_EQ(model->kept.size(), 3u);
  std::set<const void*> distinct;
  for (const auto& b : model->kept) {
    distinct.insert(b->host());
    EXPECT_EQ(reinterpret_cast<const int64_t*>(b->host())[0], static_cast<int64_t>(distinct.size() - 1));
  }
  EXPECT_EQ(distinct.size(), 3u);
}

TEST(Batcher, BadRequestsAndOptionsThrowInvalidInput) {
  auto model = std::make_shared<RecordingModel>();
  BatcherOptions o = options(4);
  o.priority_levels = 2;
  Batcher batcher(o, model);
  Call too_big(1, 5);
  EXPECT_THROW(batcher.submit(too_big.request), seawall::InvalidInput);
  Call bad_priority(2, 1, 2);
  EXPECT_THROW(batcher.submit(bad_priority.request), seawall::InvalidInput);
  Call bad_timeout(3, 1, 0, -5);
  EXPECT_THROW(batcher.submit(bad_timeout.request), seawall::InvalidInput);
  EXPECT_EQ(batcher.stats().requests, 0u);

  const std::vector<std::function<void(BatcherOptions&)>> bad = {
      [](BatcherOptions& b) { b.max_batch_size = 0; },
      [](BatcherOptions& b) { b.max_queue_delay_us = -1; },
      [](BatcherOptions& b) { b.preferred_batch_sizes = {5}; },
      [](BatcherOptions& b) { b.max_queue_size = -1; },
      [](BatcherOptions& b) { b.default_timeout_us = -1; },
      [](BatcherOptions& b) { b.priority_levels = 0; },
      [](BatcherOptions& b) { b.default_priority = 1; },
      [](BatcherOptions& b) { b.instances = 0; },
      [](BatcherOptions& b) { b.row_bytes = int64_t{1} << 45; },
      [](BatcherOptions& b) { b.spin_us = -1; },
      [](BatcherOptions& b) { b.spin_us = 10'001; },
  };
  for (const auto& change : bad) {
    BatcherOptions b = options(4);
    change(b);
    EXPECT_THROW(Batcher(b, model), seawall::InvalidInput);
  }
}

// Hands out buffers that remember how many were made, to check the allocator is the one used.
class CountingAllocator : public BatchAllocator {
 public:
  std::unique_ptr<BatchBuffer> allocate(size_t bytes) override {
    ++made;
    return seawall::serving::cpu_allocator()->allocate(bytes);
  }
  const char* name() const override { return "counting"; }
  std::atomic<int> made{0};
};

TEST(Batcher, BuffersComeFromTheAllocator) {
  auto model = std::make_shared<RecordingModel>();
  auto allocator = std::make_shared<CountingAllocator>();
  BatcherOptions o = options(4);
  o.instances = 3;
  {
    Batcher batcher(o, model, allocator);
    EXPECT_EQ(allocator->made.load(), 3);
    Call call(1, 4);
    batcher.submit(call.request);
    call.request.wait();
    EXPECT_EQ(call.result(), call.expected());
  }
  EXPECT_EQ(allocator->made.load(), 3);
  auto buffer = seawall::serving::cpu_allocator()->allocate(100);
  EXPECT_GE(buffer->capacity(), 100u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer->host()) % 64, 0u);
  EXPECT_EQ(buffer->data(), buffer->host());
  EXPECT_EQ(buffer->device(), seawall::serving::Device::kCpu);
}

TEST(Batcher, ModelMayCloseItsOwnBatcher) {
  auto model = std::make_shared<RecordingModel>();
  Batcher* self = nullptr;
  model->before = [&self](const std::vector<int64_t>&) { self->close(true); };
  auto batcher = std::make_unique<Batcher>(options(1), model);
  self = batcher.get();
  Call call(1, 1);
  batcher->submit(call.request);
  call.request.wait();
  EXPECT_FALSE(call.request.error);
  EXPECT_TRUE(batcher->closed());
  batcher.reset();
}

TEST(Batcher, QuickResultsAreWaitedForByPolling) {
  auto model = std::make_shared<RecordingModel>();
  Batcher batcher(options(4), model);  // spin_us = 50 by default
  int polled = 0;
  for (int i = 0; i < 50; ++i) {
    Call call(i, 1);
    batcher.submit(call.request);
    if (batcher.wait_briefly(call.request)) {
      ++polled;
    } else {
      call.request.wait();
    }
    EXPECT_EQ(call.result(), call.expected());
  }
  EXPECT_GT(polled, 0);  // once recent requests were quick, callers polled
}

TEST(Batcher, SlowResultsAreNotPolledFor) {
  auto model = std::make_shared<RecordingModel>();
  model->before = [](const std::vector<int64_t>&) { std::this_thread::sleep_for(5ms); };
  Batcher batcher(options(4), model);
  for (int i = 0; i < 3; ++i) {
    Call call(i, 1);
    batcher.submit(call.request);
    if (i > 0) EXPECT_FALSE(batcher.wait_briefly(call.request));  // 5 ms > 50 us: sleep
    call.request.wait();
  }
}

TEST(Batcher, NoPollingWithSpinZero) {
  auto model = std::make_shared<RecordingModel>();
  BatcherOptions o = options(4);
  o.spin_us = 0;
  Batcher batcher(o, model);
  for (int i = 0; i < 5; ++i) {
    Call call(i, 1);
    batcher.submit(call.request);
    EXPECT_FALSE(batcher.wait_briefly(call.request));
    call.request.wait();
    EXPECT_EQ(call.result(), call.expected());
  }
}

TEST(WaitableRequest, PollForSeesACompletionFromAnotherThread) {
  auto model = std::make_shared<RecordingModel>();
  auto gate = std::make_shared<Gate>();
  model->before = [gate](const std::vector<int64_t>&) { gate->pass(); };
  Batcher batcher(options(1), model);
  Call call(1, 1);
  batcher.submit(call.request);
  EXPECT_FALSE(call.request.poll_for(1ms));  // held at the gate
  gate->open();
  while (!call.request.poll_for(1ms)) {
  }
  EXPECT_EQ(call.result(), call.expected());
}

}  // namespace
