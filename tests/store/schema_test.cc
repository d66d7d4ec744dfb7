// Schema versions: a newer store is refused untouched, an older one is
// migrated; corrupt and future-version records are DataLoss.
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/lmdb_store.h"
#include "store/lmdb_txn.h"
#include "store/record_codec.h"
#include "tests/store/raw_store.h"
#include "tests/store/test_records.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace rotor::store {
namespace {

using ::rotor::store::testing::IsOkAndHolds;
using ::rotor::store::testing::MakeRecord;
using ::rotor::store::testing::RawStore;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Optional;

TEST(SchemaTest, NewStoreRecordsTheCurrentVersion) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                         LmdbStore::Open(dir.Path("store")));
    EXPECT_EQ(store->opened_schema_version(), kSchemaVersion);
  }
  EXPECT_EQ(RawStore(dir.Path("store")).SchemaVersion(), kSchemaVersion);
}

TEST(SchemaTest, RefusesANewerStoreAndLeavesItUntouched) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                         LmdbStore::Open(dir.Path("store")));
    ASSERT_OK(store->PutCertificate(MakeRecord("ab")));
  }
  RawStore(dir.Path("store")).SetSchemaVersion(kSchemaVersion + 1);
  EXPECT_THAT(
      LmdbStore::Open(dir.Path("store")),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr(absl::StrCat("store schema version ",
                                      kSchemaVersion + 1,
                                      " is newer than this rotor-ca supports (",
                                      kSchemaVersion, "); upgrade rotor-ca"))));
  EXPECT_THAT(LmdbStore::Open(dir.Path("store")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(dir.Path("store"))));
  EXPECT_EQ(RawStore(dir.Path("store")).SchemaVersion(), kSchemaVersion + 1);
}

TEST(SchemaTest, RefusesANewerStoreWithoutCreatingTables) {
  TempDir dir;
  // A store from a future release that has only its meta table.
  RawStore(dir.Path("")).SetSchemaVersion(kSchemaVersion + 1);
  EXPECT_THAT(LmdbStore::Open(dir.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat("store schema version ",
                                              kSchemaVersion + 1,
                                              " is newer"))));
  RawStore raw(dir.path());
  EXPECT_FALSE(raw.HasTable("certificates"));
  EXPECT_EQ(raw.SchemaVersion(), kSchemaVersion + 1);
}

TEST(SchemaTest, MigratesAnOlderStoreAndKeepsItsRecords) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                         LmdbStore::Open(dir.Path("store")));
    ASSERT_OK(store->PutCertificate(MakeRecord("ab")));
  }
  RawStore(dir.Path("store")).SetSchemaVersion(0);
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                         LmdbStore::Open(dir.Path("store")));
    EXPECT_EQ(store->opened_schema_version(), 0);
    EXPECT_THAT(store->GetCertificate("ab"),
                IsOkAndHolds(Optional(MakeRecord("ab"))));
  }
  EXPECT_EQ(RawStore(dir.Path("store")).SchemaVersion(), kSchemaVersion);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store")));
  EXPECT_EQ(store->opened_schema_version(), kSchemaVersion);
}

TEST(SchemaTest, CorruptRecordIsDataLoss) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                         LmdbStore::Open(dir.Path("store")));
  }
  RawStore(dir.Path("store")).Put("certificates", "ab", "\xff\xff\xff");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store")));
  EXPECT_THAT(store->GetCertificate("ab"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("stored certificate record does not parse")));
}

TEST(SchemaTest, RecordFromANewerReleaseIsDataLoss) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                         LmdbStore::Open(dir.Path("store")));
  }
  v1::CertificateRecord future;
  future.set_version(kRecordVersion + 1);
  future.set_serial("ab");
  RawStore(dir.Path("store"))
      .Put("certificates", "ab", future.SerializeAsString());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LmdbStore> store,
                       LmdbStore::Open(dir.Path("store")));
  EXPECT_THAT(store->GetCertificate("ab"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("stored certificate record has version 2; "
                                 "this rotor-ca reads versions 1 to 1")));
}

}  // namespace
}  // namespace rotor::store
