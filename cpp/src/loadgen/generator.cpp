#include "seawall/loadgen/generator.h"

#include <algorithm>
#include <cmath>

#include "seawall/errors.h"
#include "seawall/loadgen/http_response.h"

namespace seawall::loadgen {

void WindowStats::merge(const WindowStats& other) {
  seconds += other.seconds;
  sent += other.sent;
  answered += other.answered;
  for (const auto& [code, n] : other.status) status[code] += n;
  timeouts += other.timeouts;
  closed += other.closed;
  protocol_errors += other.protocol_errors;
  connect_errors += other.connect_errors;
  missed += other.missed;
  unfinished += other.unfinished;
  in_flight = other.in_flight;
  backlog = other.backlog;
  max_send_lag_ns = std::max(max_send_lag_ns, other.max_send_lag_ns);
  latency.merge(other.latency);
  error_latency.merge(other.error_latency);
  if (first_error.empty()) first_error = other.first_error;
  for (const auto& [code, body] : other.error_bodies) error_bodies.emplace(code, body);
}

namespace {

void check_options(const LoadOptions& o) {
  SEAWALL_CHECK(!o.requests.empty(), "the load generator needs at least one request to send");
  for (const auto& r : o.requests) SEAWALL_CHECK(!r.empty(), "a request to send is empty");
  SEAWALL_CHECK(o.port > 0 && o.port < 65536, "port must be in 1..65535, got ", o.port);
  SEAWALL_CHECK(o.concurrency >= 1 && o.concurrency <= 100000,
                "concurrency must be in 1..100000, got ", o.concurrency);
  if (o.mode == LoadMode::kOpen) {
    SEAWALL_CHECK(std::isfinite(o.rate) && o.rate > 0 && o.rate <= 1e7,
                  "rate must be in (0, 1e7] requests per second, got ", o.rate);
  }
  SEAWALL_CHECK(std::isfinite(o.request_timeout_s) && o.request_timeout_s > 0,
                "request_timeout_s must be positive, got ", o.request_timeout_s);
  SEAWALL_CHECK(std::isfinite(o.connect_timeout_s) && o.connect_timeout_s > 0,
                "connect_timeout_s must be positive, got ", o.connect_timeout_s);
  SEAWALL_CHECK(o.max_backlog >= 1, "max_backlog must be at least 1");
}

}  // namespace

}  // namespace seawall::loadgen

#if defined(__linux__)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

namespace seawall::loadgen {

namespace {

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r returns the message (maybe not in buf); the XSI one fills buf.
  auto result = strerror_r(err, buf, sizeof buf);
  if constexpr (std::is_same_v<decltype(result), char*>) {
    return result;
  } else {
    return result == 0 ? std::string(buf) : "error " + std::to_string(err);
  }
}

constexpr uint64_t kTimerTag = UINT64_MAX;
constexpr uint64_t kWakeTag = UINT64_MAX - 1;
constexpr uint64_t kHousekeepingNs = 5'000'000;  // timeouts and reconnects, checked this often
constexpr uint64_t kReconnectBackoffNs = 50'000'000;
constexpr std::size_t kReadBytes = 64 << 10;

enum class ConnState { kClosed, kConnecting, kReady, kBusy };

struct Conn {
  int fd = -1;
  ConnState state = ConnState::kClosed;
  ResponseParser parser;
  bool has_request = false;  // a request is assigned (being written, in flight, or waiting)
  const std::string* request = nullptr;
  std::size_t written = 0;
  uint64_t origin_ns = 0;  // latency origin: the send (closed loop) or the due time (open loop)
  uint64_t sent_ns = 0;    // first byte written (for the timeout); 0: not sent yet
  bool want_out = false;   // EPOLLOUT registered
  uint64_t since_ns = 0;   // when connecting started
  uint64_t retry_at_ns = 0;
};

}  // namespace

struct LoadGenerator::Impl {
  LoadOptions o;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  int ep = -1;
  int timer = -1;
  int wake = -1;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<double> drain_timeout_s{0.0};
  bool started = false;
  bool stopped = false;

