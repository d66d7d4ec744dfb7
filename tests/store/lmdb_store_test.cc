#include "store/lmdb_store.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/record_codec.h"
#include "tests/store/raw_store.h"
#include "tests/store/test_records.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace rotor::store {
namespace {

using ::rotor::store::testing::IsOkAndHolds;
using ::rotor::store::testing::kT0;
using ::rotor::store::testing::MakeRecord;
using ::rotor::store::testing::RawStore;
using ::rotor::store::testing::SerialFor;
using ::rotor::testing::IsOk;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Optional;

constexpr absl::string_view kAdmin = "spiffe://example.org/rotor/admin/init";

std::vector<std::string> Serials(const std::vector<CertificateRecord>& rs) {
  std::vector<std::string> out;
  for (const CertificateRecord& r : rs) out.push_back(r.serial);
  return out;
}

// Every test runs with and without group commit.
class LmdbStoreTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { Reopen(); }

  LmdbStoreOptions Options() const {
    LmdbStoreOptions options;
    options.group_commit = GetParam();
    return options;
  }

  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<LmdbStore>> store =
        LmdbStore::Open(dir_.Path("store"), Options());
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
  }

  uint64_t CertificateCount() {
    absl::StatusOr<StoreStats> stats = store_->GetStats();
    EXPECT_THAT(stats, IsOk());
    return stats.ok() ? stats->certificates : 0;
  }
  uint64_t AuditCount() {
    absl::StatusOr<StoreStats> stats = store_->GetStats();
    EXPECT_THAT(stats, IsOk());
    return stats.ok() ? stats->audit_records : 0;
  }

  // Walks every page of `filter` with `limit`, checking each page's size.
  std::vector<std::string> ListAll(const CertificateFilter& filter,
                                   int limit, int* pages = nullptr) {
    std::vector<std::string> serials;
    std::string cursor;
    int count = 0;
    do {
      absl::StatusOr<CertificatePage> page =
          store_->ListCertificates(filter, cursor, limit);
      EXPECT_THAT(page, IsOk());
      if (!page.ok()) break;
      EXPECT_LE(page->records.size(), static_cast<size_t>(limit));
      if (!page->next_cursor.empty()) {
        EXPECT_EQ(page->records.size(), static_cast<size_t>(limit));
      }
      for (const CertificateRecord& r : page->records) {
        serials.push_back(r.serial);
      }
      cursor = page->next_cursor;
      ++count;
    } while (!cursor.empty() && count < 10000);
    if (pages != nullptr) *pages = count;
    return serials;
  }

  TempDir dir_;
  std::unique_ptr<LmdbStore> store_;
};

INSTANTIATE_TEST_SUITE_P(GroupCommit, LmdbStoreTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "On" : "Off";
                         });

// --- Put and get ---

TEST_P(LmdbStoreTest, PutThenGetReturnsTheSameRecord) {
  CertificateRecord record = MakeRecord("1a2b");
  record.kind = CertificateKind::kNode;
  ASSERT_OK(store_->PutCertificate(record));
  EXPECT_THAT(store_->GetCertificate("1a2b"), IsOk());
  EXPECT_THAT(store_->GetCertificate("1a2b"), IsOkAndHolds(Optional(record)));
}

TEST_P(LmdbStoreTest, GetOfUnknownSerialIsNotAnError) {
  ASSERT_OK_AND_ASSIGN(std::optional<CertificateRecord> record,
                       store_->GetCertificate("abc"));
  EXPECT_EQ(record, std::nullopt);
}

TEST_P(LmdbStoreTest, GetRefusesNonCanonicalSerial) {
  EXPECT_THAT(store_->GetCertificate("ABC"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("only lowercase hex digits")));
  EXPECT_THAT(store_->GetCertificate("0abc"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("leading zero")));
  EXPECT_THAT(store_->GetCertificate(""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("serial is empty")));
}

TEST_P(LmdbStoreTest, RecordsSurviveReopen) {
  ASSERT_OK(store_->PutCertificate(MakeRecord("1")));
  ASSERT_OK(store_->PutCertificate(MakeRecord("2")));
  Reopen();
  EXPECT_THAT(store_->GetCertificate("1"), IsOkAndHolds(Optional(MakeRecord("1"))));
  EXPECT_THAT(store_->GetCertificate("2"), IsOkAndHolds(Optional(MakeRecord("2"))));
}

TEST_P(LmdbStoreTest, PutRefusesDuplicateSerialAndKeepsTheFirst) {
  CertificateRecord first = MakeRecord("ab", "node-1");
  ASSERT_OK(store_->PutCertificate(first));
  EXPECT_THAT(store_->PutCertificate(MakeRecord("ab", "node-2")),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("certificate ab already exists")));
  EXPECT_EQ(CertificateCount(), 1);
  EXPECT_THAT(store_->GetCertificate("ab"), IsOkAndHolds(Optional(first)));
  // No index entry for the refused record either.
  CertificateFilter filter;
  filter.node_name = "node-2";
  EXPECT_THAT(ListAll(filter, 10), IsEmpty());
  ASSERT_OK_AND_ASSIGN(LmdbStore::IndexCounts counts,
                       store_->GetIndexCounts());
  EXPECT_EQ(counts.by_node, 1);
  EXPECT_EQ(counts.by_spiffe_id, 1);
  EXPECT_EQ(counts.by_not_after, 1);
}

TEST_P(LmdbStoreTest, PutRefusesNonCanonicalSerialsAndStoresNothing) {
  EXPECT_THAT(store_->PutCertificate(MakeRecord("")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("serial is empty")));
  EXPECT_THAT(store_->PutCertificate(MakeRecord("00ff")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("serial \"00ff\" is not canonical: it has "
                                 "a leading zero")));
  EXPECT_THAT(store_->PutCertificate(MakeRecord("AB:CD")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("only lowercase hex digits")));
  EXPECT_THAT(store_->PutCertificate(MakeRecord(std::string(41, 'a'))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("longer than 40 hex digits")));
  EXPECT_EQ(CertificateCount(), 0);
}

TEST_P(LmdbStoreTest, PutAcceptsTheLongestSerial) {
  const std::string serial = "7" + std::string(39, 'f');
  ASSERT_OK(store_->PutCertificate(MakeRecord(serial)));
  EXPECT_THAT(store_->GetCertificate(serial), IsOkAndHolds(Optional(MakeRecord(serial))));
}

TEST_P(LmdbStoreTest, PutRefusesARecordMarkedRevoked) {
  CertificateRecord record = MakeRecord("ab");
  record.revoked = true;
  EXPECT_THAT(store_->PutCertificate(record),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("certificate ab is marked revoked")));
  EXPECT_EQ(CertificateCount(), 0);
}

