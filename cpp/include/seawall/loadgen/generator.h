// The load generator behind `seawall bench`: one thread drives many non-blocking HTTP/1.1
// keep-alive connections through epoll (Linux), sending pre-serialised requests, so that the
// generator, not the server, is never the bottleneck.
//
// Closed loop: `concurrency` connections, each with one request in flight; a response is followed
// at once by the next request. Latency runs from the send of a request to the end of its response.
//
// Open loop: requests are due at a fixed `rate` (constant gaps, or Poisson arrivals with
// exponential gaps); a due request goes out on an idle connection, on a new one (up to
// `concurrency` connections), or waits in a backlog for a connection to free up. Latency runs from
// the time the request was due, not the time it could be sent, so a server that falls behind shows
// its queueing in the figures (no coordinated omission).
//
// The generator counts every request it sends: each one ends as a response (by status code), a
// timeout, a connection closed or reset before its response, or a malformed response; at stop()
// the ones still unanswered after the drain time are counted as unfinished. Errors never stop the
// run: a failed connection is counted and opened again (after a back-off). Statistics are taken
// in windows: collect() returns what happened since the previous collect() and starts a new one.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "seawall/loadgen/histogram.h"

namespace seawall::loadgen {

enum class LoadMode { kClosed, kOpen };

struct LoadOptions {
  std::string address;  // a numeric IPv4 or IPv6 address
  int port = 0;
  std::vector<std::string> requests;  // whole HTTP/1.1 requests, sent in turn
  LoadMode mode = LoadMode::kClosed;
  int concurrency = 1;  // closed: requests in flight; open: the most connections (and in flight)
  double rate = 0.0;    // open: requests per second
  bool poisson = false;
  uint64_t seed = 0;
  double request_timeout_s = 30.0;
  double connect_timeout_s = 5.0;
  uint64_t max_backlog = 1 << 20;  // open: due requests waiting for a connection; more are missed
};

// What happened in one window (between two collect() calls).
struct WindowStats {
  double seconds = 0.0;
  uint64_t sent = 0;      // requests written (their first byte) in the window
  uint64_t answered = 0;  // responses, of any status
  std::map<int, uint64_t> status;
  uint64_t timeouts = 0;         // requests unanswered after request_timeout_s
  uint64_t closed = 0;           // requests lost to a connection closed or reset first
  uint64_t protocol_errors = 0;  // malformed responses
  uint64_t connect_errors = 0;   // connections that failed to open (no request is lost)
  uint64_t missed = 0;           // open loop: due requests dropped, the backlog being full
  uint64_t unfinished = 0;       // stop(): requests still unanswered after the drain time
  uint64_t in_flight = 0;        // at the window's end
  uint64_t backlog = 0;          // open loop, at the window's end
  uint64_t max_send_lag_ns = 0;  // open loop: the most a request went out after it was due
  LatencyHistogram latency;      // 2xx responses, in nanoseconds
  LatencyHistogram error_latency;        // other responses
  std::string first_error;               // the first error's message, if any
  std::map<int, std::string> error_bodies;  // the first body of each non-2xx status (a sample)

  // Adds `other` (a later window) to this one.
  void merge(const WindowStats& other);
};

class LoadGenerator {
 public:
  // Checks the options (InvalidInput); opens nothing yet.
  explicit LoadGenerator(LoadOptions options);
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  // Starts the load (the connections open in the generator's thread). Once only.
  void start();
  // The window since the previous collect() (or start()); starts the next one. Throws Error if
  // the generator's thread failed (an epoll error: never a server's fault).
  WindowStats collect();
  // Sends no new request, waits up to drain_timeout_s for those in flight, closes everything and
  // returns the last window (its unfinished counts the requests still unanswered). Idempotent.
  WindowStats stop(double drain_timeout_s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Whether this build has the generator (Linux, epoll); elsewhere the constructor throws.
bool load_generator_available();

}  // namespace seawall::loadgen
