#include "agent/agent.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pki/certificate_builder.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/serial.h"
#include "pki/ssl_error.h"
#include "pki/ssl_ptr.h"
#include "pki/verify.h"
#include "util/file.h"
#include "util/log.h"
#include "util/status_macros.h"
#include "util/clock.h"

namespace rotor::agent {

struct Agent::Managed {
  Managed(CertificateConfig c, const ScheduleOptions& options)
      : config(std::move(c)), schedule(options) {}

  CertificateConfig config;
  bool is_node = false;
  RotationSchedule schedule;
  // LoadFromDisk ran (it waits until the CA's roots are known).
  bool loaded = false;
  // A new certificate is needed (none yet, mismatch, revoked).
  bool reissue = true;
  std::string reissue_reason = "issued";
  // The files must be (re)written with the key and chain held here; set on
  // issuance, bundle or CRL change, mode or owner change.
  std::string write_reason;
  // Write at the next pass, regardless of the schedule.
  bool write_now = false;
  // Processed at least once (for readiness).
  bool attempted = false;

  std::optional<pki::PrivateKey> key;
  std::vector<pki::Certificate> chain;  // leaf first
  // What the files on disk hold.
  std::string disk_serial;
  std::string files_bundle_pem;
  std::string files_crl_pem;

  std::string last_error;
  int64_t rotations = 0;
  int64_t failures = 0;
  int64_t hook_failures = 0;

  std::string serial() const {
    return chain.empty() ? "" : chain.front().SerialHex();
  }
  absl::Time not_after() const {
    return chain.empty() ? absl::InfinitePast() : chain.front().NotAfter();
  }
};

namespace {

// When the CA issued a certificate: it backdates notBefore by
// pki::kBackdate for clock skew, which must not count as lifetime.
absl::Time IssuedAt(const pki::Certificate& leaf) {
  return std::min(leaf.NotBefore() + pki::kBackdate, leaf.NotAfter());
}

bool KeyMatchesType(const pki::KeyInfo& info, pki::KeyType type) {
  switch (type) {
    case pki::KeyType::kEcP256:
      return info.algorithm == pki::KeyAlgorithm::kEc && info.curve == "P-256";
    case pki::KeyType::kEcP384:
      return info.algorithm == pki::KeyAlgorithm::kEc && info.curve == "P-384";
    case pki::KeyType::kEd25519:
      return info.algorithm == pki::KeyAlgorithm::kEd25519;
    case pki::KeyType::kRsa2048:
      return info.algorithm == pki::KeyAlgorithm::kRsa && info.bits == 2048;
    case pki::KeyType::kRsa3072:
      return info.algorithm == pki::KeyAlgorithm::kRsa && info.bits == 3072;
    case pki::KeyType::kRsa4096:
      return info.algorithm == pki::KeyAlgorithm::kRsa && info.bits == 4096;
  }
  return false;
}

// Parses a chain from the CA and checks it is for `key`.
absl::StatusOr<std::vector<pki::Certificate>> ParseChain(
    const rotor::v1::CertificateChain& message, const pki::PrivateKey& key) {
  std::vector<pki::Certificate> chain;
  for (const std::string& der : message.der()) {
    ROTOR_ASSIGN_OR_RETURN(pki::Certificate cert, pki::Certificate::FromDer(der));
    chain.push_back(std::move(cert));
  }
  if (chain.empty()) {
    return absl::InternalError("the CA returned an empty certificate chain");
  }
  if (!key.Matches(chain.front().PublicKey())) {
    return absl::InternalError(
        "the CA returned a certificate for a different key");
  }
  return chain;
}

// True if a CRL issued by the leaf's issuer lists the leaf's serial.
bool ListedInCrl(const pki::Certificate& leaf,
                 const std::vector<std::string>& crl_der) {
  for (const std::string& der : crl_der) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    pki::SslPtr<X509_CRL> crl(
        d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
    if (crl == nullptr) {
      pki::ClearSslErrors();
      continue;
    }
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()),
                      X509_get_issuer_name(leaf.get())) != 0) {
      continue;
    }
    X509_REVOKED* entry = nullptr;
    if (X509_CRL_get0_by_serial(crl.get(), &entry,
                                X509_get_serialNumber(leaf.get())) == 1) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<uid_t> LookUpUser(const std::string& name) {
  uid_t id;
  if (absl::SimpleAtoi(name, &id)) return id;
  struct passwd pw;
  struct passwd* result = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result) != 0 ||
      result == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("owner: no user named \"", name, "\""));
  }
  return pw.pw_uid;
}