TEST_P(LmdbStoreTest, NamesLongerThanAnLmdbKeyAreIndexed) {
  const std::string long_id =
      absl::StrCat("spiffe://example.org/", std::string(2000, 'p'));
  const std::string long_node(1000, 'n');
  ASSERT_OK(store_->PutCertificate(MakeRecord("1", long_node, long_id)));
  CertificateFilter by_id;
  by_id.spiffe_id = long_id;
  EXPECT_THAT(ListAll(by_id, 10), ElementsAre("1"));
  CertificateFilter by_node;
  by_node.node_name = long_node;
  EXPECT_THAT(ListAll(by_node, 10), ElementsAre("1"));
}

// --- Listing ---

class LmdbStoreListTest : public LmdbStoreTest {
 protected:
  void SetUp() override {
    LmdbStoreTest::SetUp();
    // serial, node, identity, hours until not_after
    Put("11", "node-a", "spiffe://td/web", 5);
    Put("22", "node-b", "spiffe://td/db", 1);
    Put("33", "node-a", "spiffe://td/db", 3);
    Put("44", "node-a", "spiffe://td/web", 2);
    Put("55", "node-b", "spiffe://td/web", 4);
  }
  void Put(const std::string& serial, const std::string& node,
           const std::string& id, int hours) {
    ASSERT_OK(store_->PutCertificate(
        MakeRecord(serial, node, id, kT0 + absl::Hours(hours))));
  }
};

INSTANTIATE_TEST_SUITE_P(GroupCommit, LmdbStoreListTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "On" : "Off";
                         });

TEST_P(LmdbStoreListTest, EmptyFilterListsEverythingBySerial) {
  EXPECT_THAT(ListAll({}, 100), ElementsAre("11", "22", "33", "44", "55"));
}

TEST_P(LmdbStoreListTest, ListsOneNode) {
  CertificateFilter filter;
  filter.node_name = "node-a";
  EXPECT_THAT(ListAll(filter, 100), ElementsAre("11", "33", "44"));
  filter.node_name = "node-c";
  EXPECT_THAT(ListAll(filter, 100), IsEmpty());
}

TEST_P(LmdbStoreListTest, ListsOneSpiffeId) {
  CertificateFilter filter;
  filter.spiffe_id = "spiffe://td/web";
  EXPECT_THAT(ListAll(filter, 100), ElementsAre("11", "44", "55"));
}

TEST_P(LmdbStoreListTest, ListsAnExpiryWindowInExpiryOrder) {
  CertificateFilter filter;
  filter.not_after_from = kT0 + absl::Hours(2);
  filter.not_after_to = kT0 + absl::Hours(4);  // exclusive
  EXPECT_THAT(ListAll(filter, 100), ElementsAre("44", "33"));
  filter.not_after_from = absl::InfinitePast();
  EXPECT_THAT(ListAll(filter, 100), ElementsAre("22", "44", "33"));
  filter.not_after_from = kT0 + absl::Hours(3);
  filter.not_after_to = absl::InfiniteFuture();
  EXPECT_THAT(ListAll(filter, 100), ElementsAre("33", "55", "11"));
  // An empty window.
  filter.not_after_from = kT0 + absl::Hours(4);
  filter.not_after_to = kT0 + absl::Hours(4);
  EXPECT_THAT(ListAll(filter, 100), IsEmpty());
}

TEST_P(LmdbStoreListTest, CombinesFilters) {
  ASSERT_OK(store_->RevokeCertificate("33", pki::RevocationReason::kSuperseded,
                                      kT0, kAdmin)
                .status());
  ASSERT_OK(store_->RevokeCertificate("55", pki::RevocationReason::kSuperseded,
                                      kT0, kAdmin)
                .status());
  CertificateFilter filter;
  filter.revoked_only = true;
  EXPECT_THAT(ListAll(filter, 100), ElementsAre("33", "55"));
  filter.node_name = "node-a";
  EXPECT_THAT(ListAll(filter, 100), ElementsAre("33"));
  filter = {};
  filter.node_name = "node-a";
  filter.spiffe_id = "spiffe://td/web";
  filter.not_after_to = kT0 + absl::Hours(3);
  EXPECT_THAT(ListAll(filter, 100), ElementsAre("44"));
}

TEST_P(LmdbStoreListTest, PagesOfOneWalkEveryRecordOnce) {
  int pages = 0;
  EXPECT_THAT(ListAll({}, 1, &pages), ElementsAre("11", "22", "33", "44", "55"));
  EXPECT_EQ(pages, 5);
  CertificateFilter filter;
  filter.node_name = "node-a";
  EXPECT_THAT(ListAll(filter, 1, &pages), ElementsAre("11", "33", "44"));
  EXPECT_EQ(pages, 3);
  filter = {};
  filter.not_after_to = kT0 + absl::Hours(10);
  EXPECT_THAT(ListAll(filter, 1, &pages),
              ElementsAre("22", "44", "33", "55", "11"));
  EXPECT_EQ(pages, 5);
}

TEST_P(LmdbStoreListTest, APageOfExactlyTheRemainingRecordsHasNoCursor) {
  ASSERT_OK_AND_ASSIGN(CertificatePage page,
                       store_->ListCertificates({}, "", 5));
  EXPECT_EQ(page.records.size(), 5);
  EXPECT_EQ(page.next_cursor, "");

  ASSERT_OK_AND_ASSIGN(page, store_->ListCertificates({}, "", 2));
  EXPECT_THAT(Serials(page.records), ElementsAre("11", "22"));
  ASSERT_OK_AND_ASSIGN(page, store_->ListCertificates({}, page.next_cursor, 3));
  EXPECT_THAT(Serials(page.records), ElementsAre("33", "44", "55"));
  EXPECT_EQ(page.next_cursor, "");
}

TEST_P(LmdbStoreListTest, PagesOfTwoEndWithAShortPage) {
  int pages = 0;
  EXPECT_THAT(ListAll({}, 2, &pages), ElementsAre("11", "22", "33", "44", "55"));
  EXPECT_EQ(pages, 3);
}

TEST_P(LmdbStoreListTest, CursorKeepsItsPlaceWhenRecordsAreAdded) {
  ASSERT_OK_AND_ASSIGN(CertificatePage page,
                       store_->ListCertificates({}, "", 2));
  ASSERT_OK(store_->PutCertificate(MakeRecord("12")));  // before the cursor
  ASSERT_OK(store_->PutCertificate(MakeRecord("66")));  // after it
  ASSERT_OK_AND_ASSIGN(page, store_->ListCertificates({}, page.next_cursor, 10));
  EXPECT_THAT(Serials(page.records), ElementsAre("33", "44", "55", "66"));
}

