// The dynamic inference batcher, exposed to seawall.serving.
//
// Threads and the interpreter lock: Python threads submit with the GIL held only to check the
// array and read its data pointer; the queue lock is taken with the GIL released. Instance
// threads take the GIL once per batch, in PyModel::run, to call the model; the reaper never does.
// Results go back to Python threads without the GIL: a predict() caller is woken and slices its
// rows out of the shared output itself; submit() and apredict() requests are pushed to a
// Channel, which the delivery thread or the event loop drains.
//
// Python references held by native objects (the model, outputs, futures, exceptions) are PyRefs,
// whose last release, on a thread without the GIL, is handed to the main thread: no destructor
// waits for the GIL. The GIL is never taken back in a destructor either (see without_gil).
#include <fcntl.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "bindings.h"
#include "gil.h"
#include "seawall/errors.h"
#include "seawall/serving/batcher.h"

namespace seawall::bindings {

using serving::Batch;
using serving::BatcherOptions;
using serving::BatcherStats;
using serving::BatchOutput;
using serving::LatencySummary;

namespace {

// Decrefs from threads without the GIL, handed to the interpreter's main thread with
// Py_AddPendingCall, so that no destructor ever waits for the GIL. A lock-free list: pushing
// takes no lock, and the main thread takes the whole list at once.
class DeferredDecrefs {
 public:
  static void add(PyObject* object) {
    auto* node = new Node{object, head().load(std::memory_order_relaxed)};
    while (!head().compare_exchange_weak(node->next, node, std::memory_order_release,
                                         std::memory_order_relaxed)) {
    }
    if (!scheduled().exchange(true) && Py_AddPendingCall(&drain, nullptr) != 0) {
      scheduled().store(false);  // the pending-call queue is full: the next add tries again
    }
  }

 private:
  struct Node {
    PyObject* object;
    Node* next;
  };
  static std::atomic<Node*>& head() {
    static std::atomic<Node*> h{nullptr};
    return h;
  }
  static std::atomic<bool>& scheduled() {
    static std::atomic<bool> s{false};
    return s;
  }
  static int drain(void*) {  // on the main thread, with the GIL
    scheduled().store(false);
    for (Node* n = head().exchange(nullptr, std::memory_order_acquire); n != nullptr;) {
      Node* next = n->next;
      Py_DECREF(n->object);
      delete n;
      n = next;
    }
    return 0;
  }
};

// An owned Python reference that any thread may drop: at once with the GIL, else through
// DeferredDecrefs; while the interpreter finalizes it is left alone (the process is ending).
class PyRef {
 public:
  PyRef() = default;
  explicit PyRef(py::object o) : p_(o.release().ptr()) {}
  PyRef(PyRef&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  PyRef& operator=(PyRef&& other) noexcept {
    std::swap(p_, other.p_);
    return *this;
  }
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  ~PyRef() {
    if (p_ == nullptr || !Py_IsInitialized() || finalizing()) return;
    if (PyGILState_Check()) {
      Py_DECREF(p_);
    } else {
      DeferredDecrefs::add(p_);
    }
  }
  // A new reference; needs the GIL.
  py::object get() const { return py::reinterpret_borrow<py::object>(p_); }
  PyObject* ptr() const { return p_; }

 private:
  PyObject* p_ = nullptr;
};

// The exception a Python model raised, carried to every request of its batch. Each consumer
// raises this same exception object (pybind11's error_already_set may be restored only once).
class ModelError : public std::exception {
 public:
  explicit ModelError(py::object exc) : exc_(std::make_shared<PyRef>(std::move(exc))) {}
  const char* what() const noexcept override { return "the model raised an exception"; }
  [[noreturn]] void raise() const {
    PyObject* e = exc_->ptr();
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(e)), e);
    throw py::error_already_set();
  }

 private:
  std::shared_ptr<PyRef> exc_;
};

// With the GIL held: raises the request's error, as a Python exception (always throws). A
// model's exception is raised as the same object; anything else propagates from the rethrow and
// pybind11 translates it.
void raise_error(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const ModelError& e) {
    e.raise();
  }
}

// A model output shared by the requests of one batch: an array or a dict of arrays.
class PyBatchOutput final : public BatchOutput {
 public:
  PyBatchOutput(py::object value, bool is_dict, int64_t rows)
      : value_(std::move(value)), is_dict_(is_dict), rows_(rows) {}
  int64_t rows() const override { return rows_; }

