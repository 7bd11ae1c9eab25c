// The generator against a tiny HTTP server of the test's own, on loopback: every request counted
// once, whatever the server does (answers, errors, chunked bodies, closes, silence).
#include "seawall/loadgen/generator.h"

#include <gtest/gtest.h>

#if defined(__linux__)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "seawall/errors.h"

namespace {

using seawall::loadgen::LoadGenerator;
using seawall::loadgen::LoadMode;
using seawall::loadgen::LoadOptions;
using seawall::loadgen::WindowStats;
using namespace std::chrono_literals;

// What the server does with its n-th request (counted from 0, across connections): the bytes to
// answer, or "" to close the connection without answering.
using Behaviour = std::function<std::string(int n)>;

std::string ok_response(const std::string& body = "{\"ok\":true}") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A blocking HTTP/1.1 server on a free loopback port, a thread per connection. Requests are read
// up to the end of their headers plus Content-Length bytes.
class TestServer {
 public:
  explicit TestServer(Behaviour behaviour) : behaviour_(std::move(behaviour)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, 128) != 0) {
      throw std::runtime_error("the test server cannot listen");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~TestServer() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    ::close(listener_);
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    for (auto& t : workers_) t.join();
  }

  int port() const { return port_; }
  int requests() const { return requests_.load(); }

 private:
  void accept_loop() {
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_) return;
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(fd);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    std::string in;
    char buf[4096];
    for (;;) {
      std::size_t end;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return;
        in.append(buf, static_cast<std::size_t>(n));
      }
      std::size_t length = 0;
      const auto at = in.find("Content-Length: ");
      if (at != std::string::npos && at < end) length = std::stoul(in.substr(at + 16));
      while (in.size() < end + 4 + length) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return;
        in.append(buf, static_cast<std::size_t>(n));
      }
      in.erase(0, end + 4 + length);
      const int n = requests_.fetch_add(1);
      const std::string answer = behaviour_(n);
      if (answer.empty()) {
        ::shutdown(fd, SHUT_RDWR);
        return;
      }
      if (::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL) < 0) return;
      if (answer.find("Connection: close") != std::string::npos) {
        ::shutdown(fd, SHUT_RDWR);
        return;
      }
    }
  }

  Behaviour behaviour_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> workers_;
};

LoadOptions options_for(int port, LoadMode mode = LoadMode::kClosed) {
  LoadOptions o;
  o.address = "127.0.0.1";
  o.port = port;
  o.mode = mode;
  const std::string body = "{\"inputs\": []}";
  o.requests = {"POST /v2/models/m/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body};
  return o;
}

// Runs a generator for `seconds`, collecting one window in the middle, and returns the windows
// merged (the sum of everything that happened).
WindowStats run_for(LoadOptions o, double seconds, double drain_s = 5.0) {
  LoadGenerator g(std::move(o));
  g.start();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds / 2));
  WindowStats all = g.collect();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds / 2));
  all.merge(g.stop(drain_s));
  return all;
}

// Every request sent ends one way or another, exactly once.
void expect_accounted(const WindowStats& s) {
  EXPECT_EQ(s.sent, s.answered + s.timeouts + s.closed + s.protocol_errors + s.unfinished)
      << "answered " << s.answered << " timeouts " << s.timeouts << " closed " << s.closed
      << " protocol " << s.protocol_errors << " unfinished " << s.unfinished;
  uint64_t by_status = 0;
  for (const auto& [code, n] : s.status) by_status += n;
  EXPECT_EQ(by_status, s.answered);
  EXPECT_EQ(s.latency.count() + s.error_latency.count(), s.answered);
}

TEST(LoadGenerator, ClosedLoopCountsMatchTheServers) {
  TestServer server([](int) { return ok_response(); });
  auto o = options_for(server.port());
  o.concurrency = 8;
  const auto s = run_for(o, 0.4);
  expect_accounted(s);
  EXPECT_GT(s.sent, 0u);
  EXPECT_EQ(s.answered, s.sent);
  EXPECT_EQ(s.status.at(200), s.sent);
  EXPECT_EQ(static_cast<int>(s.sent), server.requests());
  EXPECT_EQ(s.unfinished, 0u);
  EXPECT_EQ(s.connect_errors, 0u);
  EXPECT_GT(s.latency.quantile(0.5), 0u);
}

TEST(LoadGenerator, OpenLoopSendsAtTheRate) {
  TestServer server([](int) { return ok_response(); });
  for (bool poisson : {false, true}) {
    auto o = options_for(server.port(), LoadMode::kOpen);
    o.rate = 2000;
    o.poisson = poisson;
    o.concurrency = 16;
    o.seed = 7;
    const auto s = run_for(o, 1.0);
    expect_accounted(s);
    EXPECT_EQ(s.answered, s.sent);
    EXPECT_EQ(s.missed, 0u);
    // Sends are due at fixed times, whatever the server does; within the window's length.
    const double rate = static_cast<double>(s.sent) / s.seconds;
    EXPECT_NEAR(rate, 2000, poisson ? 300 : 100) << (poisson ? "poisson" : "constant");
  }
}