absl::StatusOr<gid_t> LookUpGroup(const std::string& name) {
  gid_t id;
  if (absl::SimpleAtoi(name, &id)) return id;
  struct group gr;
  struct group* result = nullptr;
  std::vector<char> buf(16384);
  if (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &result) != 0 ||
      result == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("group: no group named \"", name, "\""));
  }
  return gr.gr_gid;
}

std::string NewTokenHint(const AgentConfig& config) {
  return absl::StrCat("create a new token with rotorctl token create --node ",
                      config.node_name, " and write it to ",
                      config.join_token_file.empty() ? "the join_token_file"
                                                     : config.join_token_file);
}

}  // namespace

Agent::Agent(AgentConfig config, AgentEnv env)
    : config_(std::move(config)),
      env_(std::move(env)),
      writer_(env_.fs, env_.clock, env_.random) {
  if (!env_.run_hook) env_.run_hook = RunHook;
}

Agent::~Agent() = default;

std::unique_ptr<Agent::Managed> Agent::NewManaged(
    const CertificateConfig& config) {
  ScheduleOptions options;
  options.renew_at = config_.renew_at;
  options.backoff_initial = config_.backoff_initial;
  options.backoff_max = config_.backoff_max;
  return std::make_unique<Managed>(config, options);
}

absl::Status Agent::Setup() {
  ROTOR_RETURN_IF_ERROR(env_.fs->MakeDirectories(config_.state_dir, 0700));
  ROTOR_ASSIGN_OR_RETURN(pins_, TrustAnchorFingerprints(config_));

  CertificateConfig node;
  node.name = "node";
  node.dir = JoinPath(config_.state_dir, kNodeDir);
  node.mode = 0600;
  node_ = NewManaged(node);
  node_->is_node = true;
  // The roots trusted at the last run are in the node's bundle.pem.
  absl::StatusOr<FileSet> set = ReadFileSet(*env_.fs, node_->config.dir);
  if (set.ok()) {
    absl::StatusOr<std::vector<pki::Certificate>> roots =
        pki::Certificate::ChainFromPem(set->bundle_pem);
    if (roots.ok()) {
      roots_ = *std::move(roots);
      roots_pem_ = set->bundle_pem;
    }
  }
  if (!roots_.empty()) {
    (void)LoadFromDisk(*node_, env_.clock->Now());
    if (!node_->reissue) {
      ROTOR_ASSIGN_OR_RETURN(pki::SecretString key_pem, node_->key->ToPem());
      ROTOR_RETURN_IF_ERROR(env_.ca->SetCredentials(
          roots_pem_, key_pem, pki::ChainToPem(node_->chain)));
    } else {
      ROTOR_RETURN_IF_ERROR(
          env_.ca->SetCredentials(roots_pem_, pki::SecretString(), ""));
    }
  } else {
    node_->schedule.IssueNow(env_.clock->Now());
  }
  for (const CertificateConfig& c : config_.certificates) {
    certs_.push_back(NewManaged(c));
  }
  return absl::OkStatus();
}

absl::Status Agent::EnsureTrust() {
  ROTOR_ASSIGN_OR_RETURN(rotor::v1::TrustBundle bundle,
                         env_.ca->FetchBundleUnverified());
  ROTOR_ASSIGN_OR_RETURN(std::vector<pki::Certificate> roots,
                         VerifyPinnedBundle(bundle, pins_, config_.ca));
  ROTOR_ASSIGN_OR_RETURN(std::string pem, BundleToPem(bundle));
  ROTOR_RETURN_IF_ERROR(env_.ca->SetCredentials(pem, pki::SecretString(), ""));
  roots_ = std::move(roots);
  roots_pem_ = std::move(pem);
  LogInfo("authenticated the CA by its pinned root",
          {{"ca", config_.ca}, {"pin", absl::StrJoin(pins_, ",")}});
  return absl::OkStatus();
}