  // Needs the GIL. The request's rows: the whole output when the batch was this one request, a
  // view of its rows otherwise, and without the row axis for a request of one unbatched row.
  py::object rows_for(int64_t offset, int64_t count, bool unbatched) const {
    if (!is_dict_) return slice(value_.get(), offset, count, unbatched);
    py::dict out;
    for (const auto& [key, value] : py::reinterpret_borrow<py::dict>(value_.get())) {
      out[key] = slice(py::reinterpret_borrow<py::object>(value), offset, count, unbatched);
    }
    return out;
  }

 private:
  py::object slice(py::object array, int64_t offset, int64_t count, bool unbatched) const {
    PyObject* r = nullptr;
    if (unbatched) {
      r = PySequence_GetItem(array.ptr(), offset);
    } else if (offset == 0 && count == rows_) {
      return array;
    } else {
      r = PySequence_GetSlice(array.ptr(), offset, offset + count);
    }
    if (r == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(r);
  }

  PyRef value_;
  bool is_dict_;
  int64_t rows_;
};

// With the GIL held: the request's result, raising its error if it failed.
py::object result_of(const serving::Request& r, bool unbatched) {
  if (r.error) raise_error(r.error);
  return static_cast<const PyBatchOutput&>(*r.output).rows_for(r.offset, r.num_rows, unbatched);
}

std::string shape_text(const std::vector<py::ssize_t>& dims, bool with_rows) {
  std::string s = "(";
  if (with_rows) s += dims.empty() ? "rows," : "rows, ";
  for (size_t i = 0; i < dims.size(); ++i) {
    s += std::to_string(dims[i]);
    if (i + 1 < dims.size() || (dims.size() == 1 && !with_rows)) s += ",";
    if (i + 1 < dims.size()) s += " ";
  }
  return s + ")";
}

std::string shape_of(const py::array& a) {
  return shape_text(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()), false);
}

// The memory of a batch array. Empty while the batch runs; when the model keeps the array (or a
// view of it) past its call, the batch buffer moves here and lives as long as the array.
struct BufferLease {
  std::unique_ptr<serving::BatchBuffer> buffer;
};

// Calls a Python callable on each batch, as a numpy array over the batch buffer. May be
// destroyed by any thread (the last owner of the batcher's state), hence the PyRefs.
class PyModel final : public serving::Model {
 public:
  PyModel(py::object fn, py::dtype dtype, std::vector<py::ssize_t> row_shape)
      : fn_(std::move(fn)), dtype_(std::move(dtype)), row_shape_(std::move(row_shape)) {}

  // Each instance thread keeps one interpreter thread state for its life, so that taking the GIL
  // per batch is cheap. During interpreter finalization the state is left alone: a thread must
  // not take the GIL then.
  void instance_thread(int instance, const std::function<void()>& loop) override {
    (void)instance;
    const PyGILState_STATE state = PyGILState_Ensure();
    tls_state = PyEval_SaveThread();
    loop();
    if (!finalizing()) {
      PyEval_RestoreThread(tls_state);
      PyGILState_Release(state);
    }
    tls_state = nullptr;
  }

  std::shared_ptr<const BatchOutput> run(Batch& batch) override {
    const Gil gil;
    std::vector<py::ssize_t> shape{batch.rows};
    shape.insert(shape.end(), row_shape_.begin(), row_shape_.end());
    auto* lease = new BufferLease();
    const py::capsule base(lease, [](void* p) { delete static_cast<BufferLease*>(p); });
    const py::array x(py::reinterpret_borrow<py::dtype>(dtype_.ptr()), shape,
                      batch.buffer->data(), base);
    py::object out;
    try {
      out = fn_.get()(x);
    } catch (py::error_already_set& e) {
      keep_if_referenced(x, *lease, batch);  // the traceback may hold the array
      throw ModelError(e.value());
    }
    keep_if_referenced(x, *lease, batch);
    return output_of(std::move(out), batch.rows);
  }

