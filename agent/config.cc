#include "agent/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/hooks.h"
#include "pki/certificate.h"
#include "pki/fingerprint.h"
#include "pki/spiffe_id.h"
#include "util/command_line.h"
#include "util/file.h"
#include "util/status_macros.h"
#include "util/yaml_reader.h"

namespace rotor::agent {
namespace {

// Names used as file or hook identifiers: letters, digits, '.', '-', '_'.
bool IsPlainName(absl::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
  });
}

absl::Status ValidateHostPort(absl::string_view address) {
  size_t colon = address.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port <= 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", address, "\" must be HOST:PORT, e.g. 127.0.0.1:8443"));
  }
  return absl::OkStatus();
}

absl::Status ParseHook(const YamlReader& r, const YAML::Node& node,
                       const std::string& where, HookConfig* hook) {
  std::map<std::string, YamlReader::Handler> signal = {
      {"name",
       [&](const YAML::Node& n) {
         ROTOR_RETURN_IF_ERROR(
             r.NonEmptyString(n, where + ".signal.name", &hook->signal_name));
         absl::StatusOr<int> number = ParseSignalName(hook->signal_name);
         if (!number.ok()) {
           return r.Error(n, where + ".signal.name", number.status().message());
         }
         hook->signal_number = *number;
         return absl::OkStatus();
       }},
      {"pid_file",
       [&](const YAML::Node& n) {
         return r.NonEmptyString(n, where + ".signal.pid_file",
                                 &hook->pid_file);
       }},
  };
  std::map<std::string, YamlReader::Handler> keys = {
      {"exec",
       [&](const YAML::Node& n) {
         ROTOR_RETURN_IF_ERROR(r.StringList(n, where + ".exec", "[/usr/sbin/nginx, -s, reload]", &hook->exec));
         if (hook->exec.empty()) {
           return r.Error(n, where + ".exec",
                          "needs the program and its arguments, e.g. "
                          "[\"/usr/sbin/nginx\", \"-s\", \"reload\"]");
         }
         return absl::OkStatus();
       }},
      {"signal",
       [&](const YAML::Node& n) {
         ROTOR_RETURN_IF_ERROR(r.Map(n, where + ".signal", signal));
         if (hook->signal_name.empty() || hook->pid_file.empty()) {
           return r.Error(n, where + ".signal",
                          "needs both name and pid_file, e.g. {name: HUP, "
                          "pid_file: /run/nginx.pid}");
         }
         return absl::OkStatus();
       }},
      {"timeout",
       [&](const YAML::Node& n) {
         return r.PositiveDuration(n, where + ".timeout", &hook->timeout);
       }},
  };
  ROTOR_RETURN_IF_ERROR(r.Map(node, where, keys));
  if (!hook->exec.empty() && !hook->signal_name.empty()) {
    return r.Error(node, where, "set either exec or signal, not both");
  }
  if (hook->empty()) {
    return r.Error(node, where, "needs exec or signal");
  }
  return absl::OkStatus();
}