TEST_P(LmdbStoreTest, ListOfAnEmptyStoreIsEmpty) {
  ASSERT_OK_AND_ASSIGN(CertificatePage page,
                       store_->ListCertificates({}, "", 10));
  EXPECT_THAT(page.records, IsEmpty());
  EXPECT_EQ(page.next_cursor, "");
  CertificateFilter filter;
  filter.node_name = "x";
  filter.revoked_only = true;
  ASSERT_OK_AND_ASSIGN(page, store_->ListCertificates(filter, "", 1));
  EXPECT_THAT(page.records, IsEmpty());
  EXPECT_EQ(page.next_cursor, "");
}

TEST(LmdbStoreLimitTest, LimitZeroMeansTheDefaultAndLargeLimitsAreLowered) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store")));
  // Many concurrent writers, so that group commit makes this quick.
  const int n = kMaxListLimit + 1;
  std::vector<std::thread> threads;
  std::atomic<int> next{0};
  for (int t = 0; t < 64; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < n; i = next++) {
        EXPECT_OK(store->PutCertificate(MakeRecord(SerialFor(i))));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_OK_AND_ASSIGN(CertificatePage page,
                       store->ListCertificates({}, "", 0));
  EXPECT_EQ(page.records.size(), kDefaultListLimit);
  EXPECT_NE(page.next_cursor, "");
  ASSERT_OK_AND_ASSIGN(page, store->ListCertificates({}, "", 1 << 30));
  EXPECT_EQ(page.records.size(), kMaxListLimit);
  ASSERT_OK_AND_ASSIGN(page, store->ListCertificates({}, page.next_cursor,
                                                     1 << 30));
  EXPECT_EQ(page.records.size(), 1);
  EXPECT_EQ(page.next_cursor, "");
}

TEST_P(LmdbStoreListTest, RefusesANegativeLimit) {
  EXPECT_THAT(store_->ListCertificates({}, "", -1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("limit must not be negative, got -1")));
}

TEST_P(LmdbStoreListTest, RefusesAMalformedCursor) {
  EXPECT_THAT(store_->ListCertificates({}, "%%%", 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("page cursor \"%%%\" is malformed")));
}

TEST_P(LmdbStoreListTest, RefusesACursorFromAnotherFilter) {
  CertificateFilter node_a;
  node_a.node_name = "node-a";
  ASSERT_OK_AND_ASSIGN(CertificatePage page,
                       store_->ListCertificates(node_a, "", 1));
  ASSERT_NE(page.next_cursor, "");
  CertificateFilter node_b;
  node_b.node_name = "node-b";
  EXPECT_THAT(store_->ListCertificates(node_b, page.next_cursor, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("page cursor does not match this filter")));
  EXPECT_THAT(store_->ListCertificates({}, page.next_cursor, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("page cursor does not match this filter")));
}

// --- Revocation ---

TEST_P(LmdbStoreTest, RevokeMarksTheRecordAndAuditsInTheSameStep) {
  ASSERT_OK(store_->PutCertificate(MakeRecord("ab", "web-1")));
  const absl::Time when = kT0 + absl::Minutes(5);
  ASSERT_OK_AND_ASSIGN(
      CertificateRecord revoked,
      store_->RevokeCertificate("ab", pki::RevocationReason::kKeyCompromise,
                                when, kAdmin));
  CertificateRecord expected = MakeRecord("ab", "web-1");
  expected.revoked = true;
  expected.revoked_at = when;
  expected.revocation_reason = pki::RevocationReason::kKeyCompromise;
  expected.revoked_by = std::string(kAdmin);
  EXPECT_EQ(revoked, expected);
  EXPECT_THAT(store_->GetCertificate("ab"), IsOkAndHolds(Optional(expected)));

  ASSERT_OK_AND_ASSIGN(AuditPage audit, store_->ListAudit(0, 10));
  ASSERT_EQ(audit.records.size(), 1);
  const AuditRecord& line = audit.records[0];
  EXPECT_EQ(line.sequence, 1);
  EXPECT_EQ(line.time, when);
  EXPECT_EQ(line.actor, kAdmin);
  EXPECT_EQ(line.action, kAuditRevokeCertificate);
  EXPECT_EQ(line.target, "certificate ab");
  EXPECT_EQ(line.outcome, "ok");
  EXPECT_THAT(line.detail, HasSubstr("reason 1"));

  ASSERT_OK_AND_ASSIGN(std::vector<pki::RevokedCertificate> crl,
                       store_->ListRevoked(absl::InfinitePast()));
  ASSERT_EQ(crl.size(), 1);
  EXPECT_EQ(crl[0].serial, "ab");
  EXPECT_EQ(crl[0].revoked_at, when);
  EXPECT_EQ(crl[0].reason, pki::RevocationReason::kKeyCompromise);
  EXPECT_EQ(crl[0].not_after, MakeRecord("ab", "web-1").not_after);
}

TEST_P(LmdbStoreTest, RevokeOfUnknownSerialIsNotFoundAndWritesNothing) {
  EXPECT_THAT(store_->RevokeCertificate(
                  "abc", pki::RevocationReason::kUnspecified, kT0, kAdmin),
              StatusIs(absl::StatusCode::kNotFound,
                       "certificate abc not found"));
  EXPECT_EQ(AuditCount(), 0);
  EXPECT_EQ(CertificateCount(), 0);
}

TEST_P(LmdbStoreTest, RevokeOfRevokedCertificateIsFailedPrecondition) {
  ASSERT_OK(store_->PutCertificate(MakeRecord("ab")));
  ASSERT_OK(store_->RevokeCertificate("ab",
                                      pki::RevocationReason::kSuperseded, kT0,
                                      kAdmin)
                .status());
  EXPECT_THAT(
      store_->RevokeCertificate("ab", pki::RevocationReason::kKeyCompromise,
                                kT0 + absl::Hours(1), "someone-else"),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("certificate ab is already revoked (at "
                         "2027-01-15T08:00:00+00:00 by "
                         "spiffe://example.org/rotor/admin/init, reason 4)")));
  // The first revocation stands and only it was audited.
  ASSERT_OK_AND_ASSIGN(std::optional<CertificateRecord> record,
                       store_->GetCertificate("ab"));
  EXPECT_EQ(record->revocation_reason, pki::RevocationReason::kSuperseded);
  EXPECT_EQ(record->revoked_at, kT0);
  EXPECT_EQ(AuditCount(), 1);
}