  // Guarded by mu: the loop holds it while it handles one round of events.
  std::mutex mu;
  WindowStats window;
  uint64_t window_start_ns = 0;
  std::string fatal;

  // The loop's own state (changed by the loop thread only, under mu).
  std::vector<Conn> conns;
  std::vector<std::size_t> ready;  // open loop: idle connected connections, most recent last
  std::vector<std::size_t> spare;  // open loop: closed connections, to open when needed
  std::deque<uint64_t> backlog;    // open loop: due times waiting for a connection
  uint64_t in_flight = 0;          // requests sent and not yet answered or lost
  uint64_t next_request = 0;
  double next_due = 0.0;  // open loop, in ns of the steady clock
  uint64_t timer_armed_ns = 0;
  std::mt19937_64 rng;
  std::exponential_distribution<double> gap{1.0};
  std::vector<char> buffer = std::vector<char>(kReadBytes);

  explicit Impl(LoadOptions options) : o(std::move(options)) {
    check_options(o);
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (inet_pton(AF_INET, o.address.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(static_cast<uint16_t>(o.port));
      addr_len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, o.address.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(static_cast<uint16_t>(o.port));
      addr_len = sizeof(sockaddr_in6);
    } else {
      throw InvalidInput("address must be a numeric IPv4 or IPv6 address, got '" + o.address +
                         "'");
    }
    rng.seed(o.seed);
    if (o.mode == LoadMode::kOpen) gap = std::exponential_distribution<double>(o.rate / 1e9);
    conns.resize(static_cast<std::size_t>(o.concurrency));
  }

  ~Impl() {
    for (auto& c : conns) {
      if (c.fd >= 0) ::close(c.fd);
    }
    for (int fd : {ep, timer, wake}) {
      if (fd >= 0) ::close(fd);
    }
  }

  bool open_loop() const { return o.mode == LoadMode::kOpen; }
  bool is_stopping() const { return stopping.load(std::memory_order_relaxed); }
  std::string where() const { return o.address + ":" + std::to_string(o.port); }

  void note_error(const std::string& message) {
    if (window.first_error.empty()) window.first_error = message;
  }

  // --- connections --------------------------------------------------------------------------

  void watch(std::size_t i, bool out, int op) {
    Conn& c = conns[i];
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0u);
    ev.data.u64 = i;
    if (epoll_ctl(ep, op, c.fd, &ev) != 0) throw Error("epoll_ctl failed: " + errno_text(errno));
    c.want_out = out;
  }

  void close_conn(std::size_t i) {
    Conn& c = conns[i];
    if (c.fd < 0) return;
    ::close(c.fd);  // closing takes it out of the epoll set
    c.fd = -1;
    c.state = ConnState::kClosed;
    c.parser.reset();
    c.want_out = false;
    if (open_loop()) spare.push_back(i);
  }

  // Gives connection i the next request, due at `origin`.
  void assign(std::size_t i, uint64_t origin) {
    Conn& c = conns[i];
    c.has_request = true;
    c.request = &o.requests[next_request++ % o.requests.size()];
    c.written = 0;
    c.origin_ns = origin;
    c.sent_ns = 0;
  }

  // Sends connection i's request: at once when connected, else once it connects.
  void start_request(std::size_t i, uint64_t now) {
    Conn& c = conns[i];
    if (c.state == ConnState::kReady) {
      c.state = ConnState::kBusy;
      write_request(i, now);
    } else if (c.state == ConnState::kClosed) {
      open_conn(i, now);
    }
  }

