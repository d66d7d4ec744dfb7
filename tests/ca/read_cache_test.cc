#include "ca/read_cache.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rotor::ca {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

store::RegistrationEntry Entry(const std::string& id) {
  store::RegistrationEntry entry;
  entry.id = id;
  entry.node_glob = "web-*";
  entry.spiffe_id = "spiffe://example.org/web";
  return entry;
}

std::vector<std::string> Ids(const EntryMatchCache::Entries& entries) {
  std::vector<std::string> ids;
  if (entries != nullptr) {
    for (const store::RegistrationEntry& e : *entries) ids.push_back(e.id);
  }
  return ids;
}

TEST(NodeRecordCacheTest, RemembersAndForgets) {
  NodeRecordCache cache;
  EXPECT_EQ(cache.Find("1a"), std::nullopt);
  cache.Remember("1a", "spiffe://example.org/rotor/node/web-1");
  EXPECT_THAT(cache.Find("1a"),
              Optional(std::string("spiffe://example.org/rotor/node/web-1")));
  cache.Forget("1a");
  EXPECT_EQ(cache.Find("1a"), std::nullopt);
}

TEST(NodeRecordCacheTest, IsEmptiedWhenFull) {
  NodeRecordCache cache(2);
  cache.Remember("1", "a");
  cache.Remember("2", "b");
  cache.Remember("2", "b");  // already there: nothing is dropped
  EXPECT_EQ(cache.size(), 2u);
  cache.Remember("3", "c");
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.Find("1"), std::nullopt);
  EXPECT_THAT(cache.Find("3"), Optional(std::string("c")));
}

TEST(EntryMatchCacheTest, RemembersWhatWasReadInTheCurrentGeneration) {
  EntryMatchCache cache;
  EXPECT_EQ(cache.Find("web-1"), nullptr);
  const uint64_t generation = cache.generation();
  EXPECT_THAT(Ids(cache.Remember(generation, "web-1", {Entry("e-1")})),
              ElementsAre("e-1"));
  EXPECT_THAT(Ids(cache.Find("web-1")), ElementsAre("e-1"));
}

TEST(EntryMatchCacheTest, InvalidateForgetsEverything) {
  EntryMatchCache cache;
  cache.Remember(cache.generation(), "web-1", {Entry("e-1")});
  cache.Remember(cache.generation(), "web-2", {});
  cache.Invalidate();
  EXPECT_EQ(cache.Find("web-1"), nullptr);
  EXPECT_EQ(cache.Find("web-2"), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(EntryMatchCacheTest, ReadThatRacedAChangeIsUsedButNotRemembered) {
  EntryMatchCache cache;
  const uint64_t before_read = cache.generation();
  cache.Invalidate();  // an entry changed while the store was being read
  EXPECT_THAT(Ids(cache.Remember(before_read, "web-1", {Entry("e-1")})),
              ElementsAre("e-1"));
  EXPECT_EQ(cache.Find("web-1"), nullptr);
}

TEST(EntryMatchCacheTest, IsEmptiedWhenFull) {
  EntryMatchCache cache(1);
  cache.Remember(cache.generation(), "web-1", {Entry("e-1")});
  cache.Remember(cache.generation(), "web-2", {Entry("e-2")});
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.Find("web-1"), nullptr);
  EXPECT_THAT(Ids(cache.Find("web-2")), ElementsAre("e-2"));
}

}  // namespace
}  // namespace rotor::ca
