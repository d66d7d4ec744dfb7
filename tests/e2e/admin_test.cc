// The operator's own credential: `rotor-ca init` records the admin
// certificate like every certificate it issues, so an operator can list it
// and revoke it, and a revoked admin credential is refused from then on,
// across restarts.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "tests/testing/ca_process.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace rotor {
namespace {

using ::rotor::testing::CaProcess;
using ::rotor::testing::TempDir;
using ::testing::HasSubstr;

TEST(AdminCredentialTest, IsListedRevocableAndRefusedOnceRevoked) {
  TempDir tmp;
  CaProcess ca(tmp.path());
  ASSERT_TRUE(ca.Init());
  ASSERT_TRUE(ca.Start());
  ASSERT_OK_AND_ASSIGN(std::vector<pki::Certificate> admin,
                       pki::Certificate::LoadChain(ca.admin_dir() + "/admin.crt"));
  const std::string serial = admin.front().SerialHex();

  const std::string shown = ca.MustCtl("cert show " + serial);
  EXPECT_THAT(shown, HasSubstr("spiffe://example.org/rotor/admin/init"));
  EXPECT_THAT(shown, HasSubstr("admin"));

  EXPECT_THAT(ca.MustCtl("cert revoke " + serial + " --reason key-compromise"),
              HasSubstr(serial));

  std::string output;
  EXPECT_EQ(ca.Ctl("cert list", &output), 1) << output;
  EXPECT_THAT(output, HasSubstr("admin certificate " + serial + " was revoked"));

  // The refusal survives a restart: the CA reloads revocations from its store.
  ASSERT_EQ(ca.Stop(), 0);
  ASSERT_TRUE(ca.Start());
  EXPECT_EQ(ca.Ctl("token create --node web-1", &output), 1) << output;
  EXPECT_THAT(output, HasSubstr("was revoked"));
}

TEST(AdminCredentialTest, ANewOperatorCredentialReplacesARevokedOne) {
  TempDir tmp;
  CaProcess ca(tmp.path());
  ASSERT_TRUE(ca.Init());
  ASSERT_TRUE(ca.Start());
  ASSERT_OK_AND_ASSIGN(std::vector<pki::Certificate> admin,
                       pki::Certificate::LoadChain(ca.admin_dir() + "/admin.crt"));
  ca.MustCtl("cert revoke " + admin.front().SerialHex());

  // Issuing needs the CA key and writes the store: refused while serving.
  const std::string issue = absl::StrCat(
      rotor::testing::BinaryPath("rotor-ca"), " admin-credentials --data-dir ",
      ca.data_dir(), " --name alice --out ", tmp.Path("alice"));
  std::string output;
  EXPECT_EQ(rotor::testing::RunCommand(issue, &output), 1) << output;
  EXPECT_THAT(output, HasSubstr("stop it before issuing admin credentials"));

  ASSERT_EQ(ca.Stop(), 0);
  ASSERT_EQ(rotor::testing::RunCommand(issue, &output), 0) << output;
  EXPECT_THAT(output, HasSubstr("spiffe://example.org/rotor/admin/alice"));
  ASSERT_TRUE(ca.Start());

  const std::string alice = absl::StrCat(
      " --ca ", ca.grpc_address(), " --credentials ", tmp.Path("alice"));
  ASSERT_EQ(rotor::testing::RunCommand(
                absl::StrCat(rotor::testing::BinaryPath("rotorctl"),
                             " cert list --json", alice),
                &output),
            0)
      << output;
  // Both admin certificates are listed; the old one stays refused.
  EXPECT_THAT(output, HasSubstr("spiffe://example.org/rotor/admin/alice"));
  EXPECT_THAT(output, HasSubstr("spiffe://example.org/rotor/admin/init"));
  EXPECT_EQ(ca.Ctl("cert list", &output), 1) << output;
  EXPECT_THAT(output, HasSubstr("was revoked"));
}

}  // namespace
}  // namespace rotor