 private:
  // Takes the GIL with this thread's saved state (or a temporary one on another thread).
  struct Gil {
    Gil() {
      if (tls_state != nullptr) {
        PyEval_RestoreThread(tls_state);
      } else {
        state = PyGILState_Ensure();
      }
    }
    ~Gil() {
      if (tls_state != nullptr) {
        tls_state = PyEval_SaveThread();
      } else {
        PyGILState_Release(state);
      }
    }
    Gil(const Gil&) = delete;
    Gil& operator=(const Gil&) = delete;
    PyGILState_STATE state{};
  };

  // A model that kept the batch array gets the buffer with it; the instance allocates another.
  static void keep_if_referenced(const py::array& x, BufferLease& lease, Batch& batch) {
    if (Py_REFCNT(x.ptr()) > 1) lease.buffer = std::move(batch.buffer);
  }

  static int64_t rows_of(const py::handle& value, const std::string& what, int64_t rows) {
    if (!py::isinstance<py::array>(value)) {
      throw Error("the model must return a numpy array or a dict of numpy arrays; " + what +
                  " is a " + Py_TYPE(value.ptr())->tp_name);
    }
    const auto a = py::reinterpret_borrow<py::array>(value);
    if (a.ndim() == 0) {
      throw Error(what + " is a 0-d array: its first axis must be the batch's " +
                  std::to_string(rows) + " rows");
    }
    return a.shape(0);
  }

  static std::shared_ptr<const BatchOutput> output_of(py::object out, int64_t rows) {
    if (!PyDict_Check(out.ptr())) {
      const int64_t n = rows_of(out, "its output", rows);
      return std::make_shared<PyBatchOutput>(std::move(out), false, n);
    }
    const auto d = py::reinterpret_borrow<py::dict>(out);
    if (d.empty()) throw Error("the model returned an empty dict");
    for (const auto& [key, value] : d) {
      const std::string what = "output " + py::repr(key).cast<std::string>();
      const int64_t n = rows_of(value, what, rows);
      if (n != rows) {
        throw Error(::seawall::detail::concat(what, " has ", n, " rows for a batch of ", rows,
                                              " (its first axis must be the batch's rows)"));
      }
    }
    return std::make_shared<PyBatchOutput>(std::move(out), true, rows);
  }

  static thread_local PyThreadState* tls_state;

  PyRef fn_;
  PyRef dtype_;
  std::vector<py::ssize_t> row_shape_;
};

thread_local PyThreadState* PyModel::tls_state = nullptr;

class ChannelRequest;

// Completed submit()/apredict() requests, waiting to be delivered to their futures by a Python
// thread: the delivery thread blocks in wait(); an event loop watches fileno(), which becomes
// readable when requests arrive.
class Channel {
 public:
  Channel() {
    if (pipe(fds_) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    for (const int fd : fds_) {
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }
  ~Channel() {
    close(fds_[0]);
    close(fds_[1]);
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  int fileno() const { return fds_[0]; }

  void push(std::unique_ptr<ChannelRequest> r) {
    bool signal = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      items_.push_back(std::move(r));
      signal = !signaled_;
      signaled_ = true;
    }
    if (signal) notify();
  }

  // Everything completed so far; with `wait`, first blocks until something is, the channel is
  // closed, or `timeout` passes (a negative timeout waits without limit).
  std::vector<std::unique_ptr<ChannelRequest>> take(bool wait, double timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (wait) {
      const auto ready = [this] { return !items_.empty() || closed_; };
      if (timeout < 0) {
        cv_.wait(lock, ready);
      } else {
        cv_.wait_for(lock, std::chrono::duration<double>(timeout), ready);
      }
    }
    if (signaled_) {
      char sink[64];
      while (read(fds_[0], sink, sizeof sink) > 0) {
      }
      signaled_ = false;
    }
    return std::exchange(items_, {});
  }

  void close_channel() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
      signaled_ = true;
    }
    notify();
  }

  bool closed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_;
  }

 private:
  void notify() {
    const char byte = 1;
    // A full pipe already says "readable"; nothing else can fail here.
    [[maybe_unused]] const auto written = write(fds_[1], &byte, 1);
    cv_.notify_all();
  }

  int fds_[2] = {-1, -1};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<ChannelRequest>> items_;
  bool signaled_ = false;
  bool closed_ = false;
};

