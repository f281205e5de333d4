// HashRing: balance, minimal movement when a host is unavailable or removed, weights, and the
// hash it uses.
#include "infergate/resilience/hash_ring.h"

#include <gtest/gtest.h>

#include <bit>
#include <string>
#include <vector>

namespace infergate::resilience {
namespace {

constexpr int kKeys = 100000;

std::vector<std::string> Ids(int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back("10.0.0." + std::to_string(i + 1) + ":8000");
  return ids;
}

std::vector<RingHost> Hosts(const std::vector<std::string>& ids) {
  std::vector<RingHost> hosts;
  for (const auto& id : ids) hosts.push_back(RingHost{id, 1});
  return hosts;
}

uint64_t Key(int i) { return Hash64("session-" + std::to_string(i)); }

TEST(HashRing, DistributesEvenlyAcrossFourHosts) {
  const auto ids = Ids(4);
  const HashRing ring(Hosts(ids));
  EXPECT_EQ(ring.point_count(), 4u * HashRing::kDefaultVnodesPerWeight);
  std::vector<int> count(4);
  for (int i = 0; i < kKeys; ++i) ++count[*ring.Pick(Key(i))];
  for (int c : count) {
    EXPECT_GT(c, kKeys / 4 * 85 / 100);
    EXPECT_LT(c, kKeys / 4 * 115 / 100);
  }
}

TEST(HashRing, BalancedForManyHostSetsAndRawIntegerKeys) {
  for (int n : {2, 3, 5, 8, 16}) {
    const auto ids = Ids(n);
    const HashRing ring(Hosts(ids));
    std::vector<int> count(n);
    for (int i = 0; i < kKeys; ++i) ++count[*ring.Pick(static_cast<uint64_t>(i))];
    for (int c : count) {
      EXPECT_GT(c, kKeys / n * 85 / 100) << n;
      EXPECT_LT(c, kKeys / n * 115 / 100) << n;
    }
  }
}

TEST(HashRing, UnavailableHostMovesOnlyItsKeys) {
  const auto ids = Ids(4);
  const HashRing ring(Hosts(ids));
  std::vector<int> moved_to(4);
  for (int i = 0; i < kKeys; ++i) {
    const size_t before = *ring.Pick(Key(i));
    const size_t after = *ring.Pick(Key(i), [](size_t h) { return h != 2; });
    if (before != 2) {
      EXPECT_EQ(after, before);
    } else {
      EXPECT_NE(after, 2u);
      ++moved_to[after];
    }
  }
  // Its sessions spread over the others instead of piling onto one neighbour.
  for (size_t h : {0u, 1u, 3u}) EXPECT_GT(moved_to[h], kKeys / 4 / 6) << h;
}

TEST(HashRing, RemovingAHostMovesOnlyItsKeysAndAddingItBackRestoresThem) {
  const auto ids = Ids(5);
  const HashRing full(Hosts(ids));
  std::vector<std::string> fewer_ids = ids;
  fewer_ids.erase(fewer_ids.begin() + 1);
  const HashRing fewer(Hosts(fewer_ids));
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    const size_t a = *full.Pick(Key(i));
    const std::string& before = ids[a];
    const std::string& after = fewer_ids[*fewer.Pick(Key(i))];
    if (a != 1) {
      EXPECT_EQ(after, before);
    } else {
      ++moved;
    }
  }
  EXPECT_NEAR(moved, kKeys / 5, kKeys / 5 * 0.2);
  const HashRing again(Hosts(ids));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(*again.Pick(Key(i)), *full.Pick(Key(i)));
}

TEST(HashRing, WeightsScaleTheShare) {
  const auto ids = Ids(3);
  const std::vector<RingHost> hosts = {{ids[0], 1}, {ids[1], 2}, {ids[2], 0}};
  const HashRing ring(hosts);
  std::vector<int> count(3);
  for (int i = 0; i < kKeys; ++i) ++count[*ring.Pick(Key(i))];
  EXPECT_EQ(count[2], 0);
  EXPECT_NEAR(static_cast<double>(count[1]) / count[0], 2.0, 0.3);
}

TEST(HashRing, SmallerVnodeCountsAndTheSizeCap) {
  const auto ids = Ids(4);
  const HashRing ring(Hosts(ids), 100);
  EXPECT_EQ(ring.point_count(), 400u);
  std::vector<int> count(4);
  for (int i = 0; i < kKeys; ++i) ++count[*ring.Pick(Key(i))];
  for (int c : count) EXPECT_GT(c, 0);
  const std::vector<RingHost> heavy = {{ids[0], 1000000}, {ids[1], 1000000}, {ids[2], 1}};
  const HashRing capped(heavy);
  EXPECT_LE(capped.point_count(), HashRing::kMaxPoints + 1);
  EXPECT_GE(capped.point_count(), HashRing::kMaxPoints - 2);
  // A host scaled below one point still gets one.
  EXPECT_EQ(capped.Pick(Key(1), [](size_t h) { return h == 2; }), std::optional<size_t>(2));
}

TEST(HashRing, EmptyOrNothingAvailable) {
  const HashRing empty;
  EXPECT_FALSE(empty.Pick(1));
  const auto ids = Ids(3);
  const HashRing ring(Hosts(ids));
  std::vector<int> asked(3);
  EXPECT_FALSE(ring.Pick(Key(1), [&](size_t h) {
    ++asked[h];
    return false;
  }));
  for (int a : asked) EXPECT_EQ(a, 1);  // each host asked once
  EXPECT_EQ(*ring.Pick(Key(1), [](size_t h) { return h == 1; }), 1u);
}

TEST(Hash64, DeterministicSeededAndAvalanching) {
  EXPECT_EQ(Hash64("abc"), Hash64("abc"));
  EXPECT_NE(Hash64("abc"), Hash64("abd"));
  EXPECT_NE(Hash64("abc", 1), Hash64("abc", 2));
  EXPECT_NE(Hash64(""), Hash64(std::string_view("\0", 1)));
  // Flipping one input bit flips about half of the output bits.
  double flipped = 0;
  int samples = 0;
  for (int i = 0; i < 200; ++i) {
    std::string s = "key-" + std::to_string(i);
    const uint64_t h = Hash64(s);
    for (size_t byte = 0; byte < s.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string t = s;
        t[byte] = static_cast<char>(t[byte] ^ (1 << bit));
        flipped += std::popcount(h ^ Hash64(t));
        ++samples;
      }
    }
  }
  EXPECT_NEAR(flipped / samples, 32.0, 1.0);
  EXPECT_EQ(Mix64(0), 0u);
  EXPECT_NE(Mix64(1), Mix64(2));
}

}  // namespace
}  // namespace infergate::resilience
