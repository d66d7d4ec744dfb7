// Direct access to a store's LMDB environment, as an older or newer
// rotor-ca would see it: for tests of schema versions and corrupt records.
#ifndef ROTOR_TESTS_STORE_RAW_STORE_H_
#define ROTOR_TESTS_STORE_RAW_STORE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "store/lmdb_store.h"
#include "store/lmdb_txn.h"
#include "store/record_codec.h"
#include "tests/testing/status_matchers.h"

namespace rotor::store::testing {

// REQUIRES: no LmdbStore in this process has the environment open.
class RawStore {
 public:
  explicit RawStore(const std::string& dir) {
    absl::StatusOr<LmdbEnvPtr> env =
        OpenLmdbEnv(dir, 0, size_t{64} << 20, 16, 8);
    EXPECT_OK(env.status());
    if (env.ok()) env_ = *std::move(env);
  }

  void Put(const char* table, absl::string_view key, absl::string_view value) {
    absl::StatusOr<LmdbTxn> txn = LmdbTxn::BeginWrite(env_.get());
    ASSERT_OK(txn.status());
    absl::StatusOr<MDB_dbi> dbi = txn->OpenDb(table, MDB_CREATE);
    ASSERT_OK(dbi.status());
    ASSERT_OK(txn->Put(*dbi, key, value));
    ASSERT_OK(txn->Commit());
  }

  std::optional<std::string> Get(const char* table, absl::string_view key) {
    absl::StatusOr<LmdbTxn> txn = LmdbTxn::BeginRead(env_.get());
    EXPECT_OK(txn.status());
    absl::StatusOr<MDB_dbi> dbi = txn->OpenDb(table, 0);
    if (!dbi.ok()) return std::nullopt;
    absl::StatusOr<std::optional<absl::string_view>> value =
        txn->Get(*dbi, key);
    EXPECT_OK(value.status());
    if (!value.ok() || !value->has_value()) return std::nullopt;
    return std::string(**value);
  }

  bool HasTable(const char* table) {
    absl::StatusOr<LmdbTxn> txn = LmdbTxn::BeginRead(env_.get());
    EXPECT_OK(txn.status());
    return txn.ok() && txn->OpenDb(table, 0).ok();
  }

  std::optional<uint64_t> SchemaVersion() {
    std::optional<std::string> value =
        Get(LmdbStore::kMetaTable, LmdbStore::kSchemaVersionKey);
    if (!value.has_value()) return std::nullopt;
    absl::StatusOr<uint64_t> version = DecodeCounter(*value, "schema version");
    EXPECT_OK(version.status());
    return version.ok() ? std::optional<uint64_t>(*version) : std::nullopt;
  }

  void SetSchemaVersion(uint64_t version) {
    Put(LmdbStore::kMetaTable, LmdbStore::kSchemaVersionKey,
        EncodeCounter(version));
  }

 private:
  LmdbEnvPtr env_;
};

}  // namespace rotor::store::testing

#endif  // ROTOR_TESTS_STORE_RAW_STORE_H_