absl::Status Agent::LoadFromDisk(Managed& m, absl::Time now) {
  m.loaded = true;
  std::string why;
  absl::StatusOr<FileSet> set = ReadFileSet(*env_.fs, m.config.dir);
  absl::StatusOr<std::vector<pki::Certificate>> chain;
  absl::StatusOr<pki::PrivateKey> key;
  if (!set.ok()) {
    why = absl::IsNotFound(set.status()) ? "no certificate yet"
                                         : std::string(set.status().message());
  } else {
    chain = pki::Certificate::ChainFromPem(set->cert_pem);
    key = pki::PrivateKey::FromPem(set->key_pem.view());
  }
  if (!why.empty()) {
  } else if (!chain.ok()) {
    why = absl::StrCat("cert.pem does not parse: ", chain.status().message());
  } else if (!key.ok()) {
    why = absl::StrCat("key.pem does not parse: ", key.status().message());
  } else if (!key->Matches(chain->front().PublicKey())) {
    why = "key.pem does not match cert.pem";
  } else if (now >= chain->front().NotAfter()) {
    why = "the certificate on disk has expired";
  } else if (!m.is_node) {
    const pki::Certificate& leaf = chain->front();
    std::vector<std::string> dns = leaf.DnsSans();
    std::set<std::string> have(dns.begin(), dns.end());
    std::set<std::string> want(m.config.dns_names.begin(),
                               m.config.dns_names.end());
    if (leaf.UriSans() != std::vector<std::string>{m.config.spiffe_id}) {
      why = "the SPIFFE ID on disk differs from the config";
    } else if (have != want) {
      why = "the DNS names on disk differ from the config";
    } else if (!KeyMatchesType(key->info(), m.config.key_type)) {
      why = absl::StrCat("the key on disk is ", key->info().Describe(),
                         ", the config asks for ",
                         pki::KeyTypeName(m.config.key_type));
    }
  }
  if (why.empty() && !roots_.empty()) {
    std::vector<pki::Certificate> intermediates(chain->begin() + 1,
                                                chain->end());
    absl::Status verified = pki::VerifyCertificate(
        chain->front(), intermediates, roots_, now,
        m.is_node ? pki::VerifyPurpose::kTlsClient : pki::VerifyPurpose::kAny);
    if (!verified.ok()) {
      why = absl::StrCat("the certificate on disk does not chain to the CA's "
                         "roots: ",
                         verified.message());
    }
  }
  if (!why.empty()) {
    m.reissue = true;
    m.reissue_reason = "issued";
    m.schedule.IssueNow(now);
    LogInfo("will issue a new certificate",
            {{"name", m.config.name}, {"reason", why}});
    return absl::OkStatus();
  }
  m.key = *std::move(key);
  m.chain = *std::move(chain);
  m.reissue = false;
  m.disk_serial = m.serial();
  m.files_bundle_pem = set->bundle_pem;
  m.files_crl_pem = set->crl_pem;
  if (m.is_node && !m.chain.front().UriSans().empty()) {
    m.config.spiffe_id = m.chain.front().UriSans().front();
  }
  m.schedule.OnIssued(IssuedAt(m.chain.front()), m.not_after(),
                      UniformDouble(*env_.random));
  LogInfo("kept the certificate on disk",
          {{"name", m.config.name},
           {"serial", m.serial()},
           {"not_after", FormatUtc(m.not_after())},
           {"next_renewal", FormatUtc(m.schedule.renew_time())}});
  return absl::OkStatus();
}

void Agent::ApplyConfig(AgentConfig config) {
  std::vector<std::string> restart;
  if (config.ca != config_.ca) restart.push_back("ca");
  if (config.trust_anchor != config_.trust_anchor) restart.push_back("trust_anchor");
  if (config.node_name != config_.node_name) restart.push_back("node_name");
  if (config.state_dir != config_.state_dir) restart.push_back("state_dir");
  if (!restart.empty()) {
    LogWarning("these settings change only when rotor-agent restarts",
               {{"keys", absl::StrJoin(restart, ",")}});
  }
  config_.join_token_file = config.join_token_file;
  config_.renew_at = config.renew_at;
  config_.backoff_initial = config.backoff_initial;
  config_.backoff_max = config.backoff_max;
  config_.rpc_timeout = config.rpc_timeout;
  ScheduleOptions options;
  options.renew_at = config_.renew_at;
  options.backoff_initial = config_.backoff_initial;
  options.backoff_max = config_.backoff_max;
  if (node_ != nullptr) node_->schedule.set_options(options);

  std::vector<std::unique_ptr<Managed>> next;
  int kept = 0;
  int changed = 0;
  for (const CertificateConfig& c : config.certificates) {
    auto old = std::find_if(certs_.begin(), certs_.end(), [&](const auto& m) {
      return m != nullptr && m->config.name == c.name;
    });
    if (old != certs_.end() && (*old)->config.SameIdentity(c) &&
        (*old)->config.dir == c.dir) {
      Managed& m = **old;
      const bool rewrite = m.config.mode != c.mode ||
                           m.config.owner != c.owner ||
                           m.config.group != c.group;
      m.config = c;
      m.schedule.set_options(options);
      if (rewrite && m.key.has_value()) {
        m.write_reason = "config";
        m.write_now = true;
      }
      next.push_back(std::move(*old));
      ++kept;
    } else {
      next.push_back(NewManaged(c));
      ++changed;
    }
  }
  for (const auto& m : certs_) {
    if (m != nullptr) {
      LogInfo("no longer managing a certificate; its files stay",
              {{"name", m->config.name}, {"dir", m->config.dir}});
    }
  }
  certs_ = std::move(next);
  config_.certificates = config.certificates;
  LogInfo("config reloaded", {{"kept", absl::StrCat(kept)},
                              {"new_or_changed", absl::StrCat(changed)}});
}