TEST_P(LmdbStoreTest, RevokeRefusesRemoveFromCrlAndAnEmptyActor) {
  ASSERT_OK(store_->PutCertificate(MakeRecord("ab")));
  EXPECT_THAT(store_->RevokeCertificate(
                  "ab", pki::RevocationReason::kRemoveFromCrl, kT0, kAdmin),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("revocation reason 8 is not a reason")));
  EXPECT_THAT(store_->RevokeCertificate(
                  "ab", pki::RevocationReason::kUnspecified, kT0, ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("actor is empty")));
  EXPECT_THAT(store_->RevokeCertificate(
                  "AB", pki::RevocationReason::kUnspecified, kT0, kAdmin),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not canonical")));
  EXPECT_FALSE((*store_->GetCertificate("ab"))->revoked);
  EXPECT_EQ(AuditCount(), 0);
}

TEST_P(LmdbStoreTest, ListRevokedLeavesOutCertificatesExpiredBeforeTheCutoff) {
  ASSERT_OK(store_->PutCertificate(
      MakeRecord("1", "n", "spiffe://td/a", kT0 + absl::Hours(1))));
  ASSERT_OK(store_->PutCertificate(
      MakeRecord("2", "n", "spiffe://td/a", kT0 + absl::Hours(3))));
  ASSERT_OK(store_->PutCertificate(
      MakeRecord("3", "n", "spiffe://td/a", kT0 + absl::Hours(3))));
  for (const char* serial : {"1", "2"}) {
    ASSERT_OK(store_->RevokeCertificate(
                        serial, pki::RevocationReason::kUnspecified, kT0,
                        kAdmin)
                  .status());
  }
  ASSERT_OK_AND_ASSIGN(std::vector<pki::RevokedCertificate> all,
                       store_->ListRevoked(absl::InfinitePast()));
  ASSERT_EQ(all.size(), 2);
  ASSERT_OK_AND_ASSIGN(std::vector<pki::RevokedCertificate> current,
                       store_->ListRevoked(kT0 + absl::Hours(1)));
  ASSERT_EQ(current.size(), 1);
  EXPECT_EQ(current[0].serial, "2");
}

// --- CRL numbers ---

TEST_P(LmdbStoreTest, CrlNumbersIncreaseAndSurviveReopen) {
  EXPECT_THAT(store_->NextCrlNumber(), IsOkAndHolds(1));
  EXPECT_THAT(store_->NextCrlNumber(), IsOkAndHolds(2));
  Reopen();
  EXPECT_THAT(store_->NextCrlNumber(), IsOkAndHolds(3));
}

TEST_P(LmdbStoreTest, ConcurrentCrlNumbersAreAllDifferent) {
  std::vector<std::thread> threads;
  absl::Mutex mu;
  std::set<uint64_t> numbers;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        absl::StatusOr<uint64_t> n = store_->NextCrlNumber();
        ASSERT_THAT(n, IsOk());
        absl::MutexLock lock(&mu);
        EXPECT_TRUE(numbers.insert(*n).second) << *n;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(numbers.size(), 80);
  EXPECT_EQ(*numbers.rbegin(), 80);
}

// --- Join tokens ---

TEST_P(LmdbStoreTest, JoinTokenIsConsumedOnceAndNamesItsNode) {
  const std::string hash(32, 'h');
  ASSERT_OK(store_->CreateJoinToken(hash, "web-1", kT0, kT0 + absl::Hours(1),
                                    kAdmin));
  EXPECT_THAT(store_->ConsumeJoinToken(hash, kT0 + absl::Minutes(1)),
              IsOkAndHolds(std::string("web-1")));
  EXPECT_THAT(store_->ConsumeJoinToken(hash, kT0 + absl::Minutes(2)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "join token already used"));
  Reopen();  // used is durable
  EXPECT_THAT(store_->ConsumeJoinToken(hash, kT0 + absl::Minutes(3)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "join token already used"));
}

TEST_P(LmdbStoreTest, CreatingAJoinTokenIsAudited) {
  ASSERT_OK(store_->CreateJoinToken("hash", "web-1", kT0,
                                    kT0 + absl::Hours(1), kAdmin));
  ASSERT_OK_AND_ASSIGN(AuditPage audit, store_->ListAudit(0, 10));
  ASSERT_EQ(audit.records.size(), 1);
  EXPECT_EQ(audit.records[0].action, kAuditCreateJoinToken);
  EXPECT_EQ(audit.records[0].actor, kAdmin);
  EXPECT_EQ(audit.records[0].target, "node web-1");
  EXPECT_EQ(audit.records[0].time, kT0);
  EXPECT_EQ(audit.records[0].outcome, "ok");
  EXPECT_THAT(audit.records[0].detail, HasSubstr("expires 2027-01-15T09:00"));
  // The token's hash is not in the audit log.
  EXPECT_THAT(audit.records[0].detail, ::testing::Not(HasSubstr("hash")));
}

TEST_P(LmdbStoreTest, ExpiredJoinTokenIsRefusedAndLeftUnused) {
  ASSERT_OK(store_->CreateJoinToken("hash", "web-1", kT0,
                                    kT0 + absl::Hours(1), kAdmin));
  EXPECT_THAT(store_->ConsumeJoinToken("hash", kT0 + absl::Hours(1)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "join token expired"));
  EXPECT_THAT(store_->ConsumeJoinToken("hash", kT0 + absl::Hours(2)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "join token expired"));
  // The refusal did not use it up: at an earlier time it still works.
  EXPECT_THAT(store_->ConsumeJoinToken("hash", kT0 + absl::Minutes(59)),
              IsOkAndHolds(std::string("web-1")));
}

TEST_P(LmdbStoreTest, UnknownJoinTokenIsNotFound) {
  EXPECT_THAT(store_->ConsumeJoinToken("nope", kT0),
              StatusIs(absl::StatusCode::kNotFound, "unknown join token"));
  EXPECT_THAT(store_->ConsumeJoinToken("", kT0),
              StatusIs(absl::StatusCode::kNotFound, "unknown join token"));
}

