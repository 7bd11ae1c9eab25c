#include "seawall/core/string_table.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "seawall/core/hash.h"

namespace {

uint64_t fresh_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// Strings drawn from a mix of shapes that stress different parts of the table: the empty string,
// embedded and trailing NUL bytes, non-ASCII bytes, very long keys, and short keys that collide in
// their low hash bits.
std::string random_key(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0:
      return std::string();
    case 1: {
      std::string s(1 + rng() % 6, '\0');  // all NUL bytes, various lengths
      return s;
    }
    case 2: {
      std::string s = "k" + std::to_string(rng() % 500);
      s.push_back('\0');
      s += std::to_string(rng() % 3);
      return s;
    }
    case 3: {
      std::string s(200 + rng() % 3000, 'x');
      for (auto& c : s) c = static_cast<char>(rng() % 256);
      return s;
    }
    case 4: {
      std::string s(1 + rng() % 3, ' ');
      for (auto& c : s) c = static_cast<char>(0x80 + rng() % 128);
      return s;
    }
    default:
      return "v" + std::to_string(rng() % 2000);
  }
}

// Checks everything the table promises against a map built alongside it.
void expect_same_as_oracle(const seawall::StringTable& table,
                           const std::unordered_map<std::string, int64_t>& oracle,
                           const std::vector<std::string>& by_id) {
  ASSERT_EQ(table.size(), static_cast<int64_t>(oracle.size()));
  ASSERT_EQ(by_id.size(), oracle.size());
  for (int64_t id = 0; id < table.size(); ++id) {
    ASSERT_EQ(std::string(table.key(id)), by_id[id]) << "id " << id;
  }
  for (const auto& [key, id] : oracle) {
    ASSERT_EQ(table.find(key), id);
    ASSERT_EQ(table.find(key, seawall::StringTable::hash(key)), id);
  }
}

TEST(StringTable, EmptyTable) {
  seawall::StringTable table;
  EXPECT_EQ(table.size(), 0);
  EXPECT_EQ(table.find(""), seawall::StringTable::kAbsent);
  EXPECT_EQ(table.find("a"), seawall::StringTable::kAbsent);
}

TEST(StringTable, HashIsXxh64) {
  // Callers precompute hashes (e.g. once per dictionary entry) and pass them in, so the static
  // hash must be the documented one.
  for (const std::string& s : {std::string(), std::string("abc"), std::string("a\0b", 3)}) {
    EXPECT_EQ(seawall::StringTable::hash(s), seawall::xxh64(s.data(), s.size()));
  }
}

TEST(StringTable, EmbeddedNulAndPrefixesAreDistinct) {
  seawall::StringTable table;
  const std::vector<std::string> keys = {
      std::string(), std::string(1, '\0'), std::string(2, '\0'), std::string("a"),
      std::string("a\0", 2), std::string("a\0b", 3), std::string("a\0c", 3), std::string("ab"),
  };
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(table.insert(keys[i]), static_cast<int64_t>(i));
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(table.find(keys[i]), static_cast<int64_t>(i));
    EXPECT_EQ(table.key(static_cast<int64_t>(i)), std::string_view(keys[i]));
    EXPECT_EQ(table.key(static_cast<int64_t>(i)).size(), keys[i].size());
  }
  EXPECT_EQ(table.find(std::string("a\0d", 3)), seawall::StringTable::kAbsent);
  EXPECT_EQ(table.find(std::string(3, '\0')), seawall::StringTable::kAbsent);
}

TEST(StringTable, OnlyEmptyKeysSoFar) {
  // The arena holds no bytes yet, so lookups must not hand a null buffer to memcmp (UBSan).
  seawall::StringTable table;
  EXPECT_EQ(table.insert(""), 0);
  EXPECT_EQ(table.insert(""), 0);
  EXPECT_EQ(table.find(""), 0);
  EXPECT_EQ(table.find(std::string(1, '\0')), seawall::StringTable::kAbsent);
  EXPECT_EQ(table.insert("a"), 1);
  EXPECT_EQ(table.find(""), 0);
}

