#include "seawall/core/hash.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

// An independent XXH64, written from the xxHash specification (doc/xxhash_spec.md, "XXH64
// algorithm description") with a deliberately different shape from the library's: whole stripes
// are counted up front, the four accumulators live in an array, and lanes are loaded with memcpy
// (then byte-swapped on big-endian hosts) instead of being assembled byte by byte.
namespace ref {

constexpr uint64_t P1 = 11400714785074694791ULL;
constexpr uint64_t P2 = 14029467366897019727ULL;
constexpr uint64_t P3 = 1609587929392839161ULL;
constexpr uint64_t P4 = 9650029242287828579ULL;
constexpr uint64_t P5 = 2870177450012600261ULL;

uint64_t rotate_left(uint64_t v, unsigned bits) { return (v << bits) | (v >> (64 - bits)); }

bool host_is_little_endian() {
  const uint16_t probe = 1;
  uint8_t first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

uint64_t byteswap64(uint64_t v) {
  uint64_t r = 0;
  for (int i = 0; i < 8; ++i) r |= ((v >> (8 * i)) & 0xFF) << (8 * (7 - i));
  return r;
}

uint64_t load_u64_le(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return host_is_little_endian() ? v : byteswap64(v);
}

uint64_t load_u32_le(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  if (!host_is_little_endian()) {
    v = (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24);
  }
  return v;
}

uint64_t round_step(uint64_t acc, uint64_t lane) {
  acc = acc + lane * P2;
  acc = rotate_left(acc, 31);
  return acc * P1;
}

uint64_t merge_accumulator(uint64_t acc, uint64_t acc_n) {
  acc = acc ^ round_step(0, acc_n);
  acc = acc * P1;
  return acc + P4;
}

uint64_t xxh64(const void* input, size_t length, uint64_t seed) {
  const auto* bytes = static_cast<const unsigned char*>(input);
  size_t consumed = 0;
  uint64_t acc;
  const size_t stripes = length / 32;
  if (stripes > 0) {
    uint64_t lanes_acc[4] = {seed + P1 + P2, seed + P2, seed + 0, seed - P1};
    for (size_t s = 0; s < stripes; ++s) {
      for (int lane = 0; lane < 4; ++lane) {
        lanes_acc[lane] = round_step(lanes_acc[lane], load_u64_le(bytes + 32 * s + 8 * lane));
      }
    }
    consumed = stripes * 32;
    acc = rotate_left(lanes_acc[0], 1) + rotate_left(lanes_acc[1], 7) +
          rotate_left(lanes_acc[2], 12) + rotate_left(lanes_acc[3], 18);
    for (uint64_t a : lanes_acc) acc = merge_accumulator(acc, a);
  } else {
    acc = seed + P5;
  }
  acc = acc + static_cast<uint64_t>(length);

  size_t remaining = length - consumed;
  while (remaining >= 8) {
    const uint64_t lane = load_u64_le(bytes + consumed);
    acc = acc ^ round_step(0, lane);
    acc = rotate_left(acc, 27) * P1;
    acc = acc + P4;
    consumed += 8;
    remaining -= 8;
  }
  if (remaining >= 4) {
    const uint64_t lane = load_u32_le(bytes + consumed);
    acc = acc ^ (lane * P1);
    acc = rotate_left(acc, 23) * P2;
    acc = acc + P3;
    consumed += 4;
    remaining -= 4;
  }
  for (; remaining > 0; --remaining, ++consumed) {
    const uint64_t lane = bytes[consumed];
    acc = acc ^ (lane * P5);
    acc = rotate_left(acc, 11) * P1;
  }

  acc = acc ^ (acc >> 33);
  acc = acc * P2;
  acc = acc ^ (acc >> 29);
  acc = acc * P3;
  acc = acc ^ (acc >> 32);
  return acc;
}

}  // namespace ref

uint64_t fresh_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// The byte sequence of xxHash's own sanity check (xxhsum's BMK_sanityCheck): byte i is the top
// byte of PRIME32 * PRIME64^i.
std::vector<unsigned char> sanity_buffer(size_t n) {
  std::vector<unsigned char> buf(n);
  uint64_t gen = 2654435761ULL;
  for (size_t i = 0; i < n; ++i) {
    buf[i] = static_cast<unsigned char>(gen >> 56);
    gen *= 11400714785074694797ULL;
  }
  return buf;
}

TEST(Hash, ShortStringVectors) {
  // Published XXH64 values (seed 0), also checked against libxxhash 0.8.
  EXPECT_EQ(seawall::xxh64("", 0), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(seawall::xxh64(std::string_view("")), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(seawall::xxh64(std::string_view("a")), 0xD24EC4F1A98C6E5BULL);
  EXPECT_EQ(seawall::xxh64(std::string_view("abc")), 0x44BC2CF5AD770999ULL);
  EXPECT_EQ(seawall::xxh64(std::string_view("message digest")), 0x066ED728FCEEB3BEULL);
  EXPECT_EQ(seawall::xxh64(std::string_view("abcdefghijklmnopqrstuvwxyz")), 0xCFE1F278FA89835CULL);
  // Null pointer with zero length is the empty input.
  EXPECT_EQ(seawall::xxh64(nullptr, 0), 0xEF46DB3751D8E999ULL);
}

TEST(Hash, SanityCheckVectors) {
  struct Case {
    size_t length;
    uint64_t seed;
    uint64_t expected;
  };
  constexpr uint64_t kPrime32 = 2654435761ULL;
  // The first seven are xxhsum's built-in sanity values; the rest were computed with libxxhash
  // 0.8.4 over the same buffer to cover every tail path and the 32-byte stripe loop.
  const Case cases[] = {
      {0, 0, 0xEF46DB3751D8E999ULL},
      {1, 0, 0xE934A84ADB052768ULL},
      {1, kPrime32, 0x5014607643A9B4C3ULL},
      {14, 0, 0x8282DCC4994E35C8ULL},
      {14, kPrime32, 0xC3BD6BF63DEB6DF0ULL},
      {222, 0, 0xB641AE8CB691C174ULL},
      {222, kPrime32, 0x20CB8AB7AE10C14AULL},
      {3, 0, 0xFF7E1959CB50794AULL},
      {4, 0, 0x9136A0DCA57457EEULL},
      {7, 0, 0x6C83909A9F01ED25ULL},
      {8, 0, 0xCDBCF538E71D1348ULL},
      {12, 0x9E3779B1ULL, 0x8252819F4E506951ULL},
      {31, 0, 0x299B39A290E6D783ULL},
      {32, 0, 0x18B216492BB44B70ULL},
      {33, 0x9E3779B1ULL, 0xE92C292F64BC3071ULL},
      {63, 0, 0xA9EFBE0FA0F3F4E7ULL},
      {64, 0, 0xEF558F8ACAC2B5CDULL},
      {100, ~0ULL, 0x2FE1B1460F4666C4ULL},
      {2367, 0, 0xA82418DDEC0EA581ULL},
      {2367, kPrime32, 0xA36A93C18052673AULL},
  };
  const auto buf = sanity_buffer(2367);
  for (const Case& c : cases) {
    SCOPED_TRACE("length " + std::to_string(c.length) + " seed " + std::to_string(c.seed));
    EXPECT_EQ(seawall::xxh64(buf.data(), c.length, c.seed), c.expected);
    // The reference must agree with the published values too, or it is no oracle.
    EXPECT_EQ(ref::xxh64(buf.data(), c.length, c.seed), c.expected);
  }
}

TEST(Hash, MatchesReferenceOnEveryShortLength) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("random seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::vector<unsigned char> buf(300);
  for (size_t length = 0; length <= 300; ++length) {
    for (int trial = 0; trial < 8; ++trial) {
      for (auto& b : buf) b = static_cast<unsigned char>(rng());
      // Seeds near the edges exercise the wrap-around in seed - PRIME64_1 and seed + PRIME64_1.
      const uint64_t hash_seed = trial == 0 ? 0 : trial == 1 ? ~0ULL : trial == 2 ? ref::P1 : rng();
      ASSERT_EQ(seawall::xxh64(buf.data(), length, hash_seed), ref::xxh64(buf.data(), length, hash_seed))
          << "length " << length << " hash seed " << hash_seed;
    }
  }
}

TEST(Hash, MatchesReferenceOnLongInputs) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("random seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 20; ++trial) {
    const size_t length = 300 + rng() % 20000;
    std::vector<unsigned char> buf(length);
    for (auto& b : buf) b = static_cast<unsigned char>(rng());
    const uint64_t hash_seed = rng();
    ASSERT_EQ(seawall::xxh64(buf.data(), length, hash_seed), ref::xxh64(buf.data(), length, hash_seed))
        << "length " << length;
  }
}

TEST(Hash, SameBytesAtAnyAlignmentHashTheSame) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("random seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::vector<unsigned char> content(200);
  for (auto& b : content) b = static_cast<unsigned char>(rng());
  std::vector<unsigned char> arena(content.size() + 64);
  for (size_t length : {0, 1, 3, 4, 5, 8, 9, 17, 31, 32, 33, 63, 64, 65, 127, 200}) {
    const uint64_t expected = ref::xxh64(content.data(), length, 42);
    for (size_t shift = 0; shift < 32; ++shift) {
      std::fill(arena.begin(), arena.end(), static_cast<unsigned char>(rng()));
      std::memcpy(arena.data() + shift, content.data(), length);
      ASSERT_EQ(seawall::xxh64(arena.data() + shift, length, 42), expected)
          << "length " << length << " offset " << shift;
    }
  }
}

TEST(Hash, StringViewOverloadUsesTheBytesIncludingNul) {
  const std::string with_nul("a\0b", 3);
  EXPECT_EQ(seawall::xxh64(std::string_view(with_nul)), ref::xxh64(with_nul.data(), 3, 0));
  EXPECT_NE(seawall::xxh64(std::string_view(with_nul)), seawall::xxh64(std::string_view("a")));
  EXPECT_EQ(seawall::xxh64(std::string_view("hello"), 7), ref::xxh64("hello", 5, 7));
}

TEST(Hash, EveryInputBitMatters) {
  // A bit flip anywhere (including the last partial lane) must change the hash.
  std::vector<unsigned char> buf = sanity_buffer(77);
  const uint64_t base = seawall::xxh64(buf.data(), buf.size());
  for (size_t byte = 0; byte < buf.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      buf[byte] ^= static_cast<unsigned char>(1u << bit);
      EXPECT_NE(seawall::xxh64(buf.data(), buf.size()), base) << "byte " << byte << " bit " << bit;
      buf[byte] ^= static_cast<unsigned char>(1u << bit);
    }
  }
}

}  // namespace
