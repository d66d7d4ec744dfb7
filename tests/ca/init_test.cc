#include "ca/init.h"

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <regex>

#include "absl/strings/str_cat.h"
#include "ca/config.h"
#include "ca/data_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/ca_certificate.h"
#include "pki/certificate.h"
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
using ::rotor::testing::RunCommand;
using ::rotor::testing::StatusIs;
using ::rotor::testing::TempDir;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

// Every entry below `root`: relative path -> "mode:content".
std::map<std::string, std::string> Snapshot(const std::string& root) {
  std::map<std::string, std::string> out;
  if (!std::filesystem::exists(root)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    std::string rel = std::filesystem::relative(e.path(), root).string();
    std::string content;
    if (e.is_regular_file()) content = *ReadFile(e.path().string());
    out[rel] = absl::StrCat(FileMode(e.path().string()), ":", content);
  }
  return out;
}

std::map<std::string, int> Modes(const std::string& root) {
  std::map<std::string, int> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    out[std::filesystem::relative(e.path(), root).string()] =
        FileMode(e.path().string());
  }
  return out;
}

InitOptions Options(const TempDir& tmp) {
  InitOptions options;
  options.data_dir = tmp.Path("data");
  options.trust_domain = "example.org";
  return options;
}

TEST(InitTest, CreatesExactlyTheContractFilesWithTheirModes) {
  TempDir tmp;
  FakeRandom random;
  ASSERT_OK_AND_ASSIGN(InitResult result, InitCa(Options(tmp), kNow, random));
  const std::map<std::string, int> expected = {
      {"ca", 0700},
      {"ca/root.crt", 0644},
      {"ca/root.key", 0600},
      {"ca/intermediate.crt", 0644},
      {"ca/intermediate.key", 0600},
      {"store", 0700},
      {"store/data.mdb", 0600},
      {"store/lock.mdb", 0600},
      {"admin", 0700},
      {"admin/admin.crt", 0644},
      {"admin/admin.key", 0600},
      {"admin/bundle.crt", 0644},
      {"ca.yaml", 0644},
  };
  EXPECT_EQ(Modes(tmp.Path("data")), expected);
  EXPECT_EQ(FileMode(tmp.Path("data")), 0700);
  EXPECT_TRUE(std::regex_match(result.root_fingerprint,
                               std::regex("sha256:[0-9a-f]{64}")));
}

TEST(InitTest, CertificatesChainAndMatchTheirKeys) {
  TempDir tmp;
  FakeRandom random;
  ASSERT_OK_AND_ASSIGN(InitResult result, InitCa(Options(tmp), kNow, random));
  DataDir dir{tmp.Path("data")};
  ASSERT_OK_AND_ASSIGN(auto roots, pki::Certificate::LoadChain(dir.RootCert()));
  ASSERT_OK_AND_ASSIGN(auto inter,
                       pki::Certificate::LoadChain(dir.IntermediateCert()));
  ASSERT_OK_AND_ASSIGN(auto admin, pki::Certificate::LoadChain(dir.AdminCert()));
  ASSERT_OK_AND_ASSIGN(auto bundle,
                       pki::Certificate::LoadChain(dir.AdminBundle()));
  EXPECT_EQ(roots[0].Fingerprint(), result.root_fingerprint);
  EXPECT_EQ(bundle[0].Fingerprint(), result.root_fingerprint);
  ASSERT_EQ(admin.size(), 2u);  // admin leaf, then the intermediate
  EXPECT_THAT(admin[0].UriSans(),
              ::testing::ElementsAre("spiffe://example.org/rotor/admin/init"));
  EXPECT_OK(pki::VerifyCertificate(admin[0], inter, roots, kNow,
                                   pki::VerifyPurpose::kTlsClient));
  ASSERT_OK_AND_ASSIGN(pki::PrivateKey admin_key,
                       pki::PrivateKey::Load(dir.AdminKey()));
  EXPECT_TRUE(admin_key.Matches(admin[0].PublicKey()));
  ASSERT_OK_AND_ASSIGN(pki::PrivateKey inter_key,
                       pki::PrivateKey::Load(dir.IntermediateKey()));
  EXPECT_TRUE(inter_key.Matches(inter[0].PublicKey()));
  ASSERT_OK_AND_ASSIGN(CaConfig config, LoadCaConfig(dir.ConfigFile()));
  EXPECT_EQ(config.trust_domain, "example.org");
}

