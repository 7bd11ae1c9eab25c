#include "seawall/loadgen/http_response.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using seawall::loadgen::ResponseParser;
using Result = ResponseParser::Result;

struct Parsed {
  Result result = Result::kNeedMore;
  int status = 0;
  bool keep_alive = false;
  std::string body;
  std::size_t consumed = 0;  // of the whole input
};

// Feeds `input` in pieces cut at `cuts` (offsets), as reads would deliver it.
Parsed parse_in_pieces(const std::string& input, std::vector<std::size_t> cuts, bool eof = false) {
  ResponseParser p;
  Parsed out;
  std::size_t at = 0;
  cuts.push_back(input.size());
  for (std::size_t cut : cuts) {
    if (cut < at) continue;
    std::size_t used = 0;
    out.result = p.feed(std::string_view(input).substr(at, cut - at), &used);
    out.consumed = at + used;
    if (out.result != Result::kNeedMore) break;
    EXPECT_EQ(used, cut - at);
    at = cut;
  }
  if (eof && out.result == Result::kNeedMore) out.result = p.feed_eof();
  out.status = p.status();
  out.keep_alive = p.keep_alive();
  out.body = p.body_sample();
  return out;
}

// The result of every split of `input` in two, and of feeding it a byte at a time, must agree.
Parsed parse_every_way(const std::string& input, bool eof = false) {
  const Parsed whole = parse_in_pieces(input, {}, eof);
  std::vector<std::size_t> bytes;
  for (std::size_t i = 1; i < input.size(); ++i) bytes.push_back(i);
  const Parsed one_by_one = parse_in_pieces(input, bytes, eof);
  EXPECT_EQ(one_by_one.result, whole.result);
  EXPECT_EQ(one_by_one.status, whole.status);
  EXPECT_EQ(one_by_one.body, whole.body);
  EXPECT_EQ(one_by_one.consumed, whole.consumed);
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    const Parsed split = parse_in_pieces(input, {cut}, eof);
    EXPECT_EQ(split.result, whole.result) << "split at " << cut;
    EXPECT_EQ(split.status, whole.status) << "split at " << cut;
    EXPECT_EQ(split.body, whole.body) << "split at " << cut;
    EXPECT_EQ(split.keep_alive, whole.keep_alive) << "split at " << cut;
  }
  return whole;
}

TEST(ResponseParser, ContentLengthBodySplitAnywhere) {
  const std::string r =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 11\r\n\r\n"
      "{\"a\": [1]}\n";
  const auto p = parse_every_way(r);
  EXPECT_EQ(p.result, Result::kComplete);
  EXPECT_EQ(p.status, 200);
  EXPECT_TRUE(p.keep_alive);
  EXPECT_EQ(p.body, "{\"a\": [1]}\n");
  EXPECT_EQ(p.consumed, r.size());
}

TEST(ResponseParser, ChunkedBodyWithExtensionsAndTrailersSplitAnywhere) {
  const std::string r =
      "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "A\r\n, world!!!\r\n"
      "0\r\nX-Trailer: yes\r\n\r\n";
  const auto p = parse_every_way(r);
  EXPECT_EQ(p.result, Result::kComplete);
  EXPECT_EQ(p.status, 503);
  EXPECT_EQ(p.body, "hello, world!!!");
  EXPECT_EQ(p.consumed, r.size());
}

TEST(ResponseParser, PipelinedResponsesInOneBuffer) {
  const std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  const std::string second = "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3\r\nnah\r\n0\r\n\r\n";
  const std::string third = "HTTP/1.1 204 No Content\r\n\r\n";
  const std::string all = first + second + third;
  ResponseParser p;
  std::size_t used = 0;
  std::string_view rest(all);
  ASSERT_EQ(p.feed(rest, &used), Result::kComplete);
  EXPECT_EQ(used, first.size());
  EXPECT_EQ(p.status(), 200);
  EXPECT_EQ(p.body_sample(), "ok");
  rest.remove_prefix(used);
  p.reset();
  ASSERT_EQ(p.feed(rest, &used), Result::kComplete);
  EXPECT_EQ(used, second.size());
  EXPECT_EQ(p.status(), 404);
  EXPECT_EQ(p.body_sample(), "nah");
  rest.remove_prefix(used);
  p.reset();
  ASSERT_EQ(p.feed(rest, &used), Result::kComplete);
  EXPECT_EQ(used, third.size());
  EXPECT_EQ(p.status(), 204);
  EXPECT_TRUE(p.body_sample().empty());
}

TEST(ResponseParser, BodyToTheEndOfTheConnection) {
  const std::string r = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nall of this is the body";
  const auto p = parse_every_way(r, /*eof=*/true);
  EXPECT_EQ(p.result, Result::kComplete);
  EXPECT_FALSE(p.keep_alive);
  EXPECT_EQ(p.body, "all of this is the body");
  EXPECT_EQ(parse_in_pieces(r, {}).result, Result::kNeedMore);  // not done before the end
}

TEST(ResponseParser, ConnectionPersistence) {
  EXPECT_FALSE(parse_in_pieces("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", {}).keep_alive);
  EXPECT_TRUE(
      parse_in_pieces("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", {})
          .keep_alive);
  const auto closing =
      parse_in_pieces("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", {});
  EXPECT_EQ(closing.result, Result::kComplete);
  EXPECT_FALSE(closing.keep_alive);
}

TEST(ResponseParser, InterimResponsesAndBodilessStatuses) {
  const auto p = parse_every_way(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nnew");
  EXPECT_EQ(p.result, Result::kComplete);
  EXPECT_EQ(p.status, 201);
  EXPECT_EQ(p.body, "new");
  const auto not_modified =
      parse_in_pieces("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", {});
  EXPECT_EQ(not_modified.result, Result::kComplete);
  EXPECT_TRUE(not_modified.keep_alive);
}

TEST(ResponseParser, MalformedInputIsAnErrorNeverACrash) {
  for (const std::string bad : {
           "SMTP 220 hello\r\n\r\n",
           "HTTP/2.0 200 OK\r\n\r\n",
           "HTTP/1.1 2x0 OK\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
           "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
       }) {
    const auto p = parse_every_way(bad);
    EXPECT_EQ(p.result, Result::kError) << bad;
    EXPECT_FALSE(p.keep_alive) << bad;
  }
  ResponseParser p;
  std::size_t used = 0;
  const std::string huge = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(70 << 10, 'a');
  EXPECT_EQ(p.feed(huge, &used), Result::kError);
  EXPECT_NE(p.error().find("64 KiB"), std::string::npos);
  EXPECT_EQ(p.feed("more", &used), Result::kError);  // stays failed until reset
  p.reset();
  EXPECT_EQ(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &used), Result::kComplete);
}

TEST(ResponseParser, EndOfConnectionMidResponse) {
  EXPECT_EQ(parse_in_pieces("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", {}, true).result,
            Result::kError);
  EXPECT_EQ(parse_in_pieces("HTTP/1.1 2", {}, true).result, Result::kError);
  ResponseParser nothing;
  EXPECT_EQ(nothing.feed_eof(), Result::kNeedMore);
  EXPECT_FALSE(nothing.started());
}

TEST(ResponseParser, KeepsOnlyTheFirstBytesOfALargeBody) {
  const std::string body(100000, 'z');
  const std::string r = "HTTP/1.1 500 Oops\r\nContent-Length: 100000\r\n\r\n" + body;
  const auto p = parse_in_pieces(r, {10, 5000, 70000});
  EXPECT_EQ(p.result, Result::kComplete);
  EXPECT_EQ(p.body.size(), ResponseParser::kMaxBodySample);
}

}  // namespace