void Agent::MarkFilesStale() {
  auto mark = [&](Managed& m) {
    if (!m.key.has_value() || m.reissue) return;
    const bool bundle = m.files_bundle_pem != roots_pem_;
    const bool crl = !m.is_node && crl_known_ && m.files_crl_pem != crl_pem_;
    if (!bundle && !crl) return;
    if (m.write_reason.empty()) m.write_reason = bundle ? "bundle" : "crl";
    m.write_now = true;
  };
  if (node_ != nullptr) mark(*node_);
  for (auto& m : certs_) mark(*m);
}

void Agent::HandleBundle(const rotor::v1::TrustBundle& bundle) {
  absl::StatusOr<std::string> pem = BundleToPem(bundle);
  if (!pem.ok() || pem->empty()) {
    LogWarning("ignoring a trust bundle that does not parse",
               {{"error", std::string(pem.status().message())}});
    return;
  }
  if (*pem == roots_pem_) return;
  absl::StatusOr<std::vector<pki::Certificate>> roots =
      pki::Certificate::ChainFromPem(*pem);
  if (!roots.ok()) return;
  roots_ = *std::move(roots);
  roots_pem_ = *std::move(pem);
  LogInfo("trust bundle changed",
          {{"version", absl::StrCat(bundle.version())},
           {"roots", absl::StrCat(roots_.size())}});
  pki::SecretString key_pem;
  std::string chain_pem;
  if (node_ != nullptr && node_->key.has_value() && !node_->reissue) {
    absl::StatusOr<pki::SecretString> pem_key = node_->key->ToPem();
    if (pem_key.ok()) {
      key_pem = *std::move(pem_key);
      chain_pem = pki::ChainToPem(node_->chain);
    }
  }
  absl::Status set = env_.ca->SetCredentials(roots_pem_, key_pem, chain_pem);
  if (!set.ok()) {
    LogError("cannot use the new trust bundle",
             {{"error", std::string(set.message())}});
  }
  MarkFilesStale();
}

void Agent::HandleCrl(const rotor::v1::Crl& crl, absl::Time now) {
  std::string pem;
  std::vector<std::string> der;
  for (const std::string& d : crl.der()) {
    absl::StatusOr<std::string> one = pki::CrlDerToPem(d);
    if (!one.ok()) {
      LogWarning("ignoring a CRL that does not parse",
                 {{"error", std::string(one.status().message())}});
      return;
    }
    absl::StrAppend(&pem, *one);
    der.push_back(d);
  }
  crl_known_ = true;
  if (pem != crl_pem_) {
    Log(crl_pem_.empty() ? LogLevel::kDebug : LogLevel::kInfo, "CRL changed",
        {{"number", absl::StrCat(crl.number())}});
    crl_pem_ = std::move(pem);
    crl_der_ = std::move(der);
  }
  // Revocations the agent missed (it was down, or the stream was) show in
  // the CRL.
  auto check = [&](Managed& m) {
    if (!m.chain.empty() && !m.reissue && ListedInCrl(m.chain.front(), crl_der_)) {
      HandleRevoked(m.serial(), now);
    }
  };
  if (node_ != nullptr) check(*node_);
  for (auto& m : certs_) check(*m);
  MarkFilesStale();
}

void Agent::HandleRevoked(const std::string& serial, absl::Time now) {
  absl::StatusOr<std::string> canonical = pki::NormalizeSerial(serial);
  if (!canonical.ok()) return;
  if (node_ != nullptr && !node_->chain.empty() && !node_->reissue &&
      node_->serial() == *canonical) {
    LogError(absl::StrCat("the node certificate was revoked: the CA refuses "
                          "this node until it attests again; ",
                          NewTokenHint(config_)),
             {{"serial", *canonical}});
    node_->reissue = true;
    node_->reissue_reason = "revoked";
    node_->key.reset();
    node_->chain.clear();
    node_->schedule.IssueNow(now);
    (void)env_.fs->RemoveAll(node_->config.dir);
    return;
  }
  for (auto& m : certs_) {
    if (m->chain.empty() || m->reissue || m->serial() != *canonical) continue;
    LogWarning("certificate revoked; re-keying now",
               {{"name", m->config.name}, {"serial", *canonical}});
    m->reissue = true;
    m->reissue_reason = "revoked";
    m->schedule.IssueNow(now);
  }
}