// A submit()/apredict() request: owned by the batcher until it completes, then by its channel
// until drained. Holds the input array (whose rows it points at) and the future to resolve.
class ChannelRequest final : public serving::Request {
 public:
  ChannelRequest(py::array input, const void* rows, int64_t n, int priority, int64_t timeout_us,
                 bool unbatched, std::weak_ptr<Channel> channel, py::object token)
      : Request(rows, n, priority, timeout_us),
        unbatched(unbatched),
        token(std::move(token)),
        input_(std::move(input)),
        channel_(std::move(channel)) {}

  const bool unbatched;
  PyRef token;

 protected:
  void complete() override {
    std::unique_ptr<ChannelRequest> self(this);
    if (auto channel = channel_.lock()) channel->push(std::move(self));
    // else nobody can deliver it any more: it is dropped
  }

 private:
  PyRef input_;
  std::weak_ptr<Channel> channel_;
};

// An error result handed to Python, raised again by reraise().
struct Failure {
  std::exception_ptr error;
};

struct PyChannel {
  std::shared_ptr<Channel> channel = std::make_shared<Channel>();

  // (token, result) pairs; a failed request's result is a BatchFailure.
  py::list to_list(std::vector<std::unique_ptr<ChannelRequest>>& items) const {
    py::list out(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      const ChannelRequest& r = *items[i];
      py::object result = r.error ? py::cast(Failure{r.error})
                                  : static_cast<const PyBatchOutput&>(*r.output)
                                        .rows_for(r.offset, r.num_rows, r.unbatched);
      out[i] = py::make_tuple(r.token.get(), std::move(result));
    }
    items.clear();  // with the GIL held
    return out;
  }

  py::list drain() const {
    auto items = without_gil([this] { return channel->take(false, 0); });
    return to_list(items);
  }

  py::object wait(std::optional<double> timeout) const {
    auto items = without_gil([&] { return channel->take(true, timeout.value_or(-1.0)); });
    if (items.empty() && channel->closed()) return py::none();
    return to_list(items);
  }
};

struct Schema {
  py::object dtype = py::none();  // a numpy dtype once fixed
  std::vector<py::ssize_t> row_shape;
  bool shape_fixed = false;
};

// An input checked against the batcher's schema: C-contiguous, of its dtype and row shape.
struct Prepared {
  py::array array;
  int64_t rows = 0;
  bool unbatched = false;
};

class PyBatcher {
 public:
  PyBatcher(py::object model, BatcherOptions options, py::object dtype,
            std::optional<std::vector<py::ssize_t>> row_shape)
      : model_(std::move(model)), options_(std::move(options)) {
    options_.validate();
    if (!dtype.is_none()) set_dtype(py::dtype::from_args(dtype));
    if (row_shape) {
      for (const auto d : *row_shape) SEAWALL_CHECK(d >= 0, "row_shape has a negative size ", d);
      schema_.row_shape = *row_shape;
      schema_.shape_fixed = true;
    }
    if (!schema_.dtype.is_none() && schema_.shape_fixed) start();
  }

  ~PyBatcher() {
    if (core_) {
      without_gil([this] { core_->close(false); });
      core_.reset();
    }
  }
  PyBatcher(const PyBatcher&) = delete;
  PyBatcher& operator=(const PyBatcher&) = delete;

  py::object predict(py::handle x, std::optional<int> priority, std::optional<int64_t> timeout) {
    Prepared p = prepare(x);
    serving::WaitableRequest request(p.array.data(), p.rows, priority_of(priority),
                                     timeout_of(timeout));
    const PyRef input(std::move(p.array));  // held across the wait; safe to drop from any state
    // Waits without the GIL: first polling, briefly, when the result is expected soon; then
    // asleep, waking now and then so that Ctrl-C reaches a main thread waiting here. The GIL is
    // taken back in ordinary code (see without_gil).
    bool interrupted = false;
    PyThreadState* state = PyEval_SaveThread();
    std::exception_ptr refused;
    try {
      core_->submit(request);
    } catch (...) {
      refused = std::current_exception();
    }
    if (refused) {
      PyEval_RestoreThread(state);
      std::rethrow_exception(refused);
    }
    const bool done = core_->wait_briefly(request);
    while (!done && !request.wait_for(std::chrono::milliseconds(100))) {
      PyEval_RestoreThread(state);
      interrupted = PyErr_CheckSignals() != 0;
      state = PyEval_SaveThread();
      if (interrupted) {
        if (!core_->cancel(request)) request.wait();  // its batch is running: let it finish
        break;
      }
    }
    PyEval_RestoreThread(state);
    if (interrupted) throw py::error_already_set();
    py::object result = result_of(request, p.unbatched);
    request.output.reset();  // the output's last owner may be this request: GIL held here
    return result;
  }

