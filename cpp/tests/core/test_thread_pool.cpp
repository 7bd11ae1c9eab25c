#include "seawall/core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../error_message.h"
#include "seawall/errors.h"

namespace {

// The pool is process-wide; every test leaves it at the default size so test order cannot matter.
class ThreadPoolTest : public ::testing::Test {
 protected:
  void TearDown() override { seawall::set_num_threads(0); }
};

// Sets an environment variable for one scope and puts the previous value (or its absence) back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = std::string(old);
    if (value == nullptr) {
      unsetenv(name);
    } else {
      setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// Runs parallel_for and checks that every index in [0, n) was handed out exactly once, that no
// piece was empty or out of range, and that only the last piece is shorter than the grain.
void expect_exact_cover(int64_t n, int64_t grain) {
  SCOPED_TRACE("n=" + std::to_string(n) + " grain=" + std::to_string(grain) +
               " threads=" + std::to_string(seawall::num_threads()));
  std::vector<std::atomic<int>> hits(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (auto& h : hits) h.store(0);
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> pieces;
  seawall::parallel_for(n, grain, [&](int64_t begin, int64_t end) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      pieces.emplace_back(begin, end);
    }
    for (int64_t i = begin; i < end; ++i) {
      if (i >= 0 && i < n) hits[static_cast<size_t>(i)].fetch_add(1);
    }
  });
  int64_t covered = 0;
  for (const auto& [begin, end] : pieces) {
    EXPECT_GE(begin, 0);
    EXPECT_LT(begin, end) << "empty or inverted piece";
    EXPECT_LE(end, n);
    covered += end - begin;
  }
  EXPECT_EQ(covered, std::max<int64_t>(n, 0)) << "pieces overlap or leave gaps";
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "index " << i;
  }
  // Pieces tile [0, n); each one but the one ending at n has at least `grain` items.
  const int64_t min_piece = std::max<int64_t>(grain, 1);
  for (const auto& [begin, end] : pieces) {
    if (end != n) {
      EXPECT_GE(end - begin, min_piece) << "piece [" << begin << ", " << end << ")";
    }
  }
}

TEST_F(ThreadPoolTest, CoversEveryIndexExactlyOnce) {
  const int64_t sizes[] = {0, 1, 2, 3, 7, 64, 100, 1000, 1023, 1024, 1025, 4097, 100003};
  const int64_t grains[] = {-5, 0, 1, 2, 3, 10, 64, 1000, 5000, 1 << 20};
  for (int threads : {1, 2, 3, 4, 7}) {
    seawall::set_num_threads(threads);
    ASSERT_EQ(seawall::num_threads(), threads);
    for (int64_t n : sizes) {
      for (int64_t grain : grains) expect_exact_cover(n, grain);
    }
  }
}

TEST_F(ThreadPoolTest, NegativeSizeRunsNothing) {
  seawall::set_num_threads(3);
  std::atomic<int> calls{0};
  seawall::parallel_for(-10, 1, [&](int64_t, int64_t) { calls++; });
  seawall::parallel_for(0, 1, [&](int64_t, int64_t) { calls++; });
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(ThreadPoolTest, UsesMoreThanOneThreadWhenAsked) {
  // Pieces must be able to overlap in time; a barrier that needs two threads proves they do.
  seawall::set_num_threads(2);
  std::atomic<int> arrived{0};
  std::set<std::thread::id> ids;
  std::mutex mutex;
  seawall::parallel_for(2, 1, [&](int64_t, int64_t) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      ids.insert(std::this_thread::get_id());
    }
    arrived++;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (arrived.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  });
  // The caller holds its piece for up to 5 s waiting for the other one, so unless the worker
  // never got to run, the second piece ran on another thread.
  EXPECT_EQ(arrived.load(), 2);
  EXPECT_EQ(ids.size(), 2u);
}