void Agent::HandleEvent(Event& event, absl::Time now) {
  if (event.kind == Event::kHookDone) {
    for (auto& m : certs_) {
      if (m->config.name != event.name || event.status.ok()) continue;
      ++m->hook_failures;
    }
    return;
  }
  // Any message means the CA answers: renewals that failed during an outage
  // go now.
  if (node_ != nullptr) node_->schedule.OnCaAvailable(now);
  for (auto& m : certs_) m->schedule.OnCaAvailable(now);
  const rotor::v1::Update& update = event.update;
  switch (update.update_case()) {
    case rotor::v1::Update::kBundle:
      HandleBundle(update.bundle());
      break;
    case rotor::v1::Update::kCrl:
      HandleCrl(update.crl(), now);
      break;
    case rotor::v1::Update::kRevoked:
      HandleRevoked(update.revoked().serial(), now);
      break;
    default:
      break;
  }
}

absl::Status Agent::Issue(Managed& m, absl::Time now) {
  ROTOR_ASSIGN_OR_RETURN(pki::PrivateKey key,
                         pki::PrivateKey::Generate(m.config.key_type));
  ROTOR_ASSIGN_OR_RETURN(
      std::string csr,
      pki::BuildCsr(key, m.config.spiffe_id, m.config.dns_names));
  ROTOR_ASSIGN_OR_RETURN(rotor::v1::SignWorkloadResponse response,
                         env_.ca->SignWorkload(csr, m.config.ttl));
  ROTOR_ASSIGN_OR_RETURN(std::vector<pki::Certificate> chain,
                         ParseChain(response.certificate(), key));
  m.key = std::move(key);
  m.chain = std::move(chain);
  m.reissue = false;
  if (response.has_bundle() && response.bundle().root_der_size() > 0) {
    HandleBundle(response.bundle());
  }
  if (response.has_crl() && response.crl().der_size() > 0) {
    HandleCrl(response.crl(), now);
  }
  return absl::OkStatus();
}

absl::Status Agent::IssueNode(Managed& m, absl::Time now) {
  ROTOR_ASSIGN_OR_RETURN(pki::PrivateKey key,
                         pki::PrivateKey::Generate(pki::KeyType::kEcP256));
  // The CA sets the node's identity itself; the CSR names it as a courtesy.
  std::string trust_domain_uri = "spiffe://rotor.invalid";
  if (!roots_.empty() && !roots_.front().UriSans().empty()) {
    trust_domain_uri = roots_.front().UriSans().front();
  }
  const std::string spiffe_id =
      !m.config.spiffe_id.empty()
          ? m.config.spiffe_id
          : absl::StrCat(trust_domain_uri, "/rotor/node/", config_.node_name);
  ROTOR_ASSIGN_OR_RETURN(std::string csr, pki::BuildCsr(key, spiffe_id, {}));

  rotor::v1::CertificateChain node_chain;
  rotor::v1::TrustBundle bundle;
  bool renewed = false;
  if (m.key.has_value() && !m.reissue && now < m.not_after()) {
    absl::StatusOr<rotor::v1::RenewNodeResponse> response =
        env_.ca->RenewNode(csr);
    if (response.ok()) {
      node_chain = response->node();
      bundle = response->bundle();
      renewed = true;
    } else if (response.status().code() != absl::StatusCode::kUnauthenticated &&
               response.status().code() != absl::StatusCode::kPermissionDenied) {
      return response.status();
    } else {
      LogError("the CA refuses the node certificate; attesting again with the "
               "join token",
               {{"error", std::string(response.status().message())}});
    }
  }
  if (!renewed) {
    if (config_.join_token_file.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the node has no valid certificate and no join_token_file is "
          "configured; ",
          NewTokenHint(config_)));
    }
    absl::StatusOr<std::string> text = env_.fs->ReadFile(config_.join_token_file);
    if (!text.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read the join token: ", text.status().message(),
                       "; ", NewTokenHint(config_)));
    }
    pki::SecretString token(
        std::string(absl::StripAsciiWhitespace(*text)));
    pki::SecretString wipe(std::move(*text));
    if (token.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the join token file ", config_.join_token_file,
          " is empty (a token is used once); ", NewTokenHint(config_)));
    }
    absl::StatusOr<rotor::v1::AttestResponse> response =
        env_.ca->Attest(token, csr);
    if (!response.ok()) {
      const absl::StatusCode code = response.status().code();
      if (code == absl::StatusCode::kUnauthenticated ||
          code == absl::StatusCode::kPermissionDenied ||
          code == absl::StatusCode::kNotFound ||
          code == absl::StatusCode::kFailedPrecondition) {
        return absl::Status(code, absl::StrCat(response.status().message(),
                                               "; ", NewTokenHint(config_)));
      }
      return response.status();
    }
    node_chain = response->node();
    bundle = response->bundle();
    // The token is spent: empty its file so it is not tried again.
    if (::truncate(config_.join_token_file.c_str(), 0) == 0) {
      LogInfo("join token used; its file was emptied",
              {{"file", config_.join_token_file}});
    } else {
      LogInfo("join token used; its file is not writable, delete it",
              {{"file", config_.join_token_file}});
    }
  }
  ROTOR_ASSIGN_OR_RETURN(std::vector<pki::Certificate> chain,
                         ParseChain(node_chain, key));
  m.key = std::move(key);
  m.chain = std::move(chain);
  m.reissue = false;
  if (!m.chain.front().UriSans().empty()) {
    m.config.spiffe_id = m.chain.front().UriSans().front();
  }
  if (bundle.root_der_size() > 0) {
    absl::StatusOr<std::string> pem = BundleToPem(bundle);
    if (pem.ok() && *pem != roots_pem_) {
      HandleBundle(bundle);  // also sets the credentials
      return absl::OkStatus();
    }
  }
  ROTOR_ASSIGN_OR_RETURN(pki::SecretString key_pem, m.key->ToPem());
  return env_.ca->SetCredentials(roots_pem_, key_pem,
                                 pki::ChainToPem(m.chain));
}

