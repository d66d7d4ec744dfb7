#include "ca/ca_keys.h"

#include <unistd.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "ca/init.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "store/lmdb_store.h"
#include "tests/testing/fakes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"
#include "util/file.h"

namespace rotor::ca {
namespace {

using ::rotor::testing::FakeClock;
using ::rotor::testing::FakeRandom;
using ::rotor::testing::IsOk;
using ::rotor::testing::MakeTestCa;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::rotor::testing::TestCa;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

class CaKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(ca_, MakeTestCa(pki::KeyType::kEcP256, kNow));
    dir_.root = tmp_.path();
    ASSERT_OK(MakeDirectories(dir_.CaDir(), 0700));
    ASSERT_OK(Write(dir_.RootCert(), ca_->root.ToPem()));
    ASSERT_OK(ca_->root_key.Save(dir_.RootKey()));
    ASSERT_OK(Write(dir_.IntermediateCert(), ca_->intermediate.ToPem()));
    ASSERT_OK(ca_->intermediate_key.Save(dir_.IntermediateKey()));
  }

  static absl::Status Write(const std::string& path, const std::string& text) {
    return WriteFileAtomically(path, text, 0644);
  }

  TempDir tmp_;
  DataDir dir_;
  std::optional<TestCa> ca_;
};

TEST_F(CaKeysTest, LoadsASelfSignedCa) {
  ASSERT_OK_AND_ASSIGN(CaKeys keys, LoadCaKeys(dir_));
  ASSERT_THAT(keys.roots, SizeIs(1));
  EXPECT_EQ(keys.roots[0].der(), ca_->root.der());
  ASSERT_TRUE(keys.root_key.has_value());
  EXPECT_TRUE(keys.root_key->Matches(ca_->root.PublicKey()));
  EXPECT_EQ(keys.intermediate.der(), ca_->intermediate.der());
  EXPECT_TRUE(keys.intermediate_key.Matches(ca_->intermediate.PublicKey()));
  EXPECT_THAT(CheckCaKeys(keys, kNow), IsOk());
}

TEST_F(CaKeysTest, RootKeyIsOptional) {
  ASSERT_EQ(unlink(dir_.RootKey().c_str()), 0);
  ASSERT_OK_AND_ASSIGN(CaKeys keys, LoadCaKeys(dir_));
  EXPECT_FALSE(keys.root_key.has_value());
  EXPECT_THAT(CheckCaKeys(keys, kNow), IsOk());
}

TEST_F(CaKeysTest, MissingFileIsNamed) {
  for (const std::string& path :
       {dir_.RootCert(), dir_.IntermediateCert(), dir_.IntermediateKey()}) {
    SCOPED_TRACE(path);
    ASSERT_OK_AND_ASSIGN(std::string saved, ReadFile(path));
    ASSERT_EQ(unlink(path.c_str()), 0);
    EXPECT_THAT(LoadCaKeys(dir_),
                StatusIs(absl::StatusCode::kNotFound,
                         AllOf(HasSubstr(absl::StrCat("CA file ", path,
                                                      " is missing")),
                               HasSubstr("run rotor-ca init"))));
    ASSERT_OK(WriteFileAtomically(path, saved, 0600));
  }
}

TEST_F(CaKeysTest, UnparsableCertificateIsNamed) {
  ASSERT_OK(Write(dir_.IntermediateCert(), "not a certificate\n"));
  EXPECT_THAT(LoadCaKeys(dir_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(dir_.IntermediateCert())));
}

TEST_F(CaKeysTest, UnparsableKeyIsNamed) {
  ASSERT_OK(WriteFileAtomically(dir_.IntermediateKey(), "garbage", 0600));
  EXPECT_THAT(LoadCaKeys(dir_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(dir_.IntermediateKey())));
}

TEST_F(CaKeysTest, RefusesIntermediateKeyOfAnotherCertificate) {
  ASSERT_OK(ca_->root_key.Save(dir_.IntermediateKey()));
  EXPECT_THAT(LoadCaKeys(dir_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       absl::StrCat("CA key ", dir_.IntermediateKey(),
                                    " does not match the certificate in ",
                                    dir_.IntermediateCert())));
}

