#include "ca/update_hub.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rotor::ca {
namespace {

rotor::v1::Revoked Revoked(const std::string& serial) {
  rotor::v1::Revoked revoked;
  revoked.set_serial(serial);
  revoked.set_reason("keyCompromise");
  return revoked;
}

rotor::v1::Crl Crl(uint64_t number) {
  rotor::v1::Crl crl;
  crl.set_number(number);
  crl.add_der("crl");
  return crl;
}

rotor::v1::TrustBundle Bundle(uint64_t version) {
  rotor::v1::TrustBundle bundle;
  bundle.set_version(version);
  return bundle;
}

std::vector<rotor::v1::Update> Drain(UpdateHub::Subscription& sub) {
  std::vector<rotor::v1::Update> out;
  while (std::optional<rotor::v1::Update> u = sub.Next()) {
    out.push_back(*std::move(u));
  }
  return out;
}

TEST(UpdateHubTest, RevocationGoesOnlyToTheHoldersNode) {
  UpdateHub hub;
  int web_wakes = 0;
  int db_wakes = 0;
  auto web = hub.Subscribe("web-1", [&] { ++web_wakes; });
  auto db = hub.Subscribe("db-1", [&] { ++db_wakes; });

  hub.PublishRevoked("web-1", Revoked("1a2b"));

  std::vector<rotor::v1::Update> got = Drain(*web);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].revoked().serial(), "1a2b");
  EXPECT_EQ(got[0].revoked().reason(), "keyCompromise");
  EXPECT_EQ(web_wakes, 1);
  EXPECT_TRUE(Drain(*db).empty());
  EXPECT_EQ(db_wakes, 0);
}

TEST(UpdateHubTest, EveryStreamOfTheNodeIsTold) {
  UpdateHub hub;
  auto a = hub.Subscribe("web-1", nullptr);
  auto b = hub.Subscribe("web-1", nullptr);
  hub.PublishRevoked("web-1", Revoked("ff"));
  EXPECT_EQ(Drain(*a).size(), 1u);
  EXPECT_EQ(Drain(*b).size(), 1u);
}

TEST(UpdateHubTest, CrlAndBundleGoToEveryone) {
  UpdateHub hub;
  auto web = hub.Subscribe("web-1", nullptr);
  auto db = hub.Subscribe("db-1", nullptr);
  hub.PublishCrl(Crl(7));
  hub.PublishBundle(Bundle(2));
  for (auto* sub : {web.get(), db.get()}) {
    std::vector<rotor::v1::Update> got = Drain(*sub);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].crl().number(), 7u);
    EXPECT_EQ(got[1].bundle().version(), 2u);
  }
}

TEST(UpdateHubTest, NewerCrlReplacesUnsentOneButRevocationsStay) {
  UpdateHub hub;
  auto sub = hub.Subscribe("web-1", nullptr);
  for (uint64_t n = 1; n <= 200; ++n) {
    hub.PublishCrl(Crl(n));
    if (n % 50 == 0) hub.PublishRevoked("web-1", Revoked(absl::StrCat(n)));
  }
  // In order: the revocations after 50, 100 and 150, the one CRL left
  // (200, published before the last revocation), the revocation after 200.
  std::vector<rotor::v1::Update> got = Drain(*sub);
  ASSERT_EQ(got.size(), 5u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i].revoked().serial(), absl::StrCat((i + 1) * 50));
  }
  ASSERT_TRUE(got[3].has_crl());
  EXPECT_EQ(got[3].crl().number(), 200u);
  EXPECT_EQ(got[4].revoked().serial(), "200");
}

TEST(UpdateHubTest, ReleasedSubscriptionEnds) {
  UpdateHub hub;
  auto a = hub.Subscribe("web-1", nullptr);
  auto b = hub.Subscribe("web-2", nullptr);
  EXPECT_EQ(hub.subscriber_count(), 2u);
  a.reset();
  EXPECT_EQ(hub.subscriber_count(), 1u);
  hub.PublishRevoked("web-1", Revoked("1"));  // nobody left; no crash
  hub.PublishCrl(Crl(1));
  EXPECT_EQ(Drain(*b).size(), 1u);
  b.reset();
  EXPECT_EQ(hub.subscriber_count(), 0u);
}

TEST(UpdateHubTest, WakeRunsWithoutTheHubLock) {
  UpdateHub hub;
  std::shared_ptr<UpdateHub::Subscription> sub;
  size_t seen = 0;
  // A wake that calls back into the hub would deadlock if the lock were
  // held.
  sub = hub.Subscribe("web-1", [&] { seen = hub.subscriber_count(); });
  hub.PublishCrl(Crl(1));
  EXPECT_EQ(seen, 1u);
}

TEST(UpdateHubTest, ThousandsOfSubscribersOneRevocation) {
  UpdateHub hub;
  std::vector<std::shared_ptr<UpdateHub::Subscription>> subs;
  std::atomic<int> wakes{0};
  for (int i = 0; i < 5000; ++i) {
    subs.push_back(
        hub.Subscribe(absl::StrCat("node-", i), [&] { wakes.fetch_add(1); }));
  }
  hub.PublishRevoked("node-4321", Revoked("abc"));
  EXPECT_EQ(wakes.load(), 1);
  EXPECT_EQ(Drain(*subs[4321]).size(), 1u);
  EXPECT_TRUE(Drain(*subs[4320]).empty());
  hub.PublishCrl(Crl(9));
  EXPECT_EQ(wakes.load(), 5001);
}

TEST(UpdateHubTest, ConcurrentSubscribeAndPublish) {
  UpdateHub hub;
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    uint64_t n = 0;
    while (!stop.load()) {
      hub.PublishCrl(Crl(++n));
      hub.PublishRevoked("node-1", Revoked("1"));
    }
  });
  for (int i = 0; i < 2000; ++i) {
    auto sub = hub.Subscribe(absl::StrCat("node-", i % 3), nullptr);
    Drain(*sub);
  }
  stop.store(true);
  publisher.join();
  EXPECT_EQ(hub.subscriber_count(), 0u);
}

}  // namespace
}  // namespace rotor::ca