absl::Status ParseCertificate(const YamlReader& r, const YAML::Node& node,
                              size_t index, CertificateConfig* c) {
  const std::string where = absl::StrCat("certificates[", index, "]");
  auto key = [&](absl::string_view k) { return absl::StrCat(where, ".", k); };
  using N = const YAML::Node&;
  std::map<std::string, YamlReader::Handler> keys = {
      {"name",
       [&](N n) {
         ROTOR_RETURN_IF_ERROR(r.NonEmptyString(n, key("name"), &c->name));
         if (!IsPlainName(c->name)) {
           return r.Error(n, key("name"),
                          absl::StrCat("\"", c->name,
                                       "\" may use only letters, digits, "
                                       "'.', '-' and '_'"));
         }
         return absl::OkStatus();
       }},
      {"spiffe_id",
       [&](N n) {
         ROTOR_RETURN_IF_ERROR(
             r.NonEmptyString(n, key("spiffe_id"), &c->spiffe_id));
         absl::StatusOr<pki::SpiffeId> id = pki::SpiffeId::Parse(c->spiffe_id);
         if (!id.ok()) return r.Error(n, key("spiffe_id"), id.status().message());
         return absl::OkStatus();
       }},
      {"dns_names",
       [&](N n) {
         ROTOR_RETURN_IF_ERROR(r.StringList(n, key("dns_names"), "[web.internal]", &c->dns_names));
         for (const std::string& name : c->dns_names) {
           absl::Status valid = pki::ValidateDnsName(name, true);
           if (!valid.ok()) return r.Error(n, key("dns_names"), valid.message());
         }
         return absl::OkStatus();
       }},
      {"key_type",
       [&](N n) {
         std::string text;
         ROTOR_RETURN_IF_ERROR(r.NonEmptyString(n, key("key_type"), &text));
         absl::StatusOr<pki::KeyType> type = pki::ParseKeyType(text);
         if (!type.ok()) {
           return r.Error(n, key("key_type"), type.status().message());
         }
         c->key_type = *type;
         return absl::OkStatus();
       }},
      {"ttl", [&](N n) { return r.PositiveDuration(n, key("ttl"), &c->ttl); }},
      {"dir",
       [&](N n) {
         ROTOR_RETURN_IF_ERROR(r.NonEmptyString(n, key("dir"), &c->dir));
         while (c->dir.size() > 1 && c->dir.back() == '/') c->dir.pop_back();
         return absl::OkStatus();
       }},
      {"mode",
       [&](N n) {
         std::string text;
         ROTOR_RETURN_IF_ERROR(r.NonEmptyString(n, key("mode"), &text));
         absl::StatusOr<mode_t> mode = ParseFileMode(text);
         if (!mode.ok()) return r.Error(n, key("mode"), mode.status().message());
         c->mode = *mode;
         return absl::OkStatus();
       }},
      {"owner", [&](N n) { return r.NonEmptyString(n, key("owner"), &c->owner); }},
      {"group", [&](N n) { return r.NonEmptyString(n, key("group"), &c->group); }},
      {"on_rotate",
       [&](N n) { return ParseHook(r, n, key("on_rotate"), &c->on_rotate); }},
  };
  ROTOR_RETURN_IF_ERROR(r.Map(node, where, keys));
  for (absl::string_view required : {"name", "spiffe_id", "dir"}) {
    if (!node[std::string(required)]) {
      return r.Error(node, where,
                     absl::StrCat("missing required key \"", required, "\""));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<AgentConfig> ParseNode(const YamlReader& r, const YAML::Node& root) {
  AgentConfig c;
  using N = const YAML::Node&;
  std::map<std::string, YamlReader::Handler> top = {
      {"ca",
       [&](N n) {
         ROTOR_RETURN_IF_ERROR(r.NonEmptyString(n, "ca", &c.ca));
         absl::Status valid = ValidateHostPort(c.ca);
         if (!valid.ok()) return r.Error(n, "ca", valid.message());
         return absl::OkStatus();
       }},
      {"trust_anchor",
       [&](N n) {
         ROTOR_RETURN_IF_ERROR(
             r.NonEmptyString(n, "trust_anchor", &c.trust_anchor));
         if (absl::StartsWithIgnoreCase(c.trust_anchor, "sha256:")) {
           absl::StatusOr<std::string> fp =
               pki::NormalizeFingerprint(c.trust_anchor);
           if (!fp.ok()) return r.Error(n, "trust_anchor", fp.status().message());
           c.trust_anchor = *fp;
         }
         return absl::OkStatus();
       }},
      {"join_token_file",
       [&](N n) {
         return r.NonEmptyString(n, "join_token_file", &c.join_token_file);
       }},
      {"node_name",
       [&](N n) {
         ROTOR_RETURN_IF_ERROR(r.NonEmptyString(n, "node_name", &c.node_name));
         if (!IsPlainName(c.node_name)) {
           return r.Error(n, "node_name",
                          absl::StrCat("\"", c.node_name,
                                       "\" may use only letters, digits, "
                                       "'.', '-' and '_'"));
         }
         return absl::OkStatus();
       }},
      {"state_dir",
       [&](N n) { return r.NonEmptyString(n, "state_dir", &c.state_dir); }},
      {"renew_at",
       [&](N n) {
         std::string text;
         ROTOR_RETURN_IF_ERROR(r.NonEmptyString(n, "renew_at", &text));
         if (!absl::SimpleAtod(text, &c.renew_at) || !(c.renew_at > 0) ||
             !(c.renew_at < 1)) {
           return r.Error(n, "renew_at",
                          absl::StrCat("\"", text,
                                       "\" must be a fraction of the lifetime "
                                       "between 0 and 1, e.g. 0.5"));
         }
         return absl::OkStatus();
       }},
      {"backoff_initial",
       [&](N n) { return r.PositiveDuration(n, "backoff_initial", &c.backoff_initial); }},
      {"backoff_max",
       [&](N n) { return r.PositiveDuration(n, "backoff_max", &c.backoff_max); }},
      {"rpc_timeout",
       [&](N n) { return r.PositiveDuration(n, "rpc_timeout", &c.rpc_timeout); }},
      {"certificates",
       [&](N n) {
         if (n.IsNull()) return absl::OkStatus();
         if (!n.IsSequence()) {
           return r.Error(n, "certificates",
                          "expected a list of certificates (- name: ...)");
         }
         std::set<std::string> names;
         std::set<std::string> dirs;
         size_t index = 0;
         for (const YAML::Node& item : n) {
           CertificateConfig cert;
           ROTOR_RETURN_IF_ERROR(ParseCertificate(r, item, index, &cert));
           if (!names.insert(cert.name).second) {
             return r.Error(item, absl::StrCat("certificates[", index, "].name"),
                            absl::StrCat("\"", cert.name,
                                         "\" is used by another certificate"));
           }
           if (!dirs.insert(cert.dir).second) {
             return r.Error(item, absl::StrCat("certificates[", index, "].dir"),
                            absl::StrCat(cert.dir,
                                         " is used by another certificate"));
           }
           c.certificates.push_back(std::move(cert));
           ++index;
         }
         return absl::OkStatus();
       }},
  };
  ROTOR_RETURN_IF_ERROR(r.Map(root, "", top));
  for (absl::string_view required :
       {"ca", "trust_anchor", "node_name", "state_dir"}) {
    if (!root[std::string(required)]) {
      return absl::InvalidArgumentError(absl::StrCat(
          r.source(), ": missing required key \"", required, "\""));
    }
  }
  if (c.backoff_max < c.backoff_initial) {
    return r.Error(root["backoff_max"], "backoff_max",
                   absl::StrCat("(", FormatDurationFlag(c.backoff_max),
                                ") is below backoff_initial (",
                                FormatDurationFlag(c.backoff_initial), ")"));
  }
  return c;
}

}  // namespace

bool CertificateConfig::SameIdentity(const CertificateConfig& other) const {
  std::set<std::string> a(dns_names.begin(), dns_names.end());
  std::set<std::string> b(other.dns_names.begin(), other.dns_names.end());
  return spiffe_id == other.spiffe_id && a == b && key_type == other.key_type;
}

absl::StatusOr<mode_t> ParseFileMode(absl::string_view text) {
  unsigned mode = 0;
  bool ok = !text.empty() && text.size() <= 4;
  for (char ch : text) {
    if (ch < '0' || ch > '7') ok = false;
    if (ok) mode = mode * 8 + static_cast<unsigned>(ch - '0');
  }
  if (!ok || mode > 0777) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\" is not an octal file mode such as \"0600\" or \"0640\""));
  }
  return static_cast<mode_t>(mode);
}

absl::StatusOr<AgentConfig> ParseAgentConfig(absl::string_view yaml,
                                             absl::string_view source) {
  YamlReader r(source);
  // yaml-cpp reports errors by throwing; nothing it throws leaves here.
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    if (!root.IsDefined() || root.IsNull()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, " is empty; it needs at least ca, trust_anchor, node_name "
                  "and state_dir"));
    }
    return ParseNode(r, root);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, " line ", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
}

absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path) {
  ROTOR_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 1 << 20));
  return ParseAgentConfig(text, path);
}

absl::StatusOr<std::vector<std::string>> TrustAnchorFingerprints(
    const AgentConfig& config) {
  if (absl::StartsWith(config.trust_anchor, "sha256:")) {
    return std::vector<std::string>{config.trust_anchor};
  }
  absl::StatusOr<std::vector<pki::Certificate>> roots =
      pki::Certificate::LoadChain(config.trust_anchor);
  if (!roots.ok()) {
    return absl::Status(roots.status().code(),
                        absl::StrCat("trust_anchor: ", roots.status().message()));
  }
  std::vector<std::string> out;
  for (const pki::Certificate& root : *roots) out.push_back(root.Fingerprint());
  return out;
}

}  // namespace rotor::agent