TEST(InitTest, RecordsTheAdminCertificateSoItCanBeRevoked) {
  TempDir tmp;
  FakeRandom random;
  ASSERT_OK(InitCa(Options(tmp), kNow, random));
  DataDir dir{tmp.Path("data")};
  ASSERT_OK_AND_ASSIGN(auto admin, pki::Certificate::LoadChain(dir.AdminCert()));
  ASSERT_OK_AND_ASSIGN(auto store, store::LmdbStore::Open(dir.StoreDir()));
  ASSERT_OK_AND_ASSIGN(std::optional<store::CertificateRecord> record,
                       store->GetCertificate(admin[0].SerialHex()));
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->kind, store::CertificateKind::kAdmin);
  EXPECT_EQ(record->der, admin[0].der());
  EXPECT_EQ(record->spiffe_id, "spiffe://example.org/rotor/admin/init");
  EXPECT_EQ(record->not_after, admin[0].NotAfter());
  EXPECT_FALSE(record->revoked);
  ASSERT_OK_AND_ASSIGN(
      store::CertificatePage page,
      store->ListCertificates(store::CertificateFilter{}, "", 0));
  EXPECT_EQ(page.records.size(), 1u);  // nothing else is issued at init
}

TEST(InitTest, SecondInitFailsAndChangesNothing) {
  TempDir tmp;
  FakeRandom random;
  ASSERT_OK(InitCa(Options(tmp), kNow, random));
  auto before = Snapshot(tmp.Path("data"));
  EXPECT_THAT(InitCa(Options(tmp), kNow, random),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("refuses to overwrite an existing CA")));
  EXPECT_EQ(Snapshot(tmp.Path("data")), before);
}

TEST(InitTest, AcceptsAnExistingEmptyFolder) {
  TempDir tmp;
  FakeRandom random;
  ASSERT_OK(MakeDirectory(tmp.Path("data"), 0755));
  ASSERT_OK(InitCa(Options(tmp), kNow, random));
  EXPECT_EQ(FileMode(tmp.Path("data")), 0700);
}

TEST(InitTest, RefusesInvalidTrustDomainAndCreatesNothing) {
  TempDir tmp;
  FakeRandom random;
  InitOptions options = Options(tmp);
  options.trust_domain = "Example.org/path";
  EXPECT_THAT(InitCa(options, kNow, random),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("invalid --trust-domain")));
  EXPECT_FALSE(PathExists(tmp.Path("data")));
}

