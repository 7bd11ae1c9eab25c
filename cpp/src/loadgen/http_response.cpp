#include "seawall/loadgen/http_response.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace seawall::loadgen {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Whether the comma-separated header value `list` holds `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// A decimal (base 10) or hexadecimal (base 16) number that fits in 63 bits; false otherwise.
bool parse_number(std::string_view s, int base, uint64_t* out) {
  if (s.empty() || s.size() > 15) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

}  // namespace

void ResponseParser::reset() {
  state_ = State::kStatusLine;
  line_.clear();
  body_.clear();
  error_.clear();
  status_ = 0;
  http10_ = false;
  started_ = false;
  keep_alive_ = true;
  saw_close_ = false;
  saw_keep_alive_ = false;
  chunked_ = false;
  has_length_ = false;
  remaining_ = 0;
}

ResponseParser::Result ResponseParser::fail(std::string message) {
  state_ = State::kFailed;
  error_ = std::move(message);
  keep_alive_ = false;
  return Result::kError;
}

bool ResponseParser::take_line(std::string_view data, std::size_t* pos, bool* too_long) {
  const char* begin = data.data() + *pos;
  const std::size_t left = data.size() - *pos;
  const void* nl = std::memchr(begin, '\n', left);
  const std::size_t take =
      nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - begin) : left;
  if (line_.size() + take > kMaxLineBytes) {
    *too_long = true;
    return false;
  }
  line_.append(begin, take);
  if (!nl) {
    *pos = data.size();
    return false;
  }
  *pos += take + 1;
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  return true;
}

bool ResponseParser::on_status_line() {
  // HTTP/1.1 200 OK
  std::string_view line(line_);
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[8] != ' ') return false;
  const std::string_view version = line.substr(5, 3);
  if (version == "1.0") {
    http10_ = true;
  } else if (version != "1.1") {
    return false;
  }
  uint64_t code = 0;
  if (!parse_number(line.substr(9, 3), 10, &code) || code < 100 || code > 999) return false;
  if (line.size() > 12 && line[12] != ' ') return false;
  status_ = static_cast<int>(code);
  return true;
}

bool ResponseParser::on_header_line() {
  std::string_view line(line_);
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = trim(line.substr(colon + 1));
  if (iequals(name, "content-length")) {
    uint64_t length = 0;
    if (!parse_number(value, 10, &length)) return false;
    if (has_length_ && length != remaining_) return false;  // two different lengths
    has_length_ = true;
    remaining_ = length;
  } else if (iequals(name, "transfer-encoding")) {
    if (has_token(value, "chunked")) chunked_ = true;
  } else if (iequals(name, "connection")) {
    if (has_token(value, "close")) saw_close_ = true;
    if (has_token(value, "keep-alive")) saw_keep_alive_ = true;
  }
  return true;
}

bool ResponseParser::on_headers_end() {
  keep_alive_ = !saw_close_ && (!http10_ || saw_keep_alive_);
  if (status_ < 200 || status_ == 204 || status_ == 304) {
    if (status_ < 200) {  // an interim response (100 Continue): the real one follows
      const bool keep = keep_alive_;
      reset();
      keep_alive_ = keep;
      started_ = true;
      return true;
    }
    state_ = State::kDone;
    return true;
  }
  if (chunked_) {
    state_ = State::kChunkSize;
  } else if (has_length_) {
    state_ = remaining_ == 0 ? State::kDone : State::kBody;
  } else {
    keep_alive_ = false;  // the body ends with the connection
    state_ = State::kBodyToEof;
  }
  return true;
}

bool ResponseParser::on_chunk_size_line() {
  std::string_view line(line_);
  line = trim(line.substr(0, line.find(';')));  // chunk extensions are ignored
  return parse_number(line, 16, &remaining_);
}

void ResponseParser::keep_body(std::string_view bytes) {
  if (body_.size() < kMaxBodySample) {
    body_.append(bytes.data(), std::min(bytes.size(), kMaxBodySample - body_.size()));
  }
}

ResponseParser::Result ResponseParser::feed(std::string_view data, std::size_t* consumed) {
  std::size_t pos = 0;
  *consumed = 0;
  if (state_ == State::kDone) return Result::kComplete;
  if (state_ == State::kFailed) return Result::kError;
  if (!data.empty()) started_ = true;
  while (pos < data.size() || state_ == State::kDone) {
    bool too_long = false;
    switch (state_) {
      case State::kStatusLine:
      case State::kHeaders:
      case State::kChunkSize:
      case State::kChunkDataEnd:
      case State::kTrailers: {
        if (!take_line(data, &pos, &too_long)) {
          *consumed = pos;
          return too_long ? fail("a response line is longer than 64 KiB") : Result::kNeedMore;
        }
        bool ok = true;
        if (state_ == State::kStatusLine) {
          ok = on_status_line();
          if (!ok) {
            *consumed = pos;
            return fail("not an HTTP/1.x status line: " + line_.substr(0, 80));
          }
          state_ = State::kHeaders;
        } else if (state_ == State::kHeaders) {
          if (line_.empty()) {
            ok = on_headers_end();
          } else {
            ok = on_header_line();
          }
          if (!ok) {
            *consumed = pos;
            return fail("a malformed response header: " + line_.substr(0, 80));
          }
        } else if (state_ == State::kChunkSize) {
          if (!on_chunk_size_line()) {
            *consumed = pos;
            return fail("a malformed chunk size: " + line_.substr(0, 80));
          }
          state_ = remaining_ == 0 ? State::kTrailers : State::kChunkData;
        } else if (state_ == State::kChunkDataEnd) {
          if (!line_.empty()) {
            *consumed = pos;
            return fail("a chunk is longer than its size");
          }
          state_ = State::kChunkSize;
        } else {  // trailers end with an empty line
          if (line_.empty()) state_ = State::kDone;
        }
        line_.clear();
        break;
      }
      case State::kBody:
      case State::kChunkData: {
        const std::size_t take =
            static_cast<std::size_t>(std::min<uint64_t>(remaining_, data.size() - pos));
        keep_body(data.substr(pos, take));
        pos += take;
        remaining_ -= take;
        if (remaining_ == 0) {
          state_ = state_ == State::kBody ? State::kDone : State::kChunkDataEnd;
        }
        break;
      }
      case State::kBodyToEof:
        keep_body(data.substr(pos));
        pos = data.size();
        break;
      case State::kDone:
        *consumed = pos;
        return Result::kComplete;
      case State::kFailed:
        *consumed = pos;
        return Result::kError;
    }
  }
  *consumed = pos;
  return Result::kNeedMore;
}

ResponseParser::Result ResponseParser::feed_eof() {
  switch (state_) {
    case State::kDone:
      return Result::kComplete;
    case State::kBodyToEof:
      state_ = State::kDone;
      return Result::kComplete;
    case State::kFailed:
      return Result::kError;
    case State::kStatusLine:
      if (!started_ && line_.empty()) return Result::kNeedMore;
      [[fallthrough]];
    default:
      return fail("the connection closed in the middle of a response");
  }
}

}  // namespace seawall::loadgen