TEST_P(LmdbStoreTest, ConcurrentConsumersOfOneTokenHaveOneWinner) {
  ASSERT_OK(store_->CreateJoinToken("hash", "web-1", kT0,
                                    kT0 + absl::Hours(1), kAdmin));
  std::atomic<int> won{0};
  std::atomic<int> used{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      absl::StatusOr<std::string> node = store_->ConsumeJoinToken("hash", kT0);
      if (node.ok()) {
        ++won;
      } else if (node.status().message() == "join token already used") {
        ++used;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(won, 1);
  EXPECT_EQ(used, 15);
}

TEST_P(LmdbStoreTest, CreateJoinTokenRefusalsStoreNothing) {
  ASSERT_OK(store_->CreateJoinToken("hash", "web-1", kT0,
                                    kT0 + absl::Hours(1), kAdmin));
  EXPECT_THAT(store_->CreateJoinToken("hash", "web-2", kT0,
                                      kT0 + absl::Hours(1), kAdmin),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       "a join token with this hash already exists"));
  EXPECT_THAT(store_->CreateJoinToken("", "web-2", kT0, kT0 + absl::Hours(1),
                                      kAdmin),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("join token hash must be 1 to 64 bytes")));
  EXPECT_THAT(store_->CreateJoinToken(std::string(65, 'h'), "web-2", kT0,
                                      kT0 + absl::Hours(1), kAdmin),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("got 65")));
  EXPECT_THAT(store_->CreateJoinToken("h2", "", kT0, kT0 + absl::Hours(1),
                                      kAdmin),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("node name is empty")));
  EXPECT_THAT(store_->CreateJoinToken("h2", "web-2", kT0, kT0, kAdmin),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not after its creation")));
  EXPECT_THAT(store_->CreateJoinToken("h2", "web-2", kT0,
                                      kT0 + absl::Hours(1), ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("actor is empty")));
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->GetStats());
  EXPECT_EQ(stats.join_tokens, 1);
  EXPECT_EQ(stats.audit_records, 1);
  // The first token is untouched.
  EXPECT_THAT(store_->ConsumeJoinToken("hash", kT0),
              IsOkAndHolds(std::string("web-1")));
}

TEST_P(LmdbStoreTest, PurgeDeletesTokensExpiredBeforeTheCutoffUsedOrNot) {
  const absl::Time cutoff = kT0 + absl::Hours(10);
  const absl::Time purge_time = cutoff + absl::Hours(24);
  // Expired before the cut-off: one used, one not.
  ASSERT_OK(store_->CreateJoinToken("used-old", "web-1", kT0,
                                    cutoff - absl::Hours(1), kAdmin));
  ASSERT_OK(store_->ConsumeJoinToken("used-old", kT0));
  ASSERT_OK(store_->CreateJoinToken("unused-old", "web-2", kT0,
                                    cutoff - absl::Microseconds(1), kAdmin));
  // Expiring exactly at the cut-off, or after it (used or not): kept.
  ASSERT_OK(store_->CreateJoinToken("at-cutoff", "web-3", kT0, cutoff,
                                    kAdmin));
  ASSERT_OK(store_->CreateJoinToken("used-new", "web-4", kT0,
                                    cutoff + absl::Hours(1), kAdmin));
  ASSERT_OK(store_->ConsumeJoinToken("used-new", kT0));
  ASSERT_OK(store_->CreateJoinToken("unused-new", "web-5", kT0,
                                    cutoff + absl::Hours(1), kAdmin));
  const uint64_t audit_before = AuditCount();

  EXPECT_THAT(store_->PurgeExpiredJoinTokens(cutoff, purge_time, "rotor-ca"),
              IsOkAndHolds(uint64_t{2}));

  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->GetStats());
  EXPECT_EQ(stats.join_tokens, 3);
  // The purged tokens are unknown now, the kept ones as they were.
  for (const char* purged : {"used-old", "unused-old"}) {
    EXPECT_THAT(store_->ConsumeJoinToken(purged, kT0),
                StatusIs(absl::StatusCode::kNotFound, "unknown join token"))
        << purged;
  }
  EXPECT_THAT(store_->ConsumeJoinToken("used-new", kT0),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "join token already used"));
  EXPECT_THAT(store_->ConsumeJoinToken("at-cutoff", cutoff),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "join token expired"));
  EXPECT_THAT(store_->ConsumeJoinToken("unused-new", kT0),
              IsOkAndHolds(std::string("web-5")));

  // One audit record, in the same step.
  ASSERT_OK_AND_ASSIGN(AuditPage audit,
                       store_->ListAudit(audit_before, 10));
  ASSERT_EQ(audit.records.size(), 1);
  EXPECT_EQ(audit.records[0].action, kAuditPurgeJoinTokens);
  EXPECT_EQ(audit.records[0].actor, "rotor-ca");
  EXPECT_EQ(audit.records[0].time, purge_time);
  EXPECT_EQ(audit.records[0].target, "join tokens");
  EXPECT_EQ(audit.records[0].outcome, "ok");
  EXPECT_EQ(audit.records[0].detail,
            "removed 2 (1 used, 1 unused) that expired before "
            "2027-01-15T18:00:00+00:00");

  Reopen();  // the deletion is durable
  ASSERT_OK_AND_ASSIGN(stats, store_->GetStats());
  EXPECT_EQ(stats.join_tokens, 3);
}

TEST_P(LmdbStoreTest, PurgeWithNothingExpiredWritesNothing) {
  // An empty store.
  EXPECT_THAT(store_->PurgeExpiredJoinTokens(kT0, kT0, "rotor-ca"),
              IsOkAndHolds(uint64_t{0}));
  EXPECT_EQ(AuditCount(), 0);

  // Tokens that all expire at or after the cut-off.
  ASSERT_OK(store_->CreateJoinToken("a", "web-1", kT0, kT0 + absl::Hours(1),
                                    kAdmin));
  ASSERT_OK(store_->CreateJoinToken("b", "web-2", kT0, kT0 + absl::Hours(2),
                                    kAdmin));
  ASSERT_OK(store_->ConsumeJoinToken("b", kT0));
  ASSERT_OK_AND_ASSIGN(StoreStats before, store_->GetStats());
  EXPECT_THAT(store_->PurgeExpiredJoinTokens(kT0 + absl::Hours(1),
                                             kT0 + absl::Hours(30),
                                             "rotor-ca"),
              IsOkAndHolds(uint64_t{0}));
  ASSERT_OK_AND_ASSIGN(StoreStats after, store_->GetStats());
  EXPECT_EQ(after.join_tokens, before.join_tokens);
  EXPECT_EQ(after.audit_records, before.audit_records);
}

TEST_P(LmdbStoreTest, PurgeRefusesAnEmptyActorAndDeletesNothing) {
  ASSERT_OK(store_->CreateJoinToken("old", "web-1", kT0, kT0 + absl::Hours(1),
                                    kAdmin));
  ASSERT_OK_AND_ASSIGN(StoreStats before, store_->GetStats());
  EXPECT_THAT(store_->PurgeExpiredJoinTokens(kT0 + absl::Hours(48),
                                             kT0 + absl::Hours(48), ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("actor is empty")));
  ASSERT_OK_AND_ASSIGN(StoreStats after, store_->GetStats());
  EXPECT_EQ(after.join_tokens, before.join_tokens);
  EXPECT_EQ(after.audit_records, before.audit_records);
  EXPECT_THAT(store_->ConsumeJoinToken("old", kT0 + absl::Hours(2)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "join token expired"));
}

