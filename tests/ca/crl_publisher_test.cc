#include "ca/crl_publisher.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ca/update_hub.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/serial.h"
#include "pki/ssl_ptr.h"
#include "store/lmdb_store.h"
#include "tests/ca/fault_store.h"
#include "tests/testing/fakes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"

namespace rotor::ca {
namespace {

using ::rotor::ca::testing::FaultStore;
using ::rotor::testing::FakeClock;
using ::rotor::testing::FakeRandom;
using ::rotor::testing::IsOk;
using ::rotor::testing::MakeTestCa;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::rotor::testing::TestCa;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const absl::Time kStart = absl::FromUnixSeconds(1800000000);
// Generous: only a broken publisher takes this long.
constexpr absl::Duration kDeadline = absl::Seconds(10);

pki::SslPtr<X509_CRL> ParseCrl(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return pki::SslPtr<X509_CRL>(
      d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
}

uint64_t CrlNumber(X509_CRL* crl) {
  pki::SslPtr<ASN1_INTEGER> number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl, NID_crl_number, nullptr, nullptr)));
  uint64_t value = 0;
  if (number == nullptr || ASN1_INTEGER_get_uint64(&value, number.get()) != 1) {
    ADD_FAILURE() << "CRL has no readable cRLNumber";
  }
  return value;
}

std::vector<std::string> Serials(X509_CRL* crl) {
  std::vector<std::string> out;
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    out.push_back(pki::Asn1ToSerial(
        X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i))));
  }
  return out;
}

class CrlPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(ca_, MakeTestCa(pki::KeyType::kEcP256, kStart));
    ASSERT_OK_AND_ASSIGN(lmdb_, store::LmdbStore::Open(dir_.Path("store")));
    store_ = std::make_unique<FaultStore>(lmdb_.get());
  }

  std::unique_ptr<CrlPublisher> Make(bool with_root = true,
                                     bool worker = false) {
    CrlPublisher::Options options;
    options.validity = absl::Hours(1);
    options.start_worker = worker;
    signer_.emplace(ca_->signer());
    root_signer_.emplace(ca_->root_signer());
    absl::StatusOr<std::unique_ptr<CrlPublisher>> publisher =
        CrlPublisher::Create(*signer_, with_root ? &*root_signer_ : nullptr,
                             store_.get(), &clock_, &hub_, options);
    EXPECT_THAT(publisher, IsOk());
    return publisher.ok() ? *std::move(publisher) : nullptr;
  }

  // Stores a certificate record and revokes it.
  void StoreRevoked(const std::string& serial, absl::Time not_after) {
    store::CertificateRecord record;
    record.serial = serial;
    record.der = "der";
    record.spiffe_id = "spiffe://example.org/web";
    record.node_name = "web-1";
    record.not_before = kStart - absl::Hours(48);
    record.not_after = not_after;
    record.issued_at = record.not_before;
    ASSERT_OK(store_->PutCertificate(record));
    ASSERT_OK(store_
                  ->RevokeCertificate(serial,
                                      pki::RevocationReason::kKeyCompromise,
                                      clock_.Now(), "test")
                  .status());
  }

  TempDir dir_;
  FakeClock clock_{kStart};
  std::optional<TestCa> ca_;
  std::optional<pki::Signer> signer_;
  std::optional<pki::Signer> root_signer_;
  std::unique_ptr<store::LmdbStore> lmdb_;
  std::unique_ptr<FaultStore> store_;
  UpdateHub hub_;
};

TEST_F(CrlPublisherTest, CreateBuildsTheChainsCrls) {
  std::unique_ptr<CrlPublisher> publisher = Make();
  ASSERT_NE(publisher, nullptr);
  CrlSet set = publisher->Current();
  EXPECT_EQ(set.number, 1u);
  EXPECT_EQ(set.this_update, kStart - absl::Seconds(60));
  EXPECT_EQ(set.next_update, kStart + absl::Hours(1));
  ASSERT_THAT(set.der, SizeIs(2));

  pki::SslPtr<X509_CRL> intermediate_crl = ParseCrl(set.der[0]);
  ASSERT_NE(intermediate_crl, nullptr);
  EXPECT_EQ(X509_CRL_verify(intermediate_crl.get(),
                            ca_->intermediate.PublicKey()),
            1);
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(intermediate_crl.get()),
                          X509_get_subject_name(ca_->intermediate.get())),
            0);
  EXPECT_EQ(CrlNumber(intermediate_crl.get()), 1u);

  pki::SslPtr<X509_CRL> root_crl = ParseCrl(set.der[1]);
  ASSERT_NE(root_crl, nullptr);
  EXPECT_EQ(X509_CRL_verify(root_crl.get(), ca_->root.PublicKey()), 1);
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(root_crl.get()),
                          X509_get_subject_name(ca_->root.get())),
            0);
  EXPECT_TRUE(Serials(root_crl.get()).empty());
}