absl::Status Agent::WriteFiles(Managed& m) {
  FileSet set;
  set.cert_pem = pki::ChainToPem(m.chain);
  ROTOR_ASSIGN_OR_RETURN(set.key_pem, m.key->ToPem());
  set.bundle_pem = roots_pem_;
  set.crl_pem = m.is_node ? "" : crl_pem_;
  WriteOptions options;
  options.key_mode = m.config.mode;
  if (m.is_node) options.dir_mode = 0700;
  if (!m.config.owner.empty()) {
    ROTOR_ASSIGN_OR_RETURN(options.uid, LookUpUser(m.config.owner));
  }
  if (!m.config.group.empty()) {
    ROTOR_ASSIGN_OR_RETURN(options.gid, LookUpGroup(m.config.group));
  }
  ROTOR_RETURN_IF_ERROR(writer_.Write(m.config.dir, set, options));
  m.files_bundle_pem = set.bundle_pem;
  m.files_crl_pem = set.crl_pem;
  return absl::OkStatus();
}

void Agent::RecordFailure(Managed& m, const absl::Status& status,
                          absl::Time now) {
  ++m.failures;
  m.last_error = std::string(status.message());
  const absl::Duration delay =
      m.schedule.OnFailure(now, status.code(), UniformDouble(*env_.random));
  LogWarning(IsRetryable(status.code()) ? "attempt failed; retrying with backoff"
                                        : "refused; retrying slowly",
             {{"name", m.config.name},
              {"code", absl::StatusCodeToString(status.code())},
              {"error", m.last_error},
              {"attempt", absl::StrCat(m.schedule.failures())},
              {"retry_in", FormatShortDuration(delay)}});
  if (!m.chain.empty() && m.schedule.Expired(now)) {
    LogError("the certificate on disk has expired and could not be renewed",
             {{"name", m.config.name},
              {"serial", m.serial()},
              {"not_after", FormatUtc(m.not_after())}});
  }
}

void Agent::QueueHook(const Managed& m, const std::string& reason) {
  if (m.config.on_rotate.empty()) return;
  HookJob job{m.config.on_rotate,
              HookContext{m.config.name, m.config.dir, m.serial(), reason}};
  if (threads_running_) {
    absl::MutexLock lock(&mu_);
    // A job for the same certificate that has not started yet covers this
    // change too (a rewrite does not hide the new certificate it waits to
    // report).
    for (HookJob& queued : hooks_) {
      if (queued.context.name == job.context.name) {
        job.context =
            CoalesceHookContexts(queued.context, std::move(job.context));
        queued = std::move(job);
        return;
      }
    }
    hooks_.push_back(std::move(job));
    hook_wake_.Signal();
    return;
  }
  std::string output;
  absl::Status status = env_.run_hook(job.hook, job.context, &output);
  Event done{Event::kHookDone, {}, job.context.name, status};
  if (!status.ok()) {
    LogError("on_rotate hook failed",
             {{"name", job.context.name}, {"error", std::string(status.message())}});
  }
  HandleEvent(done, env_.clock->Now());
}