  // Opens connection i; a failure is counted, and retried after a back-off.
  void open_conn(std::size_t i, uint64_t now) {
    Conn& c = conns[i];
    c.retry_at_ns = now + kReconnectBackoffNs;
    const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      connect_failed(i, now, "cannot open a socket: " + errno_text(errno));
      return;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), addr_len);
    if (rc != 0 && errno != EINPROGRESS) {
      const int err = errno;
      ::close(fd);
      connect_failed(i, now, "cannot connect to " + where() + ": " + errno_text(err));
      return;
    }
    c.fd = fd;
    c.since_ns = now;
    c.state = ConnState::kConnecting;
    watch(i, true, EPOLL_CTL_ADD);
  }

  // Connection i did not open (its socket, if any, is closed already).
  void connect_failed(std::size_t i, uint64_t now, const std::string& message) {
    Conn& c = conns[i];
    c.fd = -1;
    c.state = ConnState::kClosed;
    c.want_out = false;
    c.retry_at_ns = now + kReconnectBackoffNs;
    window.connect_errors++;
    note_error(message);
    if (c.has_request && open_loop()) {
      backlog.push_front(c.origin_ns);  // not sent: it waits for another connection
      c.has_request = false;
    }
    if (open_loop()) spare.push_back(i);
    // Closed loop: housekeeping opens it again (with its request) after the back-off.
  }

  void on_connected(std::size_t i, uint64_t now) {
    Conn& c = conns[i];
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      ::close(c.fd);
      connect_failed(i, now, "cannot connect to " + where() + ": " + errno_text(err));
      return;
    }
    c.state = ConnState::kReady;
    if (c.has_request) {
      start_request(i, now);
      return;
    }
    watch(i, false, EPOLL_CTL_MOD);
    if (is_stopping()) {
      close_conn(i);
    } else if (open_loop()) {
      make_ready(i, now);
    } else {
      assign(i, now);
      start_request(i, now);
    }
  }

  // --- requests -----------------------------------------------------------------------------

  void write_request(std::size_t i, uint64_t now) {
    Conn& c = conns[i];
    if (c.sent_ns == 0) {
      c.sent_ns = now;
      if (!open_loop()) c.origin_ns = now;
      window.sent++;
      in_flight++;
      if (open_loop() && now > c.origin_ns) {
        window.max_send_lag_ns = std::max(window.max_send_lag_ns, now - c.origin_ns);
      }
    }
    while (c.written < c.request->size()) {
      const ssize_t n = ::send(c.fd, c.request->data() + c.written, c.request->size() - c.written,
                               MSG_NOSIGNAL);
      if (n > 0) {
        c.written += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!c.want_out) watch(i, true, EPOLL_CTL_MOD);
        return;
      }
      lost(i, now, "the connection failed while sending: " + errno_text(errno));
      return;
    }
    if (c.want_out) watch(i, false, EPOLL_CTL_MOD);
  }

  // Connection i failed under its request: the request is lost, counted as closed. It is not
  // sent again: the server may have run it (the count of what it saw must stay exact).
  void lost(std::size_t i, uint64_t now, const std::string& message) {
    close_conn(i);
    drop(i, now, message);
  }

  // Connection i's request ends without a response.
  void drop(std::size_t i, uint64_t now, const std::string& message) {
    window.closed++;
    note_error(message);
    finish(i, now);
  }

  // Connection i is done with its request (answered or lost): it takes the next one.
  void finish(std::size_t i, uint64_t now) {
    Conn& c = conns[i];
    if (c.has_request && c.sent_ns != 0) in_flight--;
    c.has_request = false;
    c.sent_ns = 0;
    if (is_stopping()) {
      close_conn(i);
      return;
    }
    if (open_loop()) {
      if (c.state == ConnState::kReady) make_ready(i, now);
      return;  // a closed one is in `spare`
    }
    if (c.state == ConnState::kReady || c.retry_at_ns <= now) {
      assign(i, now);
      start_request(i, now);
    }  // else housekeeping opens it again after the back-off
  }

  // Open loop: connection i is free; the oldest waiting request takes it.
  void make_ready(std::size_t i, uint64_t now) {
    if (!backlog.empty()) {
      const uint64_t due = backlog.front();
      backlog.pop_front();
      assign(i, due);
      start_request(i, now);
      return;
    }
    ready.push_back(i);
  }

  void answered(std::size_t i, uint64_t now, bool force_close) {
    Conn& c = conns[i];
    const int code = c.parser.status();
    const uint64_t took = now > c.origin_ns ? now - c.origin_ns : 0;
    window.answered++;
    window.status[code]++;
    if (code >= 200 && code < 300) {
      window.latency.record(took);
    } else {
      window.error_latency.record(took);
      if (!window.error_bodies.count(code)) window.error_bodies[code] = c.parser.body_sample();
    }
    const bool keep = c.parser.keep_alive() && !force_close;
    c.parser.reset();
    if (keep) {
      c.state = ConnState::kReady;
    } else {
      close_conn(i);
      c.retry_at_ns = 0;  // the server ended it as it may: open the next one at once
    }
    finish(i, now);
  }

  void on_readable(std::size_t i, uint64_t now) {
    Conn& c = conns[i];
    for (;;) {
      const ssize_t n = ::recv(c.fd, buffer.data(), buffer.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) {
        on_eof(i, now, n == 0 ? "the server closed the connection"
                              : "the connection failed: " + errno_text(errno));
        return;
      }
      if (c.state != ConnState::kBusy) {
        window.protocol_errors++;
        note_error("the server sent bytes with no request pending");
        close_conn(i);
        if (!open_loop() && !is_stopping()) finish(i, now);
        return;
      }
      const std::string_view data(buffer.data(), static_cast<std::size_t>(n));
      std::size_t used = 0;
      const auto result = c.parser.feed(data, &used);
      if (result == ResponseParser::Result::kComplete) {
        const bool extra = used < data.size();
        if (extra) {
          // No request was pipelined: the bytes after the response are the server's error.
          window.protocol_errors++;
          note_error("the server sent more bytes than its response held");
        }
        answered(i, now, extra);
        return;
      }
      if (result == ResponseParser::Result::kError) {
        window.protocol_errors++;
        note_error("a malformed response: " + c.parser.error());
        close_conn(i);
        finish(i, now);
        return;
      }
      if (static_cast<std::size_t>(n) < buffer.size()) return;  // level-triggered: more later
    }
  }

  void on_eof(std::size_t i, uint64_t now, const std::string& why) {
    Conn& c = conns[i];
    if (c.state == ConnState::kBusy) {
      const auto result = c.parser.feed_eof();
      if (result == ResponseParser::Result::kComplete) {
        answered(i, now, true);
      } else {
        lost(i, now, why + (c.parser.started() ? " in the middle of a response"
                                               : " before the response"));
      }
      return;
    }
    // An idle keep-alive connection the server closed: another opens when one is needed.
    close_conn(i);
    if (!open_loop() && !is_stopping()) {
      c.retry_at_ns = 0;
      finish(i, now);
    }
  }

  // --- open loop ----------------------------------------------------------------------------

  void dispatch_due(uint64_t now) {
    while (static_cast<double>(now) >= next_due) {
      const auto due = static_cast<uint64_t>(next_due);
      next_due += o.poisson ? gap(rng) : 1e9 / o.rate;
      dispatch(due, now);
    }
  }

  void dispatch(uint64_t due, uint64_t now) {
    while (!ready.empty()) {
      const std::size_t i = ready.back();
      ready.pop_back();
      if (conns[i].state == ConnState::kReady && !conns[i].has_request) {
        assign(i, due);
        start_request(i, now);
        return;
      }
    }
    while (!spare.empty()) {
      const std::size_t i = spare.back();
      const Conn& c = conns[i];
      if (c.state != ConnState::kClosed || c.has_request) {
        spare.pop_back();  // taken since it was put here
        continue;
      }
      if (c.retry_at_ns > now) break;  // backing off: housekeeping serves the backlog
      spare.pop_back();
      assign(i, due);
      open_conn(i, now);
      return;
    }
    if (backlog.size() >= o.max_backlog) {
      window.missed++;
      return;
    }
    backlog.push_back(due);
  }

  void arm_timer(uint64_t at) {
    if (at == timer_armed_ns) return;
    itimerspec spec{};
    spec.it_value.tv_sec = static_cast<time_t>(at / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(at % 1'000'000'000);
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    if (::timerfd_settime(timer, TFD_TIMER_ABSTIME, &spec, nullptr) != 0) {
      throw Error("timerfd_settime failed: " + errno_text(errno));
    }
    timer_armed_ns = at;
  }

  // --- housekeeping: timeouts, and connections to open again --------------------------------

  void housekeeping(uint64_t now) {
    const auto request_timeout = static_cast<uint64_t>(o.request_timeout_s * 1e9);
    const auto connect_timeout = static_cast<uint64_t>(o.connect_timeout_s * 1e9);
    for (std::size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      if (c.sent_ns != 0 && now - c.sent_ns > request_timeout) {
        window.timeouts++;
        note_error("no response within " + std::to_string(o.request_timeout_s) + " s");
        close_conn(i);
        c.retry_at_ns = 0;
        finish(i, now);
      } else if (c.state == ConnState::kConnecting && now - c.since_ns > connect_timeout) {
        ::close(c.fd);
        connect_failed(i, now, "cannot connect to " + where() + ": timed out");
      } else if (c.state == ConnState::kClosed && !is_stopping() && c.retry_at_ns <= now) {
        if (!open_loop()) {
          if (!c.has_request) assign(i, now);
          open_conn(i, now);
        } else if (!backlog.empty() && !c.has_request) {
          const uint64_t due = backlog.front();
          backlog.pop_front();
          assign(i, due);
          open_conn(i, now);
        }
      }
    }
  }

  // --- the loop -----------------------------------------------------------------------------

  void setup() {
    ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) throw Error("epoll_create1 failed: " + errno_text(errno));
    wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake < 0) throw Error("eventfd failed: " + errno_text(errno));
    timer = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer < 0) throw Error("timerfd_create failed: " + errno_text(errno));
    for (auto [fd, tag] : {std::pair{wake, kWakeTag}, std::pair{timer, kTimerTag}}) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = tag;
      if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        throw Error("epoll_ctl failed: " + errno_text(errno));
      }
    }
  }

  void begin(uint64_t now) {
    window_start_ns = now;
    next_due = static_cast<double>(now);
    if (!open_loop()) {
      for (std::size_t i = 0; i < conns.size(); ++i) {
        assign(i, now);
        open_conn(i, now);
      }
      return;
    }
    // A few connections ready before the first request is due; more open on demand.
    const std::size_t warm = std::min<std::size_t>(conns.size(), 4);
    for (std::size_t i = conns.size(); i-- > warm;) spare.push_back(i);
    for (std::size_t i = 0; i < warm; ++i) open_conn(i, now);
  }

  // Stopping: nothing new is sent; what is not in flight is dropped now.
  void begin_drain(uint64_t now) {
    backlog.clear();
    ready.clear();
    for (std::size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      if (c.state == ConnState::kBusy) continue;  // in flight: wait for its response
      close_conn(i);
      finish(i, now);
    }
  }

  void handle(const epoll_event& event) {
    const uint64_t tag = event.data.u64;
    if (tag == kWakeTag || tag == kTimerTag) {
      uint64_t value;
      while (::read(tag == kWakeTag ? wake : timer, &value, sizeof value) > 0) {
      }
      if (tag == kTimerTag) timer_armed_ns = 0;
      return;
    }
    const auto i = static_cast<std::size_t>(tag);
    Conn& c = conns[i];
    if (c.fd < 0) return;  // closed earlier in this round
    const uint64_t now = now_ns();
    if (c.state == ConnState::kConnecting) {
      if (event.events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(i, now);
      return;
    }
    if ((event.events & EPOLLOUT) && c.state == ConnState::kBusy &&
        c.written < c.request->size()) {
      write_request(i, now);
      if (c.fd < 0) return;
    }
    if (event.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(i, now);
  }

  void run() {
    std::vector<epoll_event> events(256);
    uint64_t next_housekeeping = 0;
    uint64_t drain_deadline = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      begin(now_ns());
    }
    for (;;) {
      const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()),
                                 static_cast<int>(kHousekeepingNs / 1'000'000));
      if (n < 0 && errno != EINTR) throw Error("epoll_wait failed: " + errno_text(errno));
      std::lock_guard<std::mutex> lock(mu);
      for (int k = 0; k < n; ++k) handle(events[static_cast<std::size_t>(k)]);
      const uint64_t now = now_ns();
      if (stopping.load(std::memory_order_acquire)) {
        if (drain_deadline == 0) {
          drain_deadline = now + static_cast<uint64_t>(drain_timeout_s.load() * 1e9);
          begin_drain(now);
        }
        if (in_flight == 0 || now >= drain_deadline) {
          window.unfinished += in_flight;
          in_flight = 0;
          for (std::size_t i = 0; i < conns.size(); ++i) close_conn(i);
          return;
        }
      } else if (open_loop()) {
        dispatch_due(now);
        arm_timer(static_cast<uint64_t>(next_due));
      }
      if (now >= next_housekeeping) {
        housekeeping(now);
        next_housekeeping = now + kHousekeepingNs;
      }
    }
  }

  void main() {
    try {
      run();
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mu);
      fatal = e.what();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      fatal = "the load generator failed";
    }
  }

  // Under mu: the window so far; a new one starts now.
  WindowStats take_window() {
    const uint64_t now = now_ns();
    WindowStats out;
    std::swap(out, window);
    out.seconds = static_cast<double>(now - window_start_ns) / 1e9;
    out.in_flight = in_flight;
    out.backlog = backlog.size();
    window_start_ns = now;
    return out;
  }

  void wake_up() {
    const uint64_t one = 1;
    if (wake >= 0) {
      [[maybe_unused]] const ssize_t n = ::write(wake, &one, sizeof one);
    }
  }
};