TEST(LoadGenerator, StatusesChunkedBodiesAndClosesAreCounted) {
  // 0: 200 chunked; 1: 503 with a body; 2: 200 then the server closes (Connection: close);
  // 3: the server closes without answering.
  TestServer server([](int n) -> std::string {
    switch (n % 4) {
      case 0:
        return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
      case 1:
        return "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\n\r\noverload!";
      case 2:
        return "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
      default:
        return "";
    }
  });
  auto o = options_for(server.port());
  o.concurrency = 4;
  const auto s = run_for(o, 0.4);
  expect_accounted(s);
  EXPECT_EQ(static_cast<int>(s.sent), server.requests());
  EXPECT_GT(s.status.at(200), 0u);
  EXPECT_GT(s.status.at(503), 0u);
  EXPECT_GT(s.closed, 0u);
  EXPECT_EQ(s.error_bodies.at(503), "overload!");
  EXPECT_FALSE(s.first_error.empty());
  // Each kind is a quarter of what the server saw, to within the last few in flight.
  EXPECT_NEAR(static_cast<double>(s.closed), s.sent / 4.0, 4.0);
}

TEST(LoadGenerator, MalformedResponsesAreProtocolErrors) {
  TestServer server([](int) { return std::string("NOT HTTP AT ALL\r\n\r\n"); });
  auto o = options_for(server.port());
  o.concurrency = 2;
  const auto s = run_for(o, 0.2);
  expect_accounted(s);
  EXPECT_GT(s.protocol_errors, 0u);
  EXPECT_EQ(s.answered, 0u);
  EXPECT_NE(s.first_error.find("malformed"), std::string::npos);
}

TEST(LoadGenerator, SilentServerTimesOutAndDrainEndsUnfinished) {
  std::atomic<bool> release{false};
  TestServer server([&](int) {
    while (!release) std::this_thread::sleep_for(1ms);
    return ok_response();
  });
  auto o = options_for(server.port());
  o.concurrency = 2;
  o.request_timeout_s = 0.1;
  const auto s = run_for(o, 0.5, 0.0);
  release = true;
  expect_accounted(s);
  EXPECT_GT(s.timeouts, 0u);
  EXPECT_EQ(s.answered, 0u);
  EXPECT_EQ(s.unfinished + s.timeouts, s.sent);
}

TEST(LoadGenerator, UnreachableServerCountsConnectErrors) {
  int port;
  {
    TestServer gone([](int) { return ok_response(); });
    port = gone.port();
  }
  auto o = options_for(port);
  o.concurrency = 3;
  const auto s = run_for(o, 0.2);
  EXPECT_EQ(s.sent, 0u);
  EXPECT_GT(s.connect_errors, 0u);
  EXPECT_NE(s.first_error.find("cannot connect"), std::string::npos);
  EXPECT_NE(s.first_error.find("refused"), std::string::npos);
}

TEST(LoadGenerator, OpenLoopBacklogIsBoundedAndMissedCounted) {
  std::atomic<bool> release{false};
  TestServer server([&](int) {
    while (!release) std::this_thread::sleep_for(1ms);
    return ok_response();
  });
  auto o = options_for(server.port(), LoadMode::kOpen);
  o.rate = 5000;
  o.concurrency = 1;
  o.max_backlog = 10;
  LoadGenerator g(o);
  g.start();
  std::this_thread::sleep_for(200ms);
  auto s = g.collect();
  release = true;
  s.merge(g.stop(5.0));
  expect_accounted(s);
  EXPECT_GT(s.missed, 0u);
  EXPECT_LE(s.sent, 12u);  // the one in flight, then the backlog (sent once released)
}

TEST(LoadGenerator, BadOptionsAreInvalidInput) {
  auto o = options_for(80);
  o.requests.clear();
  EXPECT_THROW(LoadGenerator{o}, seawall::InvalidInput);
  o = options_for(0);
  EXPECT_THROW(LoadGenerator{o}, seawall::InvalidInput);
  o = options_for(80);
  o.concurrency = 0;
  EXPECT_THROW(LoadGenerator{o}, seawall::InvalidInput);
  o = options_for(80, LoadMode::kOpen);
  o.rate = 0;
  EXPECT_THROW(LoadGenerator{o}, seawall::InvalidInput);
  o = options_for(80);
  o.address = "localhost";  // names are resolved by the caller
  EXPECT_THROW(LoadGenerator{o}, seawall::InvalidInput);
  LoadGenerator never_started(options_for(80));
  EXPECT_THROW(never_started.collect(), seawall::InvalidInput);
  EXPECT_EQ(never_started.stop(0.0).sent, 0u);
}

}  // namespace

#endif  // __linux__
