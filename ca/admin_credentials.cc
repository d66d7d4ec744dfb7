#include "ca/admin_credentials.h"

#include <unistd.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "ca/ca_keys.h"
#include "ca/config.h"
#include "ca/data_dir.h"
#include "pki/certificate_builder.h"
#include "store/lmdb_store.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace rotor::ca {

absl::Status ValidateAdminName(absl::string_view name) {
  const auto allowed = [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' ||
           c == '-' || c == '_';
  };
  bool ok = !name.empty() && name.size() <= 64 &&
            (absl::ascii_islower(name[0]) || absl::ascii_isdigit(name[0]));
  for (char c : name) ok = ok && allowed(c);
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "admin name \"", absl::CEscape(name),
        "\" must be 1-64 of a-z, 0-9, '.', '-', '_', starting with a letter "
        "or digit (e.g. alice)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<AdminCredential> BuildAdminCredential(
    absl::string_view trust_domain, absl::string_view name,
    const pki::Signer& signer, absl::Duration validity, absl::Time now,
    pki::Random& random) {
  ROTOR_RETURN_IF_ERROR(ValidateAdminName(name));
  if (validity <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("admin validity must be longer than 0s");
  }
  ROTOR_ASSIGN_OR_RETURN(pki::PrivateKey key,
                         pki::PrivateKey::Generate(pki::KeyType::kEcP256));
  pki::LeafTemplate leaf;
  ROTOR_ASSIGN_OR_RETURN(leaf.public_key_der, key.PublicKeyDer());
  leaf.spiffe_id = absl::StrCat("spiffe://", trust_domain, "/rotor/admin/", name);
  leaf.usage = pki::CertificateUsage::kNode;  // clientAuth only
  leaf.ttl = validity;
  ROTOR_ASSIGN_OR_RETURN(pki::Certificate certificate,
                         pki::BuildLeafCertificate(leaf, signer, now, random));
  return AdminCredential{std::move(certificate), std::move(key),
                         std::move(leaf.spiffe_id)};
}

absl::StatusOr<AdminCredential> IssueAdminCredentials(
    const AdminCredentialsOptions& options, absl::Time now,
    pki::Random& random) {
  ROTOR_RETURN_IF_ERROR(ValidateAdminName(options.name));
  if (options.out_dir.empty()) return absl::InvalidArgumentError("--out is required");
  const DataDir dir{options.data_dir};
  const std::string cert_path = JoinPath(options.out_dir, "admin.crt");
  const std::string key_path = JoinPath(options.out_dir, "admin.key");
  const std::string bundle_path = JoinPath(options.out_dir, "bundle.crt");
  for (const std::string& path : {cert_path, key_path, bundle_path}) {
    if (PathExists(path)) {
      return absl::AlreadyExistsError(absl::StrCat(
          path, " already exists; choose another --out folder (credentials "
                "are never overwritten)"));
    }
  }

  if (!PathExists(dir.CaDir())) {
    return absl::NotFoundError(absl::StrCat("no CA in ", dir.root, " (",
                                            dir.CaDir(),
                                            " is missing); run rotor-ca init first"));
  }
  // The store is written directly, so no server may run on the folder.
  ROTOR_ASSIGN_OR_RETURN(DataDirLock lock,
                         DataDirLock::Acquire(dir, "issuing admin credentials"));
  ROTOR_ASSIGN_OR_RETURN(CaConfig config, LoadCaConfig(dir.ConfigFile()));
  ROTOR_ASSIGN_OR_RETURN(CaKeys keys, LoadCaKeys(dir));
  ROTOR_RETURN_IF_ERROR(CheckCaKeys(keys, now));
  ROTOR_ASSIGN_OR_RETURN(
      AdminCredential credential,
      BuildAdminCredential(config.trust_domain, options.name,
                           pki::Signer{keys.intermediate, keys.intermediate_key},
                           options.validity, now, random));

  // Files first (created exclusively; removed again if anything later
  // fails), then the store record: a credential that is not recorded is
  // never handed out.
  const bool made_dir = !PathExists(options.out_dir);
  if (made_dir) ROTOR_RETURN_IF_ERROR(MakeDirectories(options.out_dir, 0700));
  std::vector<std::string> written;
  auto undo = [&] {
    for (const std::string& path : written) ::unlink(path.c_str());
    if (made_dir) ::rmdir(options.out_dir.c_str());
  };
  absl::Status status = credential.key.Save(key_path, 0600, {}, WriteMode::kCreateOnly);
  if (status.ok()) {
    written.push_back(key_path);
    status = WriteFileAtomically(
        cert_path, credential.certificate.ToPem() + keys.intermediate.ToPem(),
        0644, WriteMode::kCreateOnly);
  }
  if (status.ok()) {
    written.push_back(cert_path);
    std::string bundle;
    for (const pki::Certificate& root : keys.roots) bundle += root.ToPem();
    status = WriteFileAtomically(bundle_path, bundle, 0644, WriteMode::kCreateOnly);
  }
  if (status.ok()) {
    written.push_back(bundle_path);
    status = RecordAdminCertificate(dir, credential, now);
  }
  if (!status.ok()) {
    undo();
    return status;
  }
  return credential;
}

absl::Status RecordAdminCertificate(const DataDir& dir,
                                    const AdminCredential& credential,
                                    absl::Time now) {
  ROTOR_ASSIGN_OR_RETURN(
      std::unique_ptr<store::LmdbStore> store,
      store::LmdbStore::Open(dir.StoreDir(),
                             store::LmdbStoreOptions{.group_commit = false}));
  store::CertificateRecord record;
  record.serial = credential.certificate.SerialHex();
  record.der = credential.certificate.der();
  record.spiffe_id = credential.spiffe_id;
  record.not_before = credential.certificate.NotBefore();
  record.not_after = credential.certificate.NotAfter();
  record.issued_at = now;
  record.kind = store::CertificateKind::kAdmin;
  return store->PutCertificate(record);
}

}  // namespace rotor::ca
