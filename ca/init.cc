#include "ca/init.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ca/admin_credentials.h"
#include "ca/config.h"
#include "ca/data_dir.h"
#include "pki/ca_certificate.h"
#include "pki/certificate.h"
#include "pki/certificate_builder.h"
#include "pki/spiffe_id.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace rotor::ca {
namespace {

// Remembers what init created, and removes it (newest first) unless
// committed: a failed init leaves the folder as it found it.
class CreatedPaths {
 public:
  ~CreatedPaths() {
    if (committed_) return;
    for (auto it = paths_.rbegin(); it != paths_.rend(); ++it) {
      if (::unlink(it->c_str()) != 0) ::rmdir(it->c_str());
    }
  }
  void Add(std::string path) { paths_.push_back(std::move(path)); }
  void Commit() { committed_ = true; }

 private:
  std::vector<std::string> paths_;
  bool committed_ = false;
};

// OK if `dir` does not exist or is an empty folder.
absl::Status CheckEmptyOrMissing(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return absl::OkStatus();
    if (errno == ENOTDIR) {
      return absl::AlreadyExistsError(absl::StrCat(
          dir, " exists and is not a folder; choose another --data-dir"));
    }
    return PosixError(errno, absl::StrCat("cannot open ", dir));
  }
  std::string first;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") {
      first = name;
      break;
    }
  }
  ::closedir(d);
  if (!first.empty()) {
    return absl::AlreadyExistsError(absl::StrCat(
        dir, " is not empty (it holds ", first,
        "); rotor-ca init refuses to overwrite an existing CA. Choose an "
        "empty or new --data-dir"));
  }
  return absl::OkStatus();
}

struct Upstream {
  pki::Certificate cert;
  pki::PrivateKey key;
};

absl::StatusOr<Upstream> LoadUpstream(const InitOptions& options,
                                      absl::Time now) {
  ROTOR_ASSIGN_OR_RETURN(std::vector<pki::Certificate> chain,
                         pki::Certificate::LoadChain(options.upstream_cert));
  ROTOR_ASSIGN_OR_RETURN(pki::PrivateKey key,
                         pki::PrivateKey::Load(options.upstream_key));
  pki::Certificate& cert = chain.front();
  if (!cert.IsCa()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "upstream certificate ", options.upstream_cert,
        " is not a CA certificate (basicConstraints CA:TRUE is missing)"));
  }
  if (!key.Matches(cert.PublicKey())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "upstream key ", options.upstream_key,
        " does not match upstream certificate ", options.upstream_cert));
  }
  if (cert.NotAfter() <= now) {
    return absl::InvalidArgumentError(absl::StrCat(
        "upstream certificate ", options.upstream_cert, " expired at ",
        absl::FormatTime(cert.NotAfter())));
  }
  return Upstream{std::move(cert), std::move(key)};
}

}  // namespace