void Agent::Process(Managed& m, absl::Time now) {
  m.write_now = false;
  m.attempted = true;
  std::string reason = m.write_reason;
  if (m.reissue || !m.key.has_value() || now >= m.schedule.renew_time()) {
    const bool first = !m.key.has_value() && m.disk_serial.empty();
    reason = m.reissue ? m.reissue_reason : "renewed";
    if (first) reason = "issued";
    absl::Status issued = m.is_node ? IssueNode(m, now) : Issue(m, now);
    if (!issued.ok()) {
      RecordFailure(m, issued, now);
      return;
    }
    ++m.rotations;
    m.write_reason = reason;
    m.schedule.OnIssued(IssuedAt(m.chain.front()), m.not_after(),
                        UniformDouble(*env_.random));
  }
  if (m.write_reason.empty()) return;
  reason = m.write_reason;
  absl::Status written = WriteFiles(m);
  if (!written.ok()) {
    RecordFailure(m, written, env_.clock->Now());
    return;
  }
  m.write_reason.clear();
  m.write_now = false;
  m.last_error.clear();
  if (m.disk_serial != m.serial()) {
    LogInfo("rotated", {{"name", m.config.name},
                        {"old_serial", m.disk_serial.empty() ? "-" : m.disk_serial},
                        {"new_serial", m.serial()},
                        {"not_after", FormatUtc(m.not_after())},
                        {"next_renewal", FormatUtc(m.schedule.renew_time())},
                        {"reason", reason}});
  } else {
    LogInfo("rewrote the files",
            {{"name", m.config.name}, {"serial", m.serial()}, {"reason", reason}});
  }
  m.disk_serial = m.serial();
  QueueHook(m, reason);
}

bool Agent::NodeReady(absl::Time now) const {
  return node_ != nullptr && node_->key.has_value() && !node_->reissue &&
         now < node_->not_after();
}

void Agent::CheckReady() {
  if (ready_) return;
  for (const auto& m : certs_) {
    if (!m->attempted && m->reissue) return;
  }
  ready_ = true;
  LogInfo("ready", {{"node", config_.node_name},
                    {"certificates", absl::StrCat(certs_.size())}});
  if (env_.on_ready) env_.on_ready();
}

absl::Time Agent::NextDeadline(absl::Time now) const {
  if (node_ == nullptr) return now;
  absl::Time next = node_->write_now ? now : node_->schedule.next_attempt();
  if (!NodeReady(now)) return next;
  for (const auto& m : certs_) {
    next = std::min(next, m->write_now ? now : m->schedule.next_attempt());
  }
  return next;
}

void Agent::Publish(absl::Time now) {
  auto snapshot = [](const Managed& m) {
    CertificateStatus s;
    s.name = m.config.name;
    s.spiffe_id = m.config.spiffe_id;
    s.dir = m.config.dir;
    s.serial = m.disk_serial;
    for (const pki::Certificate& c : m.chain) {
      if (c.SerialHex() == m.disk_serial) s.not_after = c.NotAfter();
    }
    s.next_renewal = m.schedule.next_attempt();
    s.last_error = m.last_error;
    s.rotations = m.rotations;
    s.failures = m.failures;
    s.hook_failures = m.hook_failures;
    return s;
  };
  AgentStatus status;
  status.pid = ::getpid();
  if (node_ != nullptr) status.node = snapshot(*node_);
  for (const auto& m : certs_) status.certificates.push_back(snapshot(*m));
  bool write = false;
  {
    absl::MutexLock lock(&mu_);
    AgentStatus previous = status_;
    previous.updated_at = absl::InfinitePast();
    write = !(previous == status);
    status.updated_at = now;
    status_ = status;
  }
  if (!write) return;
  absl::Status written = WriteFileAtomically(
      JoinPath(config_.state_dir, kStatusFile), StatusToJson(status), 0644);
  if (!written.ok()) {
    LogWarning("cannot write the status file",
               {{"error", std::string(written.message())}});
  }
}

AgentStatus Agent::Status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

void Agent::OnUpdate(const rotor::v1::Update& update) {
  absl::MutexLock lock(&mu_);
  events_.push_back(Event{Event::kUpdate, update, "", absl::OkStatus()});
  wake_.Signal();
}

void Agent::Reload(AgentConfig config) {
  absl::MutexLock lock(&mu_);
  pending_config_ = std::move(config);
  wake_.Signal();
}

void Agent::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    wake_.SignalAll();
    watch_wake_.SignalAll();
    hook_wake_.SignalAll();
  }
  env_.ca->CancelWatch();
}

