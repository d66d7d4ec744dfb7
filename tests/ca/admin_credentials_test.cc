#include "ca/admin_credentials.h"

#include <filesystem>

#include "ca/data_dir.h"
#include "ca/init.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/verify.h"
#include "store/lmdb_store.h"
#include "tests/testing/fakes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

namespace rotor::ca {
namespace {

using ::rotor::testing::FakeRandom;
using ::rotor::testing::FileMode;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

class AdminCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitOptions init;
    init.data_dir = tmp_.Path("data");
    init.trust_domain = "example.org";
    ASSERT_OK(InitCa(init, kNow, random_).status());
    dir_ = DataDir{init.data_dir};
    options_.data_dir = dir_.root;
    options_.name = "alice";
    options_.out_dir = tmp_.Path("alice");
  }

  // How many certificates the store holds.
  size_t StoredCertificates() {
    absl::StatusOr<std::unique_ptr<store::LmdbStore>> store =
        store::LmdbStore::Open(dir_.StoreDir());
    EXPECT_OK(store.status());
    if (!store.ok()) return 0;
    absl::StatusOr<store::StoreStats> stats = (*store)->GetStats();
    return stats.ok() ? stats->certificates : 0;
  }

  TempDir tmp_;
  FakeRandom random_;
  DataDir dir_;
  AdminCredentialsOptions options_;
};

TEST_F(AdminCredentialsTest, IssuesRecordsAndWritesTheThreeFiles) {
  ASSERT_OK_AND_ASSIGN(AdminCredential credential,
                       IssueAdminCredentials(options_, kNow, random_));
  EXPECT_EQ(credential.spiffe_id, "spiffe://example.org/rotor/admin/alice");
  EXPECT_EQ(FileMode(options_.out_dir), 0700);
  EXPECT_EQ(FileMode(tmp_.Path("alice/admin.key")), 0600);
  EXPECT_EQ(FileMode(tmp_.Path("alice/admin.crt")), 0644);
  EXPECT_EQ(FileMode(tmp_.Path("alice/bundle.crt")), 0644);

  ASSERT_OK_AND_ASSIGN(auto chain,
                       pki::Certificate::LoadChain(tmp_.Path("alice/admin.crt")));
  ASSERT_OK_AND_ASSIGN(auto roots,
                       pki::Certificate::LoadChain(tmp_.Path("alice/bundle.crt")));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_THAT(chain[0].UriSans(),
              ElementsAre("spiffe://example.org/rotor/admin/alice"));
  EXPECT_OK(pki::VerifyCertificate(chain[0], {chain[1]}, roots, kNow,
                                   pki::VerifyPurpose::kTlsClient));
  ASSERT_OK_AND_ASSIGN(pki::PrivateKey key,
                       pki::PrivateKey::Load(tmp_.Path("alice/admin.key")));
  EXPECT_TRUE(key.Matches(chain[0].PublicKey()));

  ASSERT_OK_AND_ASSIGN(auto store, store::LmdbStore::Open(dir_.StoreDir()));
  ASSERT_OK_AND_ASSIGN(auto record, store->GetCertificate(chain[0].SerialHex()));
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->kind, store::CertificateKind::kAdmin);
  EXPECT_EQ(record->spiffe_id, credential.spiffe_id);
}

TEST_F(AdminCredentialsTest, RefusesExistingFilesAndChangesNothing) {
  ASSERT_OK(MakeDirectories(options_.out_dir, 0700));
  ASSERT_OK(WriteFileAtomically(tmp_.Path("alice/admin.crt"), "mine", 0644));
  EXPECT_THAT(IssueAdminCredentials(options_, kNow, random_),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("alice/admin.crt already exists; choose "
                                 "another --out folder")));
  EXPECT_EQ(*ReadFile(tmp_.Path("alice/admin.crt")), "mine");
  EXPECT_FALSE(PathExists(tmp_.Path("alice/admin.key")));
  EXPECT_EQ(StoredCertificates(), 1u);  // init's admin certificate only
}

TEST_F(AdminCredentialsTest, RefusesBadNamesAndChangesNothing) {
  for (const char* name : {"", "Alice", "../x", "-x", "a b",
                           "01234567890123456789012345678901234567890123456789"
                           "0123456789abcde"}) {
    options_.name = name;
    EXPECT_THAT(IssueAdminCredentials(options_, kNow, random_),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("must be 1-64 of a-z, 0-9")))
        << name;
  }
  options_.name = std::string("a\0b", 3);
  EXPECT_THAT(IssueAdminCredentials(options_, kNow, random_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("admin name \"a\\000b\"")));
  EXPECT_FALSE(PathExists(options_.out_dir));
  EXPECT_EQ(StoredCertificates(), 1u);
}

TEST_F(AdminCredentialsTest, RefusesWhileTheFolderIsServed) {
  ASSERT_OK_AND_ASSIGN(DataDirLock served, DataDirLock::Acquire(dir_, "serving it"));
  EXPECT_THAT(IssueAdminCredentials(options_, kNow, random_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("stop it before issuing admin credentials")));
  EXPECT_FALSE(PathExists(options_.out_dir));
}

TEST_F(AdminCredentialsTest, RefusesAFolderWithoutACa) {
  options_.data_dir = tmp_.Path("nothing-here");
  EXPECT_THAT(IssueAdminCredentials(options_, kNow, random_),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("is missing); run rotor-ca init first")));
  EXPECT_FALSE(PathExists(options_.out_dir));
  EXPECT_FALSE(PathExists(options_.data_dir));
}

}  // namespace
}  // namespace rotor::ca
