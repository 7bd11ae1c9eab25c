// An incremental HTTP/1.1 response parser for the load generator: bytes go in as they arrive (a
// response may be split anywhere, and several may come in one read), and it says when a response
// is complete, with its status, whether the connection stays open, and the first bytes of its
// body. Bodies are delimited by Content-Length, by chunked transfer coding (trailers skipped), or
// by the end of the connection; a response to a request never carries a body when its status is
// 1xx, 204 or 304. Malformed input is an error the caller sees, never a crash; header lines are
// bounded (kMaxLineBytes), the body is not kept past kMaxBodySample bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace seawall::loadgen {

class ResponseParser {
 public:
  static constexpr std::size_t kMaxLineBytes = 64 << 10;
  static constexpr std::size_t kMaxBodySample = 1024;

  enum class Result { kNeedMore, kComplete, kError };

  // Reads from `data` up to the end of the current response. Sets *consumed to the bytes used
  // (less than data.size() when the response ended before them: they start the next one). After
  // kComplete or kError the parser keeps its result until reset().
  Result feed(std::string_view data, std::size_t* consumed);
  // The connection ended: completes a response whose body runs to the end of the connection,
  // otherwise an error (mid-response) or kNeedMore (no byte of a response was seen).
  Result feed_eof();
  void reset();

  bool started() const { return started_; }
  int status() const { return status_; }
  // Whether the connection may carry the next request (HTTP/1.1 without Connection: close, or
  // HTTP/1.0 with Connection: keep-alive; never after a body delimited by the connection's end).
  bool keep_alive() const { return keep_alive_; }
  const std::string& error() const { return error_; }
  // The first kMaxBodySample bytes of the body (the message of an error response).
  const std::string& body_sample() const { return body_; }

 private:
  enum class State {
    kStatusLine,
    kHeaders,
    kBody,
    kBodyToEof,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kDone,
    kFailed,
  };

  Result fail(std::string message);
  // Takes one line (without CRLF) from data at *pos into line_; false when it has no end yet.
  bool take_line(std::string_view data, std::size_t* pos, bool* too_long);
  bool on_status_line();
  bool on_header_line();
  bool on_headers_end();
  bool on_chunk_size_line();
  void keep_body(std::string_view bytes);

  State state_ = State::kStatusLine;
  std::string line_;
  std::string body_;
  std::string error_;
  int status_ = 0;
  bool http10_ = false;
  bool started_ = false;
  bool keep_alive_ = true;
  bool saw_close_ = false;
  bool saw_keep_alive_ = false;
  bool chunked_ = false;
  bool has_length_ = false;
  uint64_t remaining_ = 0;
};

}  // namespace seawall::loadgen