TEST_P(LmdbStoreTest, PurgeOfManyTokensDeletesEachOnce) {
  // More tokens than fit on one LMDB page, expiring in turn, so the walk
  // crosses pages and deletes from several of them.
  for (int i = 0; i < 300; ++i) {
    ASSERT_OK(store_->CreateJoinToken(absl::StrCat("hash-", i), "web-1", kT0,
                                      kT0 + absl::Minutes(i + 1), kAdmin));
  }
  EXPECT_THAT(store_->PurgeExpiredJoinTokens(kT0 + absl::Minutes(201),
                                             kT0 + absl::Hours(30),
                                             "rotor-ca"),
              IsOkAndHolds(uint64_t{200}));
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->GetStats());
  EXPECT_EQ(stats.join_tokens, 100);
  EXPECT_THAT(store_->ConsumeJoinToken("hash-199", kT0),
              StatusIs(absl::StatusCode::kNotFound, "unknown join token"));
  EXPECT_THAT(store_->ConsumeJoinToken("hash-200", kT0),
              IsOkAndHolds(std::string("web-1")));
}

// --- Registration entries ---

RegistrationEntry MakeEntry(const std::string& id, const std::string& glob,
                            const std::string& spiffe_id) {
  RegistrationEntry entry;
  entry.id = id;
  entry.node_glob = glob;
  entry.spiffe_id = spiffe_id;
  entry.dns_names = {"web.internal"};
  entry.max_ttl = absl::Hours(2);
  entry.created_at = kT0;
  entry.created_by = std::string(kAdmin);
  return entry;
}

TEST_P(LmdbStoreTest, EntriesAreCreatedListedAndDeletedWithAudit) {
  RegistrationEntry web = MakeEntry("e-2", "web-*", "spiffe://td/web");
  RegistrationEntry db = MakeEntry("e-1", "db-?", "spiffe://td/db");
  ASSERT_OK(store_->CreateEntry(web));
  ASSERT_OK(store_->CreateEntry(db));
  EXPECT_THAT(store_->ListEntries(), IsOkAndHolds(ElementsAre(db, web)));

  ASSERT_OK(store_->DeleteEntry("e-1", kT0 + absl::Hours(1), "admin-2"));
  EXPECT_THAT(store_->ListEntries(), IsOkAndHolds(ElementsAre(web)));

  ASSERT_OK_AND_ASSIGN(AuditPage audit, store_->ListAudit(0, 10));
  ASSERT_EQ(audit.records.size(), 3);
  EXPECT_EQ(audit.records[0].action, kAuditCreateEntry);
  EXPECT_EQ(audit.records[0].target, "entry e-2");
  EXPECT_EQ(audit.records[0].actor, kAdmin);
  EXPECT_EQ(audit.records[0].detail, "node web-*; spiffe://td/web");
  EXPECT_EQ(audit.records[2].action, kAuditDeleteEntry);
  EXPECT_EQ(audit.records[2].target, "entry e-1");
  EXPECT_EQ(audit.records[2].actor, "admin-2");
  EXPECT_EQ(audit.records[2].time, kT0 + absl::Hours(1));
}

TEST_P(LmdbStoreTest, MatchEntriesUsesTheNodeGlob) {
  ASSERT_OK(store_->CreateEntry(MakeEntry("a", "web-*", "spiffe://td/web")));
  ASSERT_OK(store_->CreateEntry(MakeEntry("b", "db-?", "spiffe://td/db")));
  ASSERT_OK(store_->CreateEntry(MakeEntry("c", "*", "spiffe://td/all")));
  ASSERT_OK(store_->CreateEntry(MakeEntry("d", "web-1", "spiffe://td/one")));

  auto ids = [&](absl::string_view node) {
    std::vector<std::string> out;
    absl::StatusOr<std::vector<RegistrationEntry>> entries =
        store_->MatchEntries(node);
    EXPECT_THAT(entries, IsOk());
    for (const RegistrationEntry& e : *entries) out.push_back(e.id);
    return out;
  };
  EXPECT_THAT(ids("web-1"), ElementsAre("a", "c", "d"));
  EXPECT_THAT(ids("web-22"), ElementsAre("a", "c"));
  EXPECT_THAT(ids("db-1"), ElementsAre("b", "c"));
  EXPECT_THAT(ids("db-12"), ElementsAre("c"));
  EXPECT_THAT(ids("xweb-1"), ElementsAre("c"));
}

TEST_P(LmdbStoreTest, CreateEntryRefusalsStoreNothing) {
  ASSERT_OK(store_->CreateEntry(MakeEntry("e-1", "web-*", "spiffe://td/w")));
  EXPECT_THAT(store_->CreateEntry(MakeEntry("e-1", "db-*", "spiffe://td/d")),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       "entry e-1 already exists"));
  EXPECT_THAT(store_->CreateEntry(MakeEntry("", "db-*", "spiffe://td/d")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("entry id must be 1 to 256 bytes")));
  EXPECT_THAT(store_->CreateEntry(MakeEntry("e-2", "", "spiffe://td/d")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "entry node glob is empty"));
  EXPECT_THAT(store_->CreateEntry(MakeEntry("e-2", "db-*", "")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "entry SPIFFE ID is empty"));
  RegistrationEntry negative = MakeEntry("e-2", "db-*", "spiffe://td/d");
  negative.max_ttl = absl::Seconds(-1);
  EXPECT_THAT(store_->CreateEntry(negative),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("max_ttl must be zero or a positive")));
  RegistrationEntry anonymous = MakeEntry("e-2", "db-*", "spiffe://td/d");
  anonymous.created_by = "";
  EXPECT_THAT(store_->CreateEntry(anonymous),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("actor is empty")));
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->GetStats());
  EXPECT_EQ(stats.entries, 1);
  EXPECT_EQ(stats.audit_records, 1);
}

TEST_P(LmdbStoreTest, DeleteOfUnknownEntryIsNotFoundAndWritesNothing) {
  EXPECT_THAT(store_->DeleteEntry("e-9", kT0, kAdmin),
              StatusIs(absl::StatusCode::kNotFound, "entry e-9 not found"));
  EXPECT_THAT(store_->DeleteEntry("", kT0, kAdmin),
              StatusIs(absl::StatusCode::kNotFound, "entry  not found"));
  EXPECT_EQ(AuditCount(), 0);
}

// --- Audit log ---