  void submit(py::handle x, std::optional<int> priority, std::optional<int64_t> timeout,
              const PyChannel& channel, py::object token) {
    Prepared p = prepare(x);
    const void* rows = p.array.data();
    auto request = std::make_unique<ChannelRequest>(
        std::move(p.array), rows, p.rows, priority_of(priority), timeout_of(timeout), p.unbatched,
        channel.channel, std::move(token));
    without_gil([&] { core_->submit(*request); });
    request.release();  // the batcher completes it, which hands it to the channel
  }

  // True once every request has completed and the threads have stopped.
  bool close(bool drain) {
    closed_ = true;
    if (!core_) return true;
    return without_gil([&] { return core_->close(drain); });
  }

  bool closed() const { return closed_; }

  py::dict stats() const {
    const BatcherStats s = core_ ? without_gil([this] { return core_->stats(); }) : BatcherStats{};
    const auto latency = [](const LatencySummary& l) {
      py::dict d;
      d["count"] = l.count;
      d["sum"] = l.sum;
      d["mean"] = l.mean;
      d["min"] = l.min;
      d["max"] = l.max;
      d["p50"] = l.p50;
      d["p90"] = l.p90;
      d["p99"] = l.p99;
      return d;
    };
    py::dict d;
    d["requests"] = s.requests;
    d["completed"] = s.completed;
    d["rejected"] = s.rejected;
    d["timed_out"] = s.timed_out;
    d["failed"] = s.failed;
    d["cancelled"] = s.cancelled;
    d["queued"] = s.queued;
    d["running"] = s.running;
    d["batches"] = s.batches;
    d["failed_batches"] = s.failed_batches;
    d["rows"] = s.rows;
    py::dict histogram;
    for (const auto& [size, count] : s.batch_size_histogram) histogram[py::int_(size)] = count;
    d["batch_size_histogram"] = histogram;
    d["queue_wait_us"] = latency(s.queue_wait_us);
    d["compute_us"] = latency(s.compute_us);
    const auto total = [](const serving::DurationTotal& t) {
      py::dict out;
      out["count"] = t.count;
      out["ns"] = t.ns;
      return out;
    };
    d["queue"] = total(s.queue);
    d["compute_input"] = total(s.compute_input);
    d["compute_infer"] = total(s.compute_infer);
    d["compute_output"] = total(s.compute_output);
    py::dict by_size;
    for (const auto& [size, phases] : s.batch_stats) {
      py::dict entry;
      entry["compute_input"] = total(phases.compute_input);
      entry["compute_infer"] = total(phases.compute_infer);
      entry["compute_output"] = total(phases.compute_output);
      by_size[py::int_(size)] = entry;
    }
    d["batch_stats"] = by_size;
    return d;
  }

  void reset_stats() {
    if (core_) without_gil([this] { core_->reset_stats(); });
  }

  py::dict options_dict() const {
    py::dict d;
    d["max_batch_size"] = options_.max_batch_size;
    d["max_queue_delay_us"] = options_.max_queue_delay_us;
    d["preferred_batch_sizes"] = py::list(py::cast(options_.preferred_batch_sizes));
    d["max_queue_size"] = options_.max_queue_size;
    d["default_timeout_us"] = options_.default_timeout_us;
    d["priority_levels"] = options_.priority_levels;
    d["default_priority"] = options_.default_priority < 0 ? options_.priority_levels - 1
                                                           : options_.default_priority;
    d["instances"] = options_.instances;
    return d;
  }

  py::object dtype() const { return schema_.dtype; }
  py::object row_shape() const {
    if (!schema_.shape_fixed) return py::none();
    return py::tuple(py::cast(schema_.row_shape));
  }
  const BatcherOptions& options() const { return options_; }

 private:
  int priority_of(std::optional<int> priority) const {
    if (!priority) return -1;
    SEAWALL_CHECK(*priority >= 0 && *priority < options_.priority_levels,
                  "priority must be between 0 (highest) and ", options_.priority_levels - 1,
                  ", got ", *priority);
    return *priority;
  }