TEST_F(CaKeysTest, RefusesRootKeyMatchingNoRoot) {
  ASSERT_OK(ca_->intermediate_key.Save(dir_.RootKey()));
  EXPECT_THAT(LoadCaKeys(dir_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       absl::StrCat("CA key ", dir_.RootKey(),
                                    " matches no certificate in ",
                                    dir_.RootCert())));
}

TEST_F(CaKeysTest, RefusesSeveralCertificatesInIntermediateFile) {
  ASSERT_OK(Write(dir_.IntermediateCert(),
                  ca_->intermediate.ToPem() + ca_->root.ToPem()));
  EXPECT_THAT(LoadCaKeys(dir_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("holds 2 certificates; it must hold exactly "
                                 "one, the intermediate")));
}

TEST_F(CaKeysTest, RootWithTheKeyGoesFirst) {
  ASSERT_OK_AND_ASSIGN(TestCa other, MakeTestCa(pki::KeyType::kEcP256, kNow));
  ASSERT_OK(Write(dir_.RootCert(), other.root.ToPem() + ca_->root.ToPem()));
  ASSERT_OK_AND_ASSIGN(CaKeys keys, LoadCaKeys(dir_));
  ASSERT_THAT(keys.roots, SizeIs(2));
  EXPECT_EQ(keys.roots[0].der(), ca_->root.der());
  EXPECT_THAT(CheckCaKeys(keys, kNow), IsOk());
}

TEST_F(CaKeysTest, CheckRefusesIntermediateOutsideItsValidity) {
  ASSERT_OK_AND_ASSIGN(CaKeys keys, LoadCaKeys(dir_));
  EXPECT_THAT(CheckCaKeys(keys, kNow - absl::Hours(1)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is not valid before")));
  EXPECT_THAT(CheckCaKeys(keys, ca_->intermediate.NotAfter()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("expired at")));
}

TEST_F(CaKeysTest, CheckRefusesRootWithoutTheIntermediatesSignature) {
  ASSERT_OK_AND_ASSIGN(TestCa other, MakeTestCa(pki::KeyType::kEcP256, kNow));
  ASSERT_OK(Write(dir_.RootCert(), other.root.ToPem()));
  ASSERT_OK(other.root_key.Save(dir_.RootKey()));
  ASSERT_OK_AND_ASSIGN(CaKeys keys, LoadCaKeys(dir_));
  EXPECT_THAT(CheckCaKeys(keys, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not signed by any root in the bundle")));
}

// What `rotor-ca init` writes is what the Authority loads, and the admin
// credentials it writes are accepted as an admin.
TEST(CaKeysInitTest, LoadsWhatInitWrites) {
  TempDir tmp;
  FakeRandom random;
  InitOptions options;
  options.data_dir = tmp.Path("ca");
  options.trust_domain = "example.org";
  ASSERT_OK_AND_ASSIGN(InitResult result, InitCa(options, kNow, random));
  DataDir dir{options.data_dir};
  ASSERT_OK_AND_ASSIGN(CaKeys keys, LoadCaKeys(dir));
  EXPECT_TRUE(keys.root_key.has_value());
  EXPECT_EQ(keys.roots[0].Fingerprint(), result.root_fingerprint);

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<store::LmdbStore> store,
                       store::LmdbStore::Open(dir.StoreDir()));
  FakeClock clock(kNow);
  CaConfig config;
  config.trust_domain = "example.org";
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Authority> authority,
      Authority::Create(std::move(keys), config, store.get(), &clock, &random));
  ASSERT_OK_AND_ASSIGN(std::vector<pki::Certificate> admin,
                       pki::Certificate::LoadChain(dir.AdminCert()));
  Caller caller{admin[0].UriSans().front(), admin[0].SerialHex(), "local"};
  EXPECT_EQ(caller.spiffe_id, result.admin_spiffe_id);
  EXPECT_THAT(authority->AuthorizeAdmin(caller), IsOk());
}

}  // namespace
}  // namespace rotor::ca