TEST_F(CrlPublisherTest, WithoutRootKeyOnlyTheIntermediatesCrl) {
  std::unique_ptr<CrlPublisher> publisher = Make(/*with_root=*/false);
  ASSERT_NE(publisher, nullptr);
  EXPECT_THAT(publisher->Current().der, SizeIs(1));
}

TEST_F(CrlPublisherTest, RebuildListsRevokedWithANewNumber) {
  std::unique_ptr<CrlPublisher> publisher = Make();
  ASSERT_NE(publisher, nullptr);
  StoreRevoked("1a2b", kStart + absl::Hours(1));
  ASSERT_OK(publisher->RebuildNow());
  CrlSet set = publisher->Current();
  EXPECT_EQ(set.number, 2u);
  pki::SslPtr<X509_CRL> crl = ParseCrl(set.der[0]);
  ASSERT_NE(crl, nullptr);
  EXPECT_EQ(CrlNumber(crl.get()), 2u);
  EXPECT_EQ(Serials(crl.get()), std::vector<std::string>{"1a2b"});
}

TEST_F(CrlPublisherTest, LeavesOutCertificatesExpiredPastTheGrace) {
  StoreRevoked("aa", kStart - absl::Hours(25));  // expired over a day ago
  StoreRevoked("bb", kStart - absl::Hours(23));  // within the grace
  StoreRevoked("cc", kStart + absl::Hours(5));   // still valid
  std::unique_ptr<CrlPublisher> publisher = Make();
  ASSERT_NE(publisher, nullptr);
  pki::SslPtr<X509_CRL> crl = ParseCrl(publisher->Current().der[0]);
  ASSERT_NE(crl, nullptr);
  EXPECT_EQ(Serials(crl.get()), (std::vector<std::string>{"bb", "cc"}));
}

TEST_F(CrlPublisherTest, FirstCrlComesFromTheListGivenAtCreate) {
  StoreRevoked("a1", kStart + absl::Hours(1));
  // Expired exactly the grace ago: left out, as ListRevoked leaves it out.
  StoreRevoked("b2", kStart - CrlPublisher::kExpiredGrace);
  StoreRevoked("c3", kStart - CrlPublisher::kExpiredGrace + absl::Seconds(1));
  ASSERT_OK_AND_ASSIGN(std::vector<pki::RevokedCertificate> all,
                       store_->ListRevoked(absl::InfinitePast()));
  ASSERT_THAT(all, SizeIs(3));
  const int reads = store_->list_revoked_calls;

  CrlPublisher::Options options;
  options.start_worker = false;
  signer_.emplace(ca_->signer());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<CrlPublisher> publisher,
                       CrlPublisher::Create(*signer_, nullptr, store_.get(),
                                            &clock_, &hub_, options, all));
  // Built without reading the store's revoked certificates again, with what
  // reading them would have given.
  EXPECT_EQ(store_->list_revoked_calls, reads);
  pki::SslPtr<X509_CRL> first = ParseCrl(publisher->Current().der[0]);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(Serials(first.get()), (std::vector<std::string>{"a1", "c3"}));

  // Later rebuilds read the store.
  ASSERT_OK(publisher->RebuildNow());
  EXPECT_EQ(store_->list_revoked_calls, reads + 1);
  pki::SslPtr<X509_CRL> second = ParseCrl(publisher->Current().der[0]);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(Serials(second.get()), Serials(first.get()));
}

