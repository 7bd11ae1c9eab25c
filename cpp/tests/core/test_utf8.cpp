#include "seawall/core/utf8.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

namespace {

// The oracle: decode each character to its code point and check it, rather than check byte
// ranges as the code under test does (RFC 3629: the shortest form, no surrogates, at most
// U+10FFFF).
bool oracle(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char lead = *p;
    int more;
    uint32_t code;
    uint32_t least;
    if (lead < 0x80) {
      more = 0, code = lead, least = 0;
    } else if ((lead & 0xE0) == 0xC0) {
      more = 1, code = lead & 0x1F, least = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      more = 2, code = lead & 0x0F, least = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      more = 3, code = lead & 0x07, least = 0x10000;
    } else {
      return false;
    }
    if (end - p <= more) return false;
    for (int k = 1; k <= more; ++k) {
      if ((p[k] & 0xC0) != 0x80) return false;
      code = (code << 6) | (p[k] & 0x3F);
    }
    if (code < least || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    p += more + 1;
  }
  return true;
}

TEST(Utf8, EverySequenceOfUpToTwoBytes) {
  for (int a = 0; a < 256; ++a) {
    const std::string one(1, static_cast<char>(a));
    ASSERT_EQ(seawall::is_valid_utf8(one), oracle(one)) << a;
    for (int b = 0; b < 256; ++b) {
      const std::string two = one + static_cast<char>(b);
      ASSERT_EQ(seawall::is_valid_utf8(two), oracle(two)) << a << " " << b;
    }
  }
}

TEST(Utf8, EveryThreeByteSequenceWithAMultiByteLead) {
  for (int a = 0xC0; a < 256; ++a) {
    for (int b = 0x70; b < 0xD0; ++b) {
      for (int c = 0x70; c < 0xD0; ++c) {
        const std::string s{static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)};
        ASSERT_EQ(seawall::is_valid_utf8(s), oracle(s)) << a << " " << b << " " << c;
      }
    }
  }
}

TEST(Utf8, RandomTextAroundTheWordBoundaries) {
  // Lengths past 8 take the word-at-a-time ASCII path; multi-byte sequences straddle its words.
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("random seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const unsigned char interesting[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0,
                                       0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
  int valid = 0;
  for (int trial = 0; trial < 200000; ++trial) {
    std::string s(rng() % 40, 'a');
    const int changes = static_cast<int>(rng() % 4);
    for (int k = 0; k < changes && !s.empty(); ++k) {
      s[rng() % s.size()] = static_cast<char>(interesting[rng() % sizeof(interesting)]);
    }
    if (rng() % 3 == 0 && !s.empty()) {  // a well-formed character somewhere
      const char* chars[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xED\x9F\xBF", "\xF4\x8F\xBF\xBF"};
      s.insert(rng() % s.size(), chars[rng() % 5]);
    }
    const bool expected = oracle(s);
    valid += expected;
    ASSERT_EQ(seawall::is_valid_utf8(s), expected) << "trial " << trial;
  }
  EXPECT_GT(valid, 1000);  // both outcomes were exercised
  EXPECT_LT(valid, 199000);
}

TEST(Utf8, EdgesOfTheCodeSpace) {
  EXPECT_TRUE(seawall::is_valid_utf8(""));
  EXPECT_TRUE(seawall::is_valid_utf8(std::string("\0", 1)));
  EXPECT_TRUE(seawall::is_valid_utf8("\xF4\x8F\xBF\xBF"));    // U+10FFFF
  EXPECT_FALSE(seawall::is_valid_utf8("\xF4\x90\x80\x80"));   // U+110000
  EXPECT_FALSE(seawall::is_valid_utf8("\xED\xA0\x80"));       // U+D800, a surrogate
  EXPECT_FALSE(seawall::is_valid_utf8("\xC0\xAF"));           // overlong '/'
  EXPECT_FALSE(seawall::is_valid_utf8("\xE0\x80\xAF"));       // overlong '/'
  EXPECT_FALSE(seawall::is_valid_utf8("abcdefgh\xC3"));       // truncated after a full word
}

}  // namespace
