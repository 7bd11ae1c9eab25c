#include "seawall/core/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "seawall/errors.h"

namespace seawall {
namespace {

thread_local bool tls_inside_pool_task = false;

// One parallel_for call: workers and the caller pull piece indices from `next`.
struct Job {
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0;
  int64_t piece = 0;
  int64_t pieces = 0;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;

  // Runs pieces until none is left; returns how many this thread ran.
  int64_t work() {
    int64_t ran = 0;
    for (;;) {
      const int64_t i = next.fetch_add(1);
      if (i >= pieces) break;
      if (!failed.load(std::memory_order_relaxed)) {
        const int64_t begin = i * piece;
        const int64_t end = std::min(n, begin + piece);
        try {
          (*fn)(begin, end);
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!error) error = std::current_exception();
          failed = true;
        }
      }
      ++ran;
    }
    return ran;
  }
};

class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void run(Job& job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &job;
      ++generation_;
    }
    wake_.notify_all();
    tls_inside_pool_task = true;
    int64_t ran = job.work();
    tls_inside_pool_task = false;
    job.done.fetch_add(ran);
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [&] { return job.done.load() == job.pieces && active_ == 0; });
    job_ = nullptr;
  }

 private:
  void loop() {
    tls_inside_pool_task = true;
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || (job_ != nullptr && generation_ != seen); });
      if (stopping_) return;
      seen = generation_;
      Job* job = job_;
      ++active_;
      lock.unlock();
      const int64_t ran = job->work();
      job->done.fetch_add(ran);
      lock.lock();
      --active_;
      finished_.notify_all();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable finished_;
  Job* job_ = nullptr;
  uint64_t generation_ = 0;
  int active_ = 0;
  bool stopping_ = false;
};

constexpr int kMaxThreads = 1024;

std::mutex g_pool_mutex;  // one parallel_for at a time owns the pool; others wait
std::unique_ptr<Pool> g_pool;
std::atomic<int> g_requested{0};

int affinity_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

}  // namespace

int default_num_threads() {
  // Read at each use, so that a change made after start-up takes effect. Set to anything but a
  // count it is an error at the first kernel that sizes the pool, rather than ignored.
  const char* env = std::getenv("SEAWALL_NUM_THREADS");
  if (env == nullptr || env[0] == '\0') return affinity_cores();
  int value = 0;
  bool ok = true;
  for (const char* p = env; *p != '\0' && ok; ++p) {
    ok = *p >= '0' && *p <= '9' && value <= kMaxThreads;  // stops before it can overflow
    value = value * 10 + (*p - '0');
  }
  SEAWALL_CHECK(ok && value >= 1 && value <= kMaxThreads, "SEAWALL_NUM_THREADS='", env,
                "' is not a thread count: set it to an integer from 1 to ", kMaxThreads,
                ", or unset it for the cores this process may use");
  return value;
}

int num_threads() {
  const int requested = g_requested.load();
  return requested > 0 ? requested : default_num_threads();
}

void set_num_threads(int n) {
  SEAWALL_CHECK(n >= 0 && n <= kMaxThreads, "num_threads must be between 1 and ", kMaxThreads,
                " (0 for the default), got ", n);
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  g_requested = n;
  g_pool.reset();  // rebuilt at the right size on next use
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int threads = num_threads();
  if (tls_inside_pool_task || threads == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  if (!g_pool || g_pool->size() != threads) {
    g_pool.reset();
    g_pool = std::make_unique<Pool>(threads);
  }
  Job job;
  job.fn = &fn;
  job.n = n;
  // A few pieces per thread balances uneven pieces without much scheduling cost.
  const int64_t target = static_cast<int64_t>(threads) * 4;
  job.piece = std::max(grain, n / target + (n % target != 0 ? 1 : 0));  // ceil without overflow
  job.pieces = n / job.piece + (n % job.piece != 0 ? 1 : 0);
  g_pool->run(job);
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace seawall