LoadGenerator::LoadGenerator(LoadOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

LoadGenerator::~LoadGenerator() {
  try {
    stop(0.0);
  } catch (...) {
    // A destructor never throws; the thread is joined either way.
  }
}

void LoadGenerator::start() {
  SEAWALL_CHECK(!impl_->started, "the load generator was already started");
  impl_->setup();
  impl_->started = true;
  impl_->thread = std::thread([impl = impl_.get()] { impl->main(); });
}

WindowStats LoadGenerator::collect() {
  SEAWALL_CHECK(impl_->started, "the load generator was not started");
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->fatal.empty()) throw Error("the load generator failed: " + impl_->fatal);
  return impl_->take_window();
}

WindowStats LoadGenerator::stop(double drain_timeout_s) {
  SEAWALL_CHECK(std::isfinite(drain_timeout_s) && drain_timeout_s >= 0,
                "drain_timeout_s must be >= 0, got ", drain_timeout_s);
  if (!impl_->started || impl_->stopped) return WindowStats{};
  impl_->drain_timeout_s.store(drain_timeout_s);
  impl_->stopping.store(true, std::memory_order_release);
  impl_->wake_up();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->stopped = true;
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->fatal.empty()) throw Error("the load generator failed: " + impl_->fatal);
  return impl_->take_window();
}

bool load_generator_available() { return true; }

}  // namespace seawall::loadgen

#else  // not Linux: no epoll

namespace seawall::loadgen {

struct LoadGenerator::Impl {};

LoadGenerator::LoadGenerator(LoadOptions options) {
  check_options(options);
  throw Error("the load generator needs Linux (epoll); this build has none");
}
LoadGenerator::~LoadGenerator() = default;
void LoadGenerator::start() {}
WindowStats LoadGenerator::collect() { return {}; }
WindowStats LoadGenerator::stop(double) { return {}; }
bool load_generator_available() { return false; }

}  // namespace seawall::loadgen

#endif