absl::StatusOr<absl::Time> Agent::RunOnce() {
  if (!setup_done_) {
    ROTOR_RETURN_IF_ERROR(Setup());
    setup_done_ = true;
  }
  std::deque<Event> events;
  std::optional<AgentConfig> config;
  {
    absl::MutexLock lock(&mu_);
    events.swap(events_);
    config.swap(pending_config_);
  }
  absl::Time now = env_.clock->Now();
  if (config.has_value()) ApplyConfig(*std::move(config));
  for (Event& event : events) HandleEvent(event, now);

  if (roots_.empty()) {
    if (!node_->schedule.Due(now)) return NextDeadline(now);
    absl::Status trusted = EnsureTrust();
    if (!trusted.ok()) {
      node_->attempted = true;
      RecordFailure(*node_, trusted, now);
      Publish(now);
      return NextDeadline(now);
    }
  }
  for (auto& m : certs_) {
    if (!m->loaded) (void)LoadFromDisk(*m, now);
  }
  if (node_->write_now || node_->schedule.Due(now)) {
    Process(*node_, now);
  }
  if (NodeReady(env_.clock->Now())) {
    {
      absl::MutexLock lock(&mu_);
      if (!watch_enabled_) {
        watch_enabled_ = true;
        watch_wake_.Signal();
      }
    }
    for (auto& m : certs_) {
      now = env_.clock->Now();
      if (m->write_now || m->schedule.Due(now)) Process(*m, now);
    }
  }
  now = env_.clock->Now();
  Publish(now);
  // After Publish: once ready is announced, the status file is current.
  if (NodeReady(now)) CheckReady();
  return NextDeadline(now);
}

void Agent::WatchLoop(Backoff backoff, std::string ca) {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      while (!stop_ && !watch_enabled_) watch_wake_.Wait(&mu_);
      if (stop_) return;
    }
    bool got_message = false;
    absl::Status status = env_.ca->Watch([&](const rotor::v1::Update& update) {
      if (!got_message) {
        got_message = true;
        LogInfo("watching the CA for updates", {{"ca", ca}});
      }
      OnUpdate(update);
    });
    if (got_message) backoff.Reset();
    const absl::Duration delay =
        backoff.NextDelay(UniformDouble(*pki::SystemRandom()));
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    LogWarning("the update stream ended; reconnecting",
               {{"error", std::string(status.message())},
                {"retry_in", FormatShortDuration(delay)}});
    watch_wake_.WaitWithTimeout(&mu_, delay);
  }
}

void Agent::HookLoop() {
  while (true) {
    HookJob job;
    {
      absl::MutexLock lock(&mu_);
      while (!stop_ && hooks_.empty()) hook_wake_.Wait(&mu_);
      if (stop_) return;
      job = std::move(hooks_.front());
      hooks_.pop_front();
    }
    std::string output;
    absl::Status status = env_.run_hook(job.hook, job.context, &output);
    std::string shown(absl::StripAsciiWhitespace(output).substr(0, 512));
    if (status.ok()) {
      LogInfo("on_rotate hook ran", {{"name", job.context.name},
                                     {"reason", job.context.reason},
                                     {"output", shown}});
    } else {
      LogError("on_rotate hook failed", {{"name", job.context.name},
                                         {"reason", job.context.reason},
                                         {"error", std::string(status.message())}});
    }
    absl::MutexLock lock(&mu_);
    events_.push_back(Event{Event::kHookDone, {}, job.context.name, status});
    wake_.Signal();
  }
}

absl::Status Agent::Run() {
  // Setup failures no retry can fix end Run before any thread starts.
  if (!setup_done_) {
    ROTOR_RETURN_IF_ERROR(Setup());
    setup_done_ = true;
  }
  threads_running_ = true;
  // The watch thread gets its own copies: the loop may change config_.
  std::thread watch([this, backoff = Backoff(config_.backoff_initial,
                                              config_.backoff_max),
                     ca = config_.ca] { WatchLoop(backoff, ca); });
  std::thread hooks([this] { HookLoop(); });
  absl::Status result;
  absl::StatusOr<absl::Time> next = RunOnce();
  while (next.ok()) {
    {
      absl::MutexLock lock(&mu_);
      while (!stop_ && events_.empty() && !pending_config_.has_value()) {
        const absl::Duration wait = *next - env_.clock->Now();
        if (wait <= absl::ZeroDuration()) break;
        wake_.WaitWithTimeout(&mu_, wait);
      }
      if (stop_) break;
    }
    next = RunOnce();
  }
  if (!next.ok()) result = next.status();
  Stop();
  watch.join();
  hooks.join();
  threads_running_ = false;
  LogInfo("stopped");
  return result;
}

}  // namespace rotor::agent