TEST_P(LmdbStoreTest, AuditRecordsGetIncreasingSequencesAndPage) {
  for (int i = 0; i < 5; ++i) {
    AuditRecord record;
    record.time = kT0 + absl::Seconds(i);
    record.actor = "rotor-ca";
    record.action = "refused_sign";
    record.target = absl::StrCat("node n-", i);
    record.outcome = "PERMISSION_DENIED";
    EXPECT_THAT(store_->AppendAudit(record), IsOkAndHolds(i + 1));
  }
  ASSERT_OK_AND_ASSIGN(AuditPage page, store_->ListAudit(0, 2));
  ASSERT_EQ(page.records.size(), 2);
  EXPECT_EQ(page.records[0].sequence, 1);
  EXPECT_EQ(page.records[0].target, "node n-0");
  EXPECT_EQ(page.records[0].outcome, "PERMISSION_DENIED");
  EXPECT_EQ(page.next_after_sequence, 2);
  ASSERT_OK_AND_ASSIGN(page, store_->ListAudit(page.next_after_sequence, 3));
  ASSERT_EQ(page.records.size(), 3);
  EXPECT_EQ(page.records[2].sequence, 5);
  EXPECT_EQ(page.next_after_sequence, 0);
  ASSERT_OK_AND_ASSIGN(page, store_->ListAudit(5, 3));
  EXPECT_THAT(page.records, IsEmpty());
  EXPECT_THAT(store_->ListAudit(0, -1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("limit must not be negative")));
}

TEST_P(LmdbStoreTest, AppendAuditRefusesMissingActorOrAction) {
  AuditRecord record;
  record.action = "x";
  EXPECT_THAT(store_->AppendAudit(record),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("actor is empty")));
  record.actor = "rotor-ca";
  record.action = "";
  EXPECT_THAT(store_->AppendAudit(record),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "audit action is empty"));
  EXPECT_EQ(AuditCount(), 0);
}

// --- Stats ---

TEST_P(LmdbStoreTest, StatsCountEveryTable) {
  ASSERT_OK(store_->PutCertificate(MakeRecord("1")));
  ASSERT_OK(store_->PutCertificate(MakeRecord("2")));
  ASSERT_OK(store_->RevokeCertificate("2", pki::RevocationReason::kUnspecified,
                                      kT0, kAdmin)
                .status());
  ASSERT_OK(store_->CreateJoinToken("h", "n", kT0, kT0 + absl::Hours(1),
                                    kAdmin));
  ASSERT_OK(store_->CreateEntry(MakeEntry("e", "*", "spiffe://td/x")));
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->GetStats());
  EXPECT_EQ(stats.certificates, 2);
  EXPECT_EQ(stats.revoked_certificates, 1);
  EXPECT_EQ(stats.join_tokens, 1);
  EXPECT_EQ(stats.entries, 1);
  EXPECT_EQ(stats.audit_records, 3);
}

// --- Group commit ---

TEST(LmdbStoreGroupCommitTest, ConcurrentWritersShareCommits) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store")));
  constexpr int kThreads = 32;
  constexpr int kPerThread = 20;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        EXPECT_OK(store->PutCertificate(
            MakeRecord(SerialFor(t * kPerThread + i))));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  GroupCommitter::Stats stats = store->commit_stats();
  EXPECT_EQ(stats.writes, kThreads * kPerThread);
  EXPECT_LT(stats.batches, stats.writes);
  EXPECT_GT(stats.largest_batch, 1);
  ASSERT_OK_AND_ASSIGN(StoreStats counts, store->GetStats());
  EXPECT_EQ(counts.certificates, kThreads * kPerThread);
}

TEST(LmdbStoreGroupCommitTest, AFailingWriteFailsAloneInItsBatch) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store")));
  // Every round, 16 threads race: 8 put the same serial (one wins), 8 put
  // their own. Unique puts must never fail because a duplicate shared their
  // transaction.
  constexpr int kRounds = 20;
  std::atomic<int> duplicate_wins{0};
  std::atomic<int> duplicate_refusals{0};
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t) {
      threads.emplace_back([&, t] {
        if (t % 2 == 0) {
          absl::Status status = store->PutCertificate(
              MakeRecord(SerialFor(1000000 + round), absl::StrCat("n", t)));
          if (status.ok()) {
            ++duplicate_wins;
          } else if (absl::IsAlreadyExists(status)) {
            ++duplicate_refusals;
          }
        } else {
          EXPECT_OK(store->PutCertificate(MakeRecord(SerialFor(round * 16 + t))));
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }
  EXPECT_EQ(duplicate_wins, kRounds);
  EXPECT_EQ(duplicate_refusals, kRounds * 7);
  ASSERT_OK_AND_ASSIGN(StoreStats counts, store->GetStats());
  EXPECT_EQ(counts.certificates, kRounds * 9);
  ASSERT_OK_AND_ASSIGN(LmdbStore::IndexCounts index, store->GetIndexCounts());
  EXPECT_EQ(index.by_node, counts.certificates);
  EXPECT_EQ(index.by_spiffe_id, counts.certificates);
  EXPECT_EQ(index.by_not_after, counts.certificates);
  EXPECT_GT(store->commit_stats().largest_batch, 1);
}

}  // namespace

// Reaches the store's write path with writes no public method makes: ones
// that fail after they have written.
class LmdbStorePeer {
 public:
  static absl::Status Write(LmdbStore& store,
                            absl::FunctionRef<absl::Status(LmdbTxn&)> apply) {
    return store.Write(apply);
  }
  static MDB_dbi Meta(const LmdbStore& store) { return store.tables_.meta; }
};

namespace {

TEST(LmdbStoreGroupCommitTest, AWriteThatFailsAfterWritingLeavesNothing) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store")));
  const MDB_dbi meta = LmdbStorePeer::Meta(*store);
  constexpr int kThreads = 24;
  constexpr int kRounds = 10;
  std::atomic<int> failed{0};
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const std::string serial = SerialFor(round * kThreads + t);
        if (t % 3 != 0) {
          EXPECT_OK(store->PutCertificate(MakeRecord(serial)));
          return;
        }
        // Writes a marker, then fails: the marker must not survive.
        absl::Status status = LmdbStorePeer::Write(
            *store, [&](LmdbTxn& txn) -> absl::Status {
              absl::Status put = txn.Put(meta, absl::StrCat("marker-", serial),
                                         "x");
              if (!put.ok()) return put;
              return absl::InternalError("failed after writing");
            });
        EXPECT_THAT(status, StatusIs(absl::StatusCode::kInternal,
                                     "failed after writing"));
        ++failed;
      });
    }
    for (std::thread& t : threads) t.join();
  }
  EXPECT_EQ(failed, kRounds * kThreads / 3);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->GetStats());
  EXPECT_EQ(stats.certificates, kRounds * kThreads * 2 / 3);
  EXPECT_GT(store->commit_stats().largest_batch, 1);
  // No marker was committed: the meta table holds only its own keys.
  store.reset();
  RawStore raw(dir.Path("store"));
  for (int i = 0; i < kRounds * kThreads; ++i) {
    EXPECT_EQ(raw.Get("meta", absl::StrCat("marker-", SerialFor(i))),
              std::nullopt);
  }
  EXPECT_TRUE(raw.SchemaVersion().has_value());
}