TEST(InitTest, RefusesOnlyOneUpstreamFlag) {
  TempDir tmp;
  FakeRandom random;
  InitOptions options = Options(tmp);
  options.upstream_cert = tmp.Path("up.crt");
  EXPECT_THAT(InitCa(options, kNow, random),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--upstream-cert and --upstream-key go together")));
  EXPECT_FALSE(PathExists(tmp.Path("data")));
}

// Writes an operator's existing CA (cert + key) into tmp.
void WriteUpstream(const TempDir& tmp, pki::Random& random) {
  ASSERT_OK_AND_ASSIGN(pki::PrivateKey key,
                       pki::PrivateKey::Generate(pki::KeyType::kEcP384));
  ASSERT_OK_AND_ASSIGN(
      pki::Certificate cert,
      pki::BuildRootCertificate(
          key, {.common_name = "Corp Root", .trust_domain = "corp.example"},
          kNow, random));
  ASSERT_OK(WriteFileAtomically(tmp.Path("up.crt"), cert.ToPem(), 0644));
  ASSERT_OK(key.Save(tmp.Path("up.key")));
}

TEST(InitTest, ChainsUnderAnUpstreamCaWithoutARootKey) {
  TempDir tmp;
  FakeRandom random;
  WriteUpstream(tmp, random);
  InitOptions options = Options(tmp);
  options.upstream_cert = tmp.Path("up.crt");
  options.upstream_key = tmp.Path("up.key");
  ASSERT_OK_AND_ASSIGN(InitResult result, InitCa(options, kNow, random));
  DataDir dir{tmp.Path("data")};
  EXPECT_FALSE(PathExists(dir.RootKey()));
  ASSERT_OK_AND_ASSIGN(auto up, pki::Certificate::LoadChain(tmp.Path("up.crt")));
  ASSERT_OK_AND_ASSIGN(auto roots, pki::Certificate::LoadChain(dir.RootCert()));
  EXPECT_EQ(roots[0].der(), up[0].der());
  EXPECT_EQ(result.root_fingerprint, up[0].Fingerprint());
  ASSERT_OK_AND_ASSIGN(auto inter,
                       pki::Certificate::LoadChain(dir.IntermediateCert()));
  EXPECT_OK(pki::VerifyCertificate(inter[0], {}, up, kNow,
                                   pki::VerifyPurpose::kAny));
}

TEST(InitTest, RefusesMismatchedUpstreamKeyAndCreatesNothing) {
  TempDir tmp;
  FakeRandom random;
  WriteUpstream(tmp, random);
  ASSERT_OK_AND_ASSIGN(pki::PrivateKey other,
                       pki::PrivateKey::Generate(pki::KeyType::kEcP384));
  ASSERT_OK(other.Save(tmp.Path("other.key")));
  InitOptions options = Options(tmp);
  options.upstream_cert = tmp.Path("up.crt");
  options.upstream_key = tmp.Path("other.key");
  EXPECT_THAT(InitCa(options, kNow, random),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not match upstream certificate")));
  EXPECT_FALSE(PathExists(tmp.Path("data")));
}

TEST(InitTest, RefusesUnreadableUpstreamNamingThePath) {
  TempDir tmp;
  FakeRandom random;
  InitOptions options = Options(tmp);
  options.upstream_cert = tmp.Path("missing.crt");
  options.upstream_key = tmp.Path("missing.key");
  EXPECT_THAT(InitCa(options, kNow, random),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr(tmp.Path("missing.crt"))));
  EXPECT_FALSE(PathExists(tmp.Path("data")));
}

TEST(InitTest, RefusesAnUpstreamCertificateThatIsNotACa) {
  TempDir tmp;
  FakeRandom random;
  // A CA's admin leaf is a perfectly good certificate but not a CA.
  ASSERT_OK(InitCa(Options(tmp), kNow, random));
  DataDir dir{tmp.Path("data")};
  InitOptions options;
  options.data_dir = tmp.Path("second");
  options.trust_domain = "example.org";
  options.upstream_cert = dir.AdminCert();
  options.upstream_key = dir.AdminKey();
  EXPECT_THAT(InitCa(options, kNow, random),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not a CA certificate")));
  EXPECT_FALSE(PathExists(tmp.Path("second")));
}

// The real binary, with the openssl CLI checking what it wrote.
class InitBinaryTest : public ::testing::TestWithParam<const char*> {};

TEST_P(InitBinaryTest, WritesAChainOpensslAccepts) {
  TempDir tmp;
  std::string out;
  std::string data = tmp.Path("data");
  // The subshell keeps stderr (what init did) out of `out`, which must hold
  // stdout alone: the fingerprint line.
  ASSERT_EQ(RunCommand(absl::StrCat("(", ROTOR_BIN_DIR,
                                    "/rotor-ca init --data-dir ", data,
                                    " --trust-domain example.org --key-type ",
                                    GetParam(), " 2>/dev/null)"),
                       &out),
            0)
      << out;
  EXPECT_TRUE(std::regex_match(out, std::regex("sha256:[0-9a-f]{64}\n"))) << out;
  std::string verify;
  ASSERT_EQ(RunCommand(absl::StrCat("openssl verify -x509_strict -purpose "
                                    "sslclient -CAfile ", data,
                                    "/ca/root.crt -untrusted ", data,
                                    "/ca/intermediate.crt ", data,
                                    "/admin/admin.crt"),
                       &verify),
            0)
      << verify;
  EXPECT_THAT(verify, HasSubstr(": OK"));
  std::string fp;
  ASSERT_EQ(RunCommand(absl::StrCat("openssl x509 -noout -fingerprint -sha256 "
                                    "-in ", data, "/ca/root.crt"),
                       &fp),
            0);
  // "sha256 Fingerprint=AB:CD:..." -> compare hex without colons.
  std::string hex = fp.substr(fp.find('=') + 1);
  hex.erase(std::remove(hex.begin(), hex.end(), ':'), hex.end());
  hex.erase(std::remove(hex.begin(), hex.end(), '\n'), hex.end());
  std::transform(hex.begin(), hex.end(), hex.begin(), ::tolower);
  EXPECT_EQ(out, absl::StrCat("sha256:", hex, "\n"));
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, InitBinaryTest,
                         ::testing::Values("ec-p256", "ec-p384", "ed25519",
                                           "rsa-3072"));

TEST(InitBinaryCliTest, SecondRunFailsWithClearMessage) {
  TempDir tmp;
  std::string out;
  std::string cmd = absl::StrCat(ROTOR_BIN_DIR, "/rotor-ca init --data-dir ",
                                 tmp.Path("data"), " --trust-domain example.org");
  ASSERT_EQ(RunCommand(cmd, &out), 0) << out;
  auto before = Snapshot(tmp.Path("data"));
  EXPECT_EQ(RunCommand(cmd, &out), 1);
  EXPECT_THAT(out, HasSubstr("rotor-ca: "));
  EXPECT_THAT(out, HasSubstr("is not empty"));
  EXPECT_EQ(Snapshot(tmp.Path("data")), before);
}

TEST(InitBinaryCliTest, HelpAndUsageErrors) {
  std::string out;
  EXPECT_EQ(RunCommand(absl::StrCat(ROTOR_BIN_DIR, "/rotor-ca init --help"), &out), 0);
  EXPECT_THAT(out, HasSubstr("usage: rotor-ca init --data-dir DIR"));
  EXPECT_EQ(RunCommand(absl::StrCat(ROTOR_BIN_DIR, "/rotor-ca init --data-dir /tmp/x"), &out), 2);
  EXPECT_THAT(out, HasSubstr("missing required flag --trust-domain"));
  EXPECT_EQ(RunCommand(absl::StrCat(ROTOR_BIN_DIR, "/rotor-ca frobnicate"), &out), 2);
  EXPECT_THAT(out, HasSubstr("unknown command \"frobnicate\""));
  EXPECT_EQ(RunCommand(absl::StrCat(ROTOR_BIN_DIR, "/rotor-ca --help"), &out), 0);
  EXPECT_THAT(out, HasSubstr("init"));
  TempDir tmp;
  EXPECT_EQ(RunCommand(absl::StrCat(ROTOR_BIN_DIR, "/rotor-ca init --data-dir ",
                                    tmp.Path("d"), " --trust-domain example.org "
                                    "--key-type dsa"),
                       &out),
            2);
  EXPECT_THAT(out, HasSubstr("unknown key type \"dsa\""));
  EXPECT_FALSE(PathExists(tmp.Path("d")));
}

}  // namespace
}  // namespace rotor::ca