TEST_F(ThreadPoolTest, ExceptionIsRethrownAndPoolKeepsWorking) {
  for (int threads : {1, 2, 4}) {
    SCOPED_TRACE("threads=" + std::to_string(threads));
    seawall::set_num_threads(threads);
    for (int64_t bad : {int64_t{0}, int64_t{777}, int64_t{9999}}) {
      SCOPED_TRACE("bad index " + std::to_string(bad));
      try {
        seawall::parallel_for(10000, 16, [&](int64_t begin, int64_t end) {
          if (bad >= begin && bad < end) throw std::runtime_error("boom at " + std::to_string(bad));
        });
        FAIL() << "expected an exception";
      } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()), "boom at " + std::to_string(bad));
      }
      // The pool must be reusable after a failed job.
      expect_exact_cover(5000, 7);
    }
    // The exception's dynamic type survives the trip through the pool.
    EXPECT_THROW(seawall::parallel_for(4096, 1,
                                       [](int64_t, int64_t) { throw seawall::InvalidInput("x"); }),
                 seawall::InvalidInput);
    expect_exact_cover(4096, 1);
  }
}

TEST_F(ThreadPoolTest, EveryPieceThrowingStillReturnsOneException) {
  seawall::set_num_threads(4);
  std::atomic<int> ran{0};
  EXPECT_THROW(seawall::parallel_for(1000, 1,
                                     [&](int64_t, int64_t) {
                                       ran++;
                                       throw std::logic_error("all fail");
                                     }),
               std::logic_error);
  EXPECT_GE(ran.load(), 1);
  expect_exact_cover(1000, 1);
}