// --- Map growth ---

TEST(LmdbStoreMapTest, GrowsATinyMapAsNeeded) {
  TempDir dir;
  LmdbStoreOptions options;
  options.initial_map_size = 64 << 10;
  options.max_map_size = 256 << 20;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store"), options));
  const size_t initial = store->map_size();
  // Readers run all along: the map must not move under them.
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done) {
      EXPECT_OK(store->ListCertificates({}, "", 50).status());
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        CertificateRecord record = MakeRecord(SerialFor(t * 1000 + i));
        record.der = std::string(1500, static_cast<char>('a' + t));
        EXPECT_OK(store->PutCertificate(record));
      }
    });
  }
  for (std::thread& t : writers) t.join();
  done = true;
  reader.join();
  EXPECT_GT(store->map_size(), initial);
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store->GetStats());
  EXPECT_EQ(stats.certificates, 2000);
  ASSERT_OK_AND_ASSIGN(std::optional<CertificateRecord> record,
                       store->GetCertificate(SerialFor(7 * 1000 + 249)));
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->der, std::string(1500, 'h'));
}

// With one durable commit per write, and with the redo log (whose
// acknowledged writes must reach LMDB even at the limit).
TEST(LmdbStoreMapTest, FullStoreIsResourceExhaustedNamingTheLimit) {
  LmdbStoreOptions direct;
  direct.group_commit = false;
  LmdbStoreOptions logged;
  logged.checkpoint_writes = size_t{1} << 40;  // checkpoints only when full
  logged.checkpoint_idle = absl::Hours(24);
  for (LmdbStoreOptions options : {direct, logged}) {
    SCOPED_TRACE(options.group_commit ? "redo log" : "no group commit");
    TempDir dir;
    options.initial_map_size = 256 << 10;
    options.max_map_size = 1 << 20;
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                         LmdbStore::Open(dir.Path("store"), options));
    absl::Status status;
    int stored = 0;
    for (; stored < 10000; ++stored) {
      CertificateRecord record = MakeRecord(SerialFor(stored));
      record.der = std::string(8000, 'x');
      status = store->PutCertificate(record);
      if (!status.ok()) break;
    }
    EXPECT_THAT(status,
                StatusIs(absl::StatusCode::kResourceExhausted,
                         HasSubstr("is full: it reached its size limit of 1 "
                                   "MiB (1048576 bytes; store.max_size_mb in "
                                   "ca.yaml)")));
    EXPECT_GT(stored, 0);
    // The refused write left nothing behind; everything before it is there.
    ASSERT_OK_AND_ASSIGN(StoreStats stats, store->GetStats());
    EXPECT_EQ(stats.certificates, stored);
    ASSERT_OK_AND_ASSIGN(std::optional<CertificateRecord> last,
                         store->GetCertificate(SerialFor(stored)));
    EXPECT_EQ(last, std::nullopt);
    EXPECT_GE(store->map_size(), options.max_map_size);
    // Reads still work, and so does a reopen.
    EXPECT_OK(store->ListCertificates({}, "", 10).status());
    store.reset();
    ASSERT_OK_AND_ASSIGN(store, LmdbStore::Open(dir.Path("store"), options));
    ASSERT_OK_AND_ASSIGN(stats, store->GetStats());
    EXPECT_EQ(stats.certificates, stored);
  }
}

TEST(LmdbStoreDiskTest, AWriteTheDiskRefusesIsUnavailableAndStoresNothing) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                         LmdbStore::Open(dir.Path("store")));
    ASSERT_OK(store->PutCertificate(MakeRecord("1")));
  }
  // A child whose files may not grow (RLIMIT_FSIZE): the disk "refuses" the
  // first write that needs more space.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct stat st;
    if (stat(dir.Path("store/data.mdb").c_str(), &st) != 0) _exit(10);
    struct rlimit limit = {static_cast<rlim_t>(st.st_size),
                           static_cast<rlim_t>(st.st_size)};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(11);
    absl::StatusOr<std::unique_ptr<LmdbStore>> store =
        LmdbStore::Open(dir.Path("store"));
    if (!store.ok()) _exit(12);
    absl::Status status;
    for (int i = 2; i < 10000 && status.ok(); ++i) {
      CertificateRecord record = MakeRecord(SerialFor(i));
      record.der = std::string(8000, 'x');
      status = (*store)->PutCertificate(record);
    }
    std::fprintf(stderr, "child: %s\n", status.ToString().c_str());
    if (!absl::IsUnavailable(status)) _exit(13);
    if (!absl::StrContains(status.message(),
                           "the store cannot be written: ")) {
      _exit(14);
    }
    // Reads still work.
    if (!(*store)->GetCertificate("1").ok()) _exit(15);
    _exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus)) << wstatus;
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  // What was committed before the refusal is intact.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store")));
  EXPECT_THAT(store->GetCertificate("1"),
              IsOkAndHolds(Optional(MakeRecord("1"))));
  ASSERT_OK_AND_ASSIGN(LmdbStore::IndexCounts counts, store->GetIndexCounts());
  EXPECT_EQ(counts.by_node, counts.certificates);
}

TEST(LmdbStoreOptionsTest, RefusesInconsistentOptions) {
  TempDir dir;
  LmdbStoreOptions options;
  options.initial_map_size = 2 << 20;
  options.max_map_size = 1 << 20;
  EXPECT_THAT(LmdbStore::Open(dir.Path("store"), options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("max_map_size (1048576 bytes) is smaller "
                                 "than initial_map_size")));
  options = {};
  options.max_batch_size = 0;
  EXPECT_THAT(LmdbStore::Open(dir.Path("store"), options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("max_batch_size must be >= 1")));
}

TEST(LmdbStoreOpenTest, CreatesTheFolderPrivate) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("a/store")));
  EXPECT_EQ(::rotor::testing::FileMode(dir.Path("a/store")), 0700);
  EXPECT_EQ(::rotor::testing::FileMode(dir.Path("a/store/data.mdb")), 0600);
}

}  // namespace
}  // namespace rotor::store