TEST(StringTable, RandomInsertAndFindMatchMap) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("random seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  seawall::StringTable table;
  std::unordered_map<std::string, int64_t> oracle;
  std::vector<std::string> by_id;
  for (int step = 0; step < 20000; ++step) {
    const std::string key = random_key(rng);
    if (rng() % 4 == 0) {
      const auto it = oracle.find(key);
      ASSERT_EQ(table.find(key), it == oracle.end() ? seawall::StringTable::kAbsent : it->second);
      continue;
    }
    const auto [it, inserted] = oracle.emplace(key, static_cast<int64_t>(oracle.size()));
    if (inserted) by_id.push_back(key);
    // Inserting the same key again returns its old id; new keys get the next dense id.
    ASSERT_EQ(table.insert(key), it->second) << "step " << step;
  }
  expect_same_as_oracle(table, oracle, by_id);
}

TEST(StringTable, KeysOutliveTheirSourceBuffers) {
  seawall::StringTable table;
  std::vector<std::string> expected;
  for (int i = 0; i < 1000; ++i) {
    std::string temp = "temporary-" + std::to_string(i) + std::string(i % 50, 'z');
    expected.push_back(temp);
    table.insert(temp);
    temp.assign(temp.size(), '#');  // scribble over the source: the table must own a copy
  }
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(std::string(table.key(i)), expected[i]);
}

TEST(StringTable, ManyDistinctKeysForceGrowth) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("random seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  constexpr int kKeys = 200000;
  seawall::StringTable table;
  std::unordered_map<std::string, int64_t> oracle;
  oracle.reserve(kKeys);
  std::vector<std::string> by_id;
  by_id.reserve(kKeys);
  // Distinct by construction (a counter) with a random, variable-length suffix.
  for (int i = 0; i < kKeys; ++i) {
    std::string key = std::to_string(i) + ":" + std::string(rng() % 12, 'q');
    by_id.push_back(key);
    oracle.emplace(key, i);
    ASSERT_EQ(table.insert(key), i);
    // Re-inserting recent keys while the table grows must not create duplicates.
    if (i % 997 == 0) {
      ASSERT_EQ(table.insert(by_id[i / 2]), i / 2);
    }
  }
  expect_same_as_oracle(table, oracle, by_id);
  for (int i = 0; i < 1000; ++i) {
    const std::string missing = std::to_string(kKeys + i) + ":";
    ASSERT_EQ(table.find(missing), seawall::StringTable::kAbsent);
  }
}

TEST(StringTable, SuppliedHashCollisionsAreResolvedByBytes) {
  // Every key given the same hash: lookups must compare the bytes, not trust the hash alone,
  // and growth must keep all of them reachable.
  seawall::StringTable table;
  constexpr uint64_t kSameHash = 12345;
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(table.insert("c" + std::to_string(i), kSameHash), i);
  }
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(table.find("c" + std::to_string(i), kSameHash), i);
    ASSERT_EQ(table.insert("c" + std::to_string(i), kSameHash), i);
  }
  EXPECT_EQ(table.find("c300", kSameHash), seawall::StringTable::kAbsent);
  EXPECT_EQ(table.size(), 300);
}

TEST(StringTable, ManyDuplicates) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("random seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  seawall::StringTable table;
  std::unordered_map<std::string, int64_t> oracle;
  std::vector<std::string> by_id;
  for (int i = 0; i < 100000; ++i) {
    const std::string key = "level" + std::to_string(rng() % 37);
    const auto [it, inserted] = oracle.emplace(key, static_cast<int64_t>(oracle.size()));
    if (inserted) by_id.push_back(key);
    ASSERT_EQ(table.insert(key), it->second);
  }
  expect_same_as_oracle(table, oracle, by_id);
}

}  // namespace