TEST_F(CrlPublisherTest, PublishesEachNewCrlToTheHub) {
  auto sub = hub_.Subscribe("web-1", nullptr);
  std::unique_ptr<CrlPublisher> publisher = Make();
  ASSERT_NE(publisher, nullptr);
  ASSERT_OK(publisher->RebuildNow());
  // The hub collapses unsent CRLs: only the latest is queued.
  std::optional<rotor::v1::Update> update = sub->Next();
  ASSERT_TRUE(update.has_value());
  ASSERT_TRUE(update->has_crl());
  EXPECT_EQ(update->crl().number(), 2u);
  EXPECT_EQ(update->crl().der_size(), 2);
  EXPECT_EQ(update->crl().der(0), publisher->Current().der[0]);
  EXPECT_FALSE(sub->Next().has_value());
}

TEST_F(CrlPublisherTest, NumbersNeverRepeatAcrossPublishers) {
  uint64_t first = 0;
  {
    std::unique_ptr<CrlPublisher> publisher = Make();
    ASSERT_NE(publisher, nullptr);
    ASSERT_OK(publisher->RebuildNow());
    first = publisher->Current().number;
  }
  std::unique_ptr<CrlPublisher> again = Make();
  ASSERT_NE(again, nullptr);
  EXPECT_GT(again->Current().number, first);
}

TEST_F(CrlPublisherTest, FailedRebuildKeepsThePreviousCrl) {
  std::unique_ptr<CrlPublisher> publisher = Make();
  ASSERT_NE(publisher, nullptr);
  CrlSet before = publisher->Current();
  store_->fail_crl_number = true;
  EXPECT_THAT(publisher->RebuildNow(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("injected fault")));
  EXPECT_EQ(publisher->Current().number, before.number);
  EXPECT_EQ(publisher->Current().der, before.der);
  EXPECT_EQ(publisher->failures(), 1u);
}

TEST_F(CrlPublisherTest, CreateFailsWhenTheStoreDoes) {
  store_->fail_crl_number = true;
  CrlPublisher::Options options;
  options.start_worker = false;
  signer_.emplace(ca_->signer());
  EXPECT_THAT(CrlPublisher::Create(*signer_, nullptr, store_.get(), &clock_,
                                   &hub_, options),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("injected fault")));
}

TEST_F(CrlPublisherTest, RefusesNonPositiveValidity) {
  CrlPublisher::Options options;
  options.validity = absl::ZeroDuration();
  signer_.emplace(ca_->signer());
  EXPECT_THAT(CrlPublisher::Create(*signer_, nullptr, store_.get(), &clock_,
                                   &hub_, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "CRL validity must be positive, got 0"));
}

TEST_F(CrlPublisherTest, WorkerRebuildsOnTrigger) {
  std::unique_ptr<CrlPublisher> publisher =
      Make(/*with_root=*/true, /*worker=*/true);
  ASSERT_NE(publisher, nullptr);
  const uint64_t before = publisher->Current().number;
  StoreRevoked("77", kStart + absl::Hours(1));
  publisher->Trigger();
  ASSERT_TRUE(publisher->WaitForNumberAbove(before, kDeadline));
  pki::SslPtr<X509_CRL> crl = ParseCrl(publisher->Current().der[0]);
  ASSERT_NE(crl, nullptr);
  EXPECT_EQ(Serials(crl.get()), std::vector<std::string>{"77"});
}

TEST_F(CrlPublisherTest, BurstOfTriggersCoalesces) {
  std::unique_ptr<CrlPublisher> publisher =
      Make(/*with_root=*/true, /*worker=*/true);
  ASSERT_NE(publisher, nullptr);
  const uint64_t rebuilds_before = publisher->rebuilds();
  const uint64_t number_before = publisher->Current().number;
  for (int i = 0; i < 200; ++i) publisher->Trigger();
  ASSERT_TRUE(publisher->WaitForNumberAbove(number_before, kDeadline));
  // 200 triggers in a tight loop: one rebuild for the first and at most a
  // few for the rest, never one each.
  EXPECT_LE(publisher->rebuilds() - rebuilds_before, 5u);
}

TEST_F(CrlPublisherTest, WaitTimesOutWithoutARebuild) {
  std::unique_ptr<CrlPublisher> publisher = Make();
  ASSERT_NE(publisher, nullptr);
  EXPECT_FALSE(publisher->WaitForNumberAbove(publisher->Current().number,
                                             absl::Milliseconds(1)));
}

}  // namespace
}  // namespace rotor::ca