  static int64_t timeout_of(std::optional<int64_t> timeout) {
    if (!timeout) return -1;
    SEAWALL_CHECK(*timeout >= 0, "timeout_us must be >= 0 (0: no timeout), got ", *timeout);
    return *timeout;
  }

  void set_dtype(const py::dtype& dt) {
    SEAWALL_CHECK_TYPE(!dt.attr("hasobject").cast<bool>() && dt.itemsize() > 0,
                       "rows of dtype ", py::str(dt).cast<std::string>(),
                       " cannot be batched: use numbers, booleans or fixed-width strings");
    schema_.dtype = dt;
  }

  std::string expected_shapes() const {
    return shape_text(schema_.row_shape, true) + " or, for one row, " +
           shape_text(schema_.row_shape, false);
  }

  void start() {
    const py::dtype dt = py::reinterpret_borrow<py::dtype>(schema_.dtype);
    int64_t row_bytes = dt.itemsize();
    for (const auto d : schema_.row_shape) {
      SEAWALL_CHECK(d == 0 || row_bytes <= (int64_t{1} << 46) / d, "rows of shape ",
                    shape_text(schema_.row_shape, false), " are too large");
      row_bytes *= d;
    }
    BatcherOptions o = options_;
    o.row_bytes = row_bytes;
    auto model = std::make_shared<PyModel>(model_, dt, schema_.row_shape);
    // Pure C++ from here (it takes the batcher's locks and starts its threads): without the GIL.
    // Meanwhile another thread's first request may start a core too; the first one in is kept,
    // and the other is closed, also without the GIL (its threads need the GIL to stop).
    auto core = without_gil(
        [&] { return std::make_unique<serving::Batcher>(std::move(o), std::move(model)); });
    if (core_) {
      without_gil([&] { core.reset(); });
    } else {
      core_ = std::move(core);
      if (closed_) without_gil([this] { core_->close(false); });  // closed meanwhile
    }
  }

  Prepared prepare(py::handle x) {
    if (closed_ && !core_) throw BatcherClosed("the batcher is closed");
    py::array a = py::isinstance<py::array>(x) ? py::reinterpret_borrow<py::array>(x) : as_array(x);
    if (schema_.dtype.is_none()) set_dtype(a.dtype());
    const auto dt = py::reinterpret_borrow<py::dtype>(schema_.dtype);
    if (!a.dtype().equal(dt)) {
      throw TypeMismatch("expected rows of dtype " + py::str(dt).cast<std::string>() + ", got " +
                         py::str(a.dtype()).cast<std::string>());
    }
    if (!schema_.shape_fixed) {
      SEAWALL_CHECK(a.ndim() >= 1,
                    "the first request fixes the row shape, so it must be an array of rows (or "
                    "one 1-d row); pass row_shape=() for rows of one value");
      const py::ssize_t skip = a.ndim() == 1 ? 0 : 1;
      schema_.row_shape.assign(a.shape() + skip, a.shape() + a.ndim());
      schema_.shape_fixed = true;
    }
    const auto r = static_cast<py::ssize_t>(schema_.row_shape.size());
    const py::ssize_t nd = a.ndim();
    bool shape_ok = nd == r || nd == r + 1;
    for (py::ssize_t i = 0; shape_ok && i < r; ++i) {
      shape_ok = a.shape(nd - r + i) == schema_.row_shape[static_cast<size_t>(i)];
    }
    if (!shape_ok) {
      throw InvalidInput("expected an array of shape " + expected_shapes() + ", got shape " +
                         shape_of(a));
    }
    Prepared p;
    p.unbatched = nd == r;
    p.rows = p.unbatched ? 1 : a.shape(0);
    SEAWALL_CHECK(p.rows >= 1, "a request needs at least one row, got shape ", shape_of(a));
    SEAWALL_CHECK(p.rows <= options_.max_batch_size, "a request of ", p.rows,
                  " rows is larger than max_batch_size=", options_.max_batch_size,
                  ": split it, or raise max_batch_size");
    using api = py::detail::npy_api;
    constexpr int kReady = api::NPY_ARRAY_C_CONTIGUOUS_ | api::NPY_ARRAY_ALIGNED_;
    if ((a.flags() & kReady) != kReady) {
      a = py::reinterpret_steal<py::array>(
          api::get().PyArray_FromAny_(a.ptr(), nullptr, 0, 0, kReady, nullptr));
      if (!a) throw py::error_already_set();
    }
    if (!core_) start();
    p.array = std::move(a);
    return p;
  }