absl::StatusOr<InitResult> InitCa(const InitOptions& options, absl::Time now,
                                  pki::Random& random) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("--data-dir is required");
  }
  {
    absl::Status td = pki::ValidateTrustDomain(options.trust_domain);
    if (!td.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid --trust-domain: ", td.message()));
    }
  }
  if (options.upstream_cert.empty() != options.upstream_key.empty()) {
    return absl::InvalidArgumentError(
        "--upstream-cert and --upstream-key go together; give both or neither");
  }
  const bool upstream_mode = !options.upstream_cert.empty();
  const DataDir dir{options.data_dir};
  ROTOR_RETURN_IF_ERROR(CheckEmptyOrMissing(dir.root));

  // Build everything in memory first: nothing is written until all of it
  // exists, so most failures touch no file at all.
  std::optional<Upstream> upstream;
  std::optional<pki::PrivateKey> root_key;
  std::optional<pki::Certificate> root;
  if (upstream_mode) {
    ROTOR_ASSIGN_OR_RETURN(upstream, LoadUpstream(options, now));
    root = upstream->cert;
  } else {
    ROTOR_ASSIGN_OR_RETURN(root_key, pki::PrivateKey::Generate(options.key_type));
    pki::CaCertificateOptions root_options{
        .common_name = absl::StrCat("rotor root CA ", options.trust_domain),
        .trust_domain = options.trust_domain,
        .validity = options.root_validity};
    ROTOR_ASSIGN_OR_RETURN(
        root, pki::BuildRootCertificate(*root_key, root_options, now, random));
  }
  const pki::PrivateKey& parent_key = upstream_mode ? upstream->key : *root_key;

  ROTOR_ASSIGN_OR_RETURN(pki::PrivateKey intermediate_key,
                         pki::PrivateKey::Generate(options.key_type));
  pki::CaCertificateOptions intermediate_options{
      .common_name = absl::StrCat("rotor intermediate CA ", options.trust_domain),
      .trust_domain = options.trust_domain,
      .validity = options.intermediate_validity};
  ROTOR_ASSIGN_OR_RETURN(
      pki::Certificate intermediate,
      pki::BuildIntermediateCertificate(
          intermediate_key.get(), intermediate_options,
          pki::Signer{*root, parent_key}, now, random));

  ROTOR_ASSIGN_OR_RETURN(
      AdminCredential admin,
      BuildAdminCredential(options.trust_domain, "init",
                           pki::Signer{intermediate, intermediate_key},
                           options.admin_validity, now, random));

  CaConfig config;
  config.trust_domain = options.trust_domain;

  // Write. Every file is created exclusively; on failure, CreatedPaths
  // removes what was made.
  CreatedPaths created;
  auto make_dir = [&](const std::string& path) -> absl::Status {
    absl::Status s = MakeDirectory(path, 0700);
    if (s.ok()) created.Add(path);
    return s;
  };
  auto write = [&](const std::string& path, absl::string_view data,
                   mode_t mode) -> absl::Status {
    absl::Status s =
        WriteFileAtomically(path, data, mode, WriteMode::kCreateOnly);
    if (s.ok()) created.Add(path);
    return s;
  };
  auto save_key = [&](const std::string& path,
                      const pki::PrivateKey& key) -> absl::Status {
    absl::Status s = key.Save(path, 0600, {}, WriteMode::kCreateOnly);
    if (s.ok()) created.Add(path);
    return s;
  };

  if (!PathExists(dir.root)) {
    ROTOR_RETURN_IF_ERROR(MakeDirectories(DirName(dir.root), 0755));
    ROTOR_RETURN_IF_ERROR(make_dir(dir.root));
  } else if (::chmod(dir.root.c_str(), 0700) != 0) {
    return PosixError(errno, absl::StrCat("cannot set the mode of ", dir.root));
  }
  ROTOR_RETURN_IF_ERROR(make_dir(dir.CaDir()));
  ROTOR_RETURN_IF_ERROR(write(dir.RootCert(), root->ToPem(), 0644));
  if (root_key.has_value()) {
    ROTOR_RETURN_IF_ERROR(save_key(dir.RootKey(), *root_key));
  }
  ROTOR_RETURN_IF_ERROR(write(dir.IntermediateCert(), intermediate.ToPem(), 0644));
  ROTOR_RETURN_IF_ERROR(save_key(dir.IntermediateKey(), intermediate_key));
  ROTOR_RETURN_IF_ERROR(make_dir(dir.StoreDir()));
  ROTOR_RETURN_IF_ERROR(make_dir(dir.AdminDir()));
  ROTOR_RETURN_IF_ERROR(write(dir.AdminCert(),
                              admin.certificate.ToPem() + intermediate.ToPem(),
                              0644));
  ROTOR_RETURN_IF_ERROR(save_key(dir.AdminKey(), admin.key));
  ROTOR_RETURN_IF_ERROR(write(dir.AdminBundle(), root->ToPem(), 0644));
  // The admin certificate is recorded like every certificate the CA issues,
  // so that `rotorctl cert revoke` can revoke it.
  created.Add(JoinPath(dir.StoreDir(), "data.mdb"));
  created.Add(JoinPath(dir.StoreDir(), "lock.mdb"));
  ROTOR_RETURN_IF_ERROR(RecordAdminCertificate(dir, admin, now));
  ROTOR_RETURN_IF_ERROR(write(dir.ConfigFile(), RenderCaConfig(config), 0644));
  ROTOR_RETURN_IF_ERROR(SyncDirectory(dir.root));
  created.Commit();

  return InitResult{.root_fingerprint = root->Fingerprint(),
                    .intermediate_serial = intermediate.SerialHex(),
                    .admin_spiffe_id = admin.spiffe_id};
}

}  // namespace rotor::ca