TEST_F(ThreadPoolTest, NestedParallelForRunsSeriallyWithoutDeadlock) {
  for (int threads : {2, 4}) {
    SCOPED_TRACE("threads=" + std::to_string(threads));
    seawall::set_num_threads(threads);
    const int64_t outer = 64, inner = 5000;
    std::vector<std::atomic<int>> hits(outer * inner);
    for (auto& h : hits) h.store(0);
    std::atomic<int> wrong_thread{0};
    seawall::parallel_for(outer, 1, [&](int64_t ob, int64_t oe) {
      const auto me = std::this_thread::get_id();
      for (int64_t o = ob; o < oe; ++o) {
        seawall::parallel_for(inner, 1, [&](int64_t ib, int64_t ie) {
          if (std::this_thread::get_id() != me) wrong_thread++;
          for (int64_t i = ib; i < ie; ++i) hits[o * inner + i]++;
        });
      }
    });
    EXPECT_EQ(wrong_thread.load(), 0) << "a nested parallel_for left its calling thread";
    for (size_t i = 0; i < hits.size(); ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i;
  }
}

TEST_F(ThreadPoolTest, NestedExceptionPropagatesThroughBothLevels) {
  seawall::set_num_threads(3);
  EXPECT_THROW(seawall::parallel_for(100, 1,
                                     [](int64_t b, int64_t) {
                                       seawall::parallel_for(100, 1, [b](int64_t ib, int64_t) {
                                         if (b == 0 && ib == 0) throw seawall::TypeMismatch("inner");
                                       });
                                     }),
               seawall::TypeMismatch);
  expect_exact_cover(3000, 1);
}

TEST_F(ThreadPoolTest, ManyConcurrentCallers) {
  seawall::set_num_threads(4);
  constexpr int kCallers = 8;
  constexpr int kRounds = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([t, &failures] {
      for (int r = 0; r < kRounds; ++r) {
        const int64_t n = 1 + (t * 7919 + r * 104729) % 20000;
        const int64_t grain = 1 + (t + r) % 50;
        std::vector<std::atomic<int>> hits(n);
        for (auto& h : hits) h.store(0);
        std::atomic<int64_t> sum{0};
        seawall::parallel_for(n, grain, [&](int64_t begin, int64_t end) {
          int64_t local = 0;
          for (int64_t i = begin; i < end; ++i) {
            hits[i]++;
            local += i;
          }
          sum += local;
        });
        bool ok = sum.load() == n * (n - 1) / 2;
        for (auto& h : hits) ok = ok && h.load() == 1;
        if (!ok) failures++;
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(ThreadPoolTest, ConcurrentCallersWithFailures) {
  // A failing job must not leak its exception into another caller's job.
  seawall::set_num_threads(3);
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 6; ++t) {
    callers.emplace_back([t, &wrong] {
      for (int r = 0; r < 20; ++r) {
        const bool fail = (t + r) % 2 == 0;
        try {
          seawall::parallel_for(3000, 10, [&](int64_t begin, int64_t) {
            if (fail && begin == 0) throw std::runtime_error(std::to_string(t));
          });
          if (fail) wrong++;
        } catch (const std::runtime_error& e) {
          if (!fail || std::string(e.what()) != std::to_string(t)) wrong++;
        }
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(ThreadPoolTest, SetNumThreadsZeroRestoresDefault) {
  ScopedEnv env("SEAWALL_NUM_THREADS", nullptr);
  const int fallback = seawall::default_num_threads();
  EXPECT_GE(fallback, 1);
  seawall::set_num_threads(5);
  EXPECT_EQ(seawall::num_threads(), 5);
  seawall::set_num_threads(1);
  EXPECT_EQ(seawall::num_threads(), 1);
  seawall::set_num_threads(0);
  EXPECT_EQ(seawall::num_threads(), fallback);
  expect_exact_cover(10000, 3);
}

TEST_F(ThreadPoolTest, EnvironmentVariableSetsTheDefault) {
  unsigned fallback = 0;
  {
    ScopedEnv env("SEAWALL_NUM_THREADS", nullptr);
    fallback = static_cast<unsigned>(seawall::default_num_threads());
  }
  {
    ScopedEnv env("SEAWALL_NUM_THREADS", "3");
    EXPECT_EQ(seawall::default_num_threads(), 3);
    seawall::set_num_threads(0);
    EXPECT_EQ(seawall::num_threads(), 3);
    expect_exact_cover(20000, 1);
    // An explicit size wins over the environment.
    seawall::set_num_threads(2);
    EXPECT_EQ(seawall::num_threads(), 2);
    seawall::set_num_threads(0);
    EXPECT_EQ(seawall::num_threads(), 3);
  }
  {
    ScopedEnv env("SEAWALL_NUM_THREADS", "1");
    EXPECT_EQ(seawall::default_num_threads(), 1);
  }
  {
    ScopedEnv env("SEAWALL_NUM_THREADS", "1024");
    EXPECT_EQ(seawall::default_num_threads(), 1024);
  }
  {  // Empty is unset: the cores this process may use.
    ScopedEnv env("SEAWALL_NUM_THREADS", "");
    EXPECT_EQ(static_cast<unsigned>(seawall::default_num_threads()), fallback);
  }
  // Anything else that is not a count is an error naming the variable, at every use of the
  // default; an explicit size does not read it.
  for (const char* bad : {"0", "-2", "abc", "4x", " 4", "+4", "1e3", "1025", "99999999999999999999"}) {
    ScopedEnv env("SEAWALL_NUM_THREADS", bad);
    EXPECT_THROW(seawall::default_num_threads(), seawall::InvalidInput) << "value '" << bad << "'";
    seawall::set_num_threads(0);
    EXPECT_THROW(seawall::num_threads(), seawall::InvalidInput) << "value '" << bad << "'";
    EXPECT_THROW(seawall::parallel_for(100000, 1, [](int64_t, int64_t) {}), seawall::InvalidInput);
    const std::string message = message_of([] { seawall::default_num_threads(); });
    EXPECT_NE(message.find("SEAWALL_NUM_THREADS"), std::string::npos) << message;
    seawall::set_num_threads(2);
    EXPECT_EQ(seawall::num_threads(), 2);
    seawall::set_num_threads(0);
  }
}

TEST_F(ThreadPoolTest, RejectsNegativeOrHugeSizes) {
  EXPECT_THROW(seawall::set_num_threads(-1), seawall::InvalidInput);
  EXPECT_THROW(seawall::set_num_threads(-1000), seawall::InvalidInput);
  EXPECT_THROW(seawall::set_num_threads(1 << 20), seawall::InvalidInput);
  // A rejected call leaves the previous setting alone.
  seawall::set_num_threads(2);
  EXPECT_THROW(seawall::set_num_threads(-1), seawall::InvalidInput);
  EXPECT_EQ(seawall::num_threads(), 2);
}

TEST_F(ThreadPoolTest, ResizingBetweenCallsKeepsResultsCorrect) {
  for (int round = 0; round < 20; ++round) {
    seawall::set_num_threads(1 + round % 5);
    expect_exact_cover(3000 + round * 17, 1 + round);
  }
}

}  // namespace