  // Lists, scalars and other array-likes, with numpy's same-kind casting to the batcher's dtype.
  py::array as_array(py::handle x) const {
    const auto np = py::module_::import("numpy");
    py::array a;
    try {
      a = np.attr("asarray")(x);
    } catch (py::error_already_set& e) {
      if (!e.matches(PyExc_ValueError) && !e.matches(PyExc_TypeError)) throw;
      throw InvalidInput(std::string("the request is not an array of rows: ") + e.what());
    }
    if (!schema_.dtype.is_none() &&
        np.attr("can_cast")(a.dtype(), schema_.dtype, "same_kind").cast<bool>()) {
      a = a.attr("astype")(schema_.dtype);
    }
    return a;
  }

  py::object model_;
  BatcherOptions options_;
  Schema schema_;
  bool closed_ = false;
  std::unique_ptr<serving::Batcher> core_;  // started once the dtype and row shape are known
};

}  // namespace

void bind_serving(py::module_& m) {
  py::class_<Failure>(m, "BatchFailure", "A failed request's error, for the delivery code")
      .def("reraise", [](const Failure& f) { raise_error(f.error); });

  py::class_<PyChannel>(m, "BatchChannel",
                        "Completed submit()/apredict() requests waiting to reach their futures")
      .def(py::init<>())
      .def("fileno", [](const PyChannel& c) { return c.channel->fileno(); })
      .def("drain", &PyChannel::drain)
      .def("wait", &PyChannel::wait, py::arg("timeout") = py::none())
      .def("close", [](PyChannel& c) { without_gil([&] { c.channel->close_channel(); }); });

  py::class_<PyBatcher>(m, "Batcher", "The native dynamic batcher (use seawall.serving.Batcher)")
      .def(py::init([](py::object model, int64_t max_batch_size, int64_t max_queue_delay_us,
                       std::vector<int64_t> preferred_batch_sizes, int64_t max_queue_size,
                       int64_t default_timeout_us, int priority_levels, int default_priority,
                       int instances, int64_t spin_us, py::object dtype,
                       std::optional<std::vector<py::ssize_t>> row_shape) {
             BatcherOptions o;
             o.max_batch_size = max_batch_size;
             o.max_queue_delay_us = max_queue_delay_us;
             o.preferred_batch_sizes = std::move(preferred_batch_sizes);
             o.max_queue_size = max_queue_size;
             o.default_timeout_us = default_timeout_us;
             o.priority_levels = priority_levels;
             o.default_priority = default_priority;
             o.instances = instances;
             o.spin_us = spin_us;
             return std::make_unique<PyBatcher>(std::move(model), std::move(o), std::move(dtype),
                                                std::move(row_shape));
           }),
           py::arg("model"), py::arg("max_batch_size"), py::arg("max_queue_delay_us"),
           py::arg("preferred_batch_sizes"), py::arg("max_queue_size"),
           py::arg("default_timeout_us"), py::arg("priority_levels"), py::arg("default_priority"),
           py::arg("instances"), py::arg("spin_us"), py::arg("dtype"), py::arg("row_shape"))
      .def("predict", &PyBatcher::predict, py::arg("x"), py::arg("priority"), py::arg("timeout_us"))
      .def("submit", &PyBatcher::submit, py::arg("x"), py::arg("priority"), py::arg("timeout_us"),
           py::arg("channel"), py::arg("token"))
      .def("close", &PyBatcher::close, py::arg("drain"))
      .def_property_readonly("closed", &PyBatcher::closed)
      .def("stats", &PyBatcher::stats)
      .def("reset_stats", &PyBatcher::reset_stats)
      .def_property_readonly("dtype", &PyBatcher::dtype)
      .def_property_readonly("row_shape", &PyBatcher::row_shape)
      .def_property_readonly("max_batch_size",
                             [](const PyBatcher& b) { return b.options().max_batch_size; })
      .def_property_readonly("instances", [](const PyBatcher& b) { return b.options().instances; })
      .def_property_readonly("options", &PyBatcher::options_dict)
      .def_property_readonly("priority_levels",
                             [](const PyBatcher& b) { return b.options().priority_levels; });
}

}  // namespace seawall::bindings
