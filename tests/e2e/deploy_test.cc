// The files under deploy/: the systemd units pass `systemd-analyze verify`
// and keep their hardening; every Kubernetes manifest parses and carries
// resources and probes; the example configs (deploy/etc, the ConfigMaps,
// the compose file's configs) are accepted by the real config loaders and
// agree with each other and with the units; the image's runtime packages
// hold every shared library the binaries link, and no other; the example
// workload's script makes a real nginx serve each certificate a real agent
// writes; and rotor-agent tells systemd READY=1 only once its certificates
// are on disk, as Type=notify needs. The image and the compose file are
// checked by reading them; no container is built or run.
//
// Tests that need a tool (systemd-analyze, ldd, dpkg, apt-cache, nginx) skip
// with a message naming it when it is missing.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/config.h"
#include "ca/config.h"
#include "ca/http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate.h"
#include "tests/testing/ca_process.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"
#include "yaml-cpp/yaml.h"

namespace rotor {
namespace {

using ::rotor::testing::BinaryPath;
using ::rotor::testing::CaProcess;
using ::rotor::testing::Process;
using ::rotor::testing::ReadFileOrEmpty;
using ::rotor::testing::RunCommand;
using ::rotor::testing::TempDir;
using ::rotor::testing::WaitFor;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string DeployPath(absl::string_view relative) {
  return absl::StrCat(ROTOR_SOURCE_DIR, "/deploy/", relative);
}

bool HaveTool(absl::string_view name) {
  std::string output;
  return RunCommand(absl::StrCat("command -v ", name), &output) == 0;
}

// Every document of a YAML file; a gtest failure naming the file and the
// line when it does not parse (yaml-cpp throws; nothing escapes here).
std::vector<YAML::Node> LoadYamlDocuments(const std::string& path) {
  const std::string text = ReadFileOrEmpty(path);
  EXPECT_FALSE(text.empty()) << path << " is missing or empty";
  try {
    std::vector<YAML::Node> documents = YAML::LoadAll(text);
    // A trailing "---" yields an empty document; it is not a manifest.
    documents.erase(std::remove_if(documents.begin(), documents.end(),
                                   [](const YAML::Node& d) { return d.IsNull(); }),
                    documents.end());
    return documents;
  } catch (const YAML::Exception& e) {
    ADD_FAILURE() << path << " line " << e.mark.line + 1 << ": " << e.msg;
    return {};
  }
}

// The HOST of "HOST:PORT".
std::string HostOf(absl::string_view address) {
  std::string host;
  int port = 0;
  EXPECT_OK(ca::SplitHostPort(address, &host, &port)) << address;
  return host;
}

// The token in rotorctl's output (stdout and stderr together): the line
// that starts with "rotor-".
std::string TokenIn(absl::string_view output) {
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::StartsWith(line, "rotor-")) return std::string(line);
  }
  ADD_FAILURE() << "no token in: " << output;
  return "";
}

TEST(DeployYamlTest, EveryYamlFileUnderDeployParses) {
  size_t files = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(DeployPath(""))) {
    const std::string extension = entry.path().extension();
    if (extension != ".yaml" && extension != ".yml") continue;
    ++files;
    EXPECT_FALSE(LoadYamlDocuments(entry.path()).empty()) << entry.path();
  }
  EXPECT_GE(files, 7u);
}

// --- systemd --------------------------------------------------------------

// The directives of a unit file, by key, in order of appearance ("" for an
// empty assignment such as `CapabilityBoundingSet=`).
std::multimap<std::string, std::string> UnitDirectives(const std::string& text) {
  std::multimap<std::string, std::string> directives;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#' || line[0] == ';' || line[0] == '[') continue;
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    directives.emplace(std::string(line.substr(0, eq)),
                       std::string(line.substr(eq + 1)));
  }
  return directives;
}

std::vector<std::string> ValuesOf(
    const std::multimap<std::string, std::string>& directives,
    const std::string& key) {
  std::vector<std::string> values;
  auto [begin, end] = directives.equal_range(key);
  for (auto it = begin; it != end; ++it) values.push_back(it->second);
  return values;
}

// Copies a unit into `dir` with /usr/bin/<binary> pointing at the built
// binary (systemd-analyze verify checks that ExecStart= is executable);
// returns the copy's path.
std::string CopyUnitWithBuiltBinaries(const std::string& unit, const TempDir& dir) {
  std::string text = ReadFileOrEmpty(DeployPath(absl::StrCat("systemd/", unit)));
  EXPECT_FALSE(text.empty()) << unit;
  text = absl::StrReplaceAll(
      text, {{"/usr/bin/rotor-ca ", absl::StrCat(BinaryPath("rotor-ca"), " ")},
             {"/usr/bin/rotor-agent ", absl::StrCat(BinaryPath("rotor-agent"), " ")}});
  const std::string copy = dir.Path(unit);
  EXPECT_OK(WriteFileAtomically(copy, text, 0644));
  return copy;
}

class SystemdUnitTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SystemdUnitTest, PassesSystemdAnalyzeVerify) {
  if (!HaveTool("systemd-analyze")) {
    GTEST_SKIP() << "systemd-analyze is not installed (Debian package systemd)";
  }
  TempDir tmp;
  const std::string unit = CopyUnitWithBuiltBinaries(GetParam(), tmp);
  std::string output;
  const int rc = RunCommand(
      absl::StrCat("cd ", tmp.path(), " && systemd-analyze verify --man=no ", unit),
      &output);
  EXPECT_EQ(rc, 0) << output;
  // Unknown keys and bad values are warnings with exit code 0: none at all.
  EXPECT_THAT(output, IsEmpty());
}

TEST_P(SystemdUnitTest, IsNotifyTypeWithItsOwnUserAndStateDirectory) {
  const auto d = UnitDirectives(ReadFileOrEmpty(DeployPath("systemd/" + GetParam())));
  EXPECT_THAT(ValuesOf(d, "Type"), ::testing::ElementsAre("notify"));
  const std::string daemon = GetParam().substr(0, GetParam().find('.'));
  EXPECT_THAT(ValuesOf(d, "User"), ::testing::ElementsAre(daemon));
  EXPECT_THAT(ValuesOf(d, "Group"), ::testing::ElementsAre(daemon));
  EXPECT_THAT(ValuesOf(d, "StateDirectory"), ::testing::ElementsAre(daemon));
  for (const char* key : {"NoNewPrivileges", "ProtectHome", "PrivateTmp",
                          "PrivateDevices", "RestrictSUIDSGID"}) {
    EXPECT_THAT(ValuesOf(d, key), ::testing::ElementsAre("yes")) << key;
  }
  EXPECT_THAT(ValuesOf(d, "ProtectSystem"), ::testing::ElementsAre("strict"));
  // The sysusers file creates the unit's user.
  EXPECT_THAT(ReadFileOrEmpty(DeployPath("systemd/rotor.sysusers.conf")),
              ::testing::ContainsRegex(absl::StrCat("\nu +", daemon, " ")));
}

TEST_P(SystemdUnitTest, ExposureStaysLowInSystemdAnalyzeSecurity) {
  if (!HaveTool("systemd-analyze")) {
    GTEST_SKIP() << "systemd-analyze is not installed (Debian package systemd)";
  }
  TempDir tmp;
  const std::string unit = CopyUnitWithBuiltBinaries(GetParam(), tmp);
  std::string output;
  const int rc = RunCommand(
      absl::StrCat("cd ", tmp.path(),
                   " && systemd-analyze security --offline=yes --no-pager ", unit),
      &output);
  if (rc != 0 && absl::StrContains(output, "offline")) {
    GTEST_SKIP() << "this systemd-analyze has no --offline security check: " << output;
  }
  ASSERT_EQ(rc, 0) << output;
  // "→ Overall exposure level for rotor-ca.service: 1.5 OK 🙂" (0 best, 10 worst).
  const std::string marker = absl::StrCat("exposure level for ", GetParam(), ": ");
  const size_t at = output.find(marker);
  ASSERT_NE(at, std::string::npos) << output;
  double exposure = 99;
  ASSERT_TRUE(absl::SimpleAtod(
      output.substr(at + marker.size(), output.find(' ', at + marker.size()) -
                                            at - marker.size()),
      &exposure))
      << output;
  // The CA has no capability at all; the agent keeps CAP_CHOWN and CAP_KILL.
  EXPECT_LE(exposure, GetParam() == "rotor-ca.service" ? 2.0 : 2.5) << output;
}

INSTANTIATE_TEST_SUITE_P(Units, SystemdUnitTest,
                         ::testing::Values("rotor-ca.service", "rotor-agent.service"),
                         [](const auto& param_info) {
                           return param_info.param == "rotor-ca.service" ? "Ca" : "Agent";
                         });

TEST(SystemdCaUnitTest, HasNoCapabilitiesAndWritesOnlyItsStateDirectory) {
  const auto d = UnitDirectives(ReadFileOrEmpty(DeployPath("systemd/rotor-ca.service")));
  EXPECT_THAT(ValuesOf(d, "CapabilityBoundingSet"), ::testing::ElementsAre(""));
  EXPECT_THAT(ValuesOf(d, "AmbientCapabilities"), ::testing::ElementsAre(""));
  EXPECT_THAT(ValuesOf(d, "ReadWritePaths"), IsEmpty());
  EXPECT_THAT(ValuesOf(d, "ExecStart"),
              ::testing::ElementsAre("/usr/bin/rotor-ca serve --data-dir "
                                     "/var/lib/rotor-ca --config /etc/rotor/ca.yaml"));
}

// --- the example configs in /etc/rotor ---------------------------------------

TEST(ExampleConfigTest, CaYamlLoadsAndHasEveryKeyInitWrites) {
  ASSERT_OK_AND_ASSIGN(ca::CaConfig config, ca::LoadCaConfig(DeployPath("etc/ca.yaml")));
  EXPECT_EQ(HostOf(config.listen), "0.0.0.0");
  EXPECT_THAT(config.server_names, Contains("localhost"))
      << "rotorctl on the CA host connects to localhost";

  // Same keys, nested ones included, as the file `rotor-ca init` writes.
  TempDir tmp;
  CaProcess ca(tmp.path());
  ASSERT_TRUE(ca.Init());
  auto keys = [](const YAML::Node& root) {
    std::vector<std::string> out;
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>();
      out.push_back(key);
      if (entry.second.IsMap()) {
        for (const auto& inner : entry.second) {
          out.push_back(absl::StrCat(key, ".", inner.first.as<std::string>()));
        }
      }
    }
    return out;
  };
  const std::vector<YAML::Node> init_docs = LoadYamlDocuments(ca.config_path());
  const std::vector<YAML::Node> example_docs = LoadYamlDocuments(DeployPath("etc/ca.yaml"));
  ASSERT_EQ(init_docs.size(), 1u);
  ASSERT_EQ(example_docs.size(), 1u);
  EXPECT_EQ(keys(example_docs[0]), keys(init_docs[0]));
}

TEST(ExampleConfigTest, AgentYamlLoadsAndMatchesTheUnitsAndTheCa) {
  ASSERT_OK_AND_ASSIGN(agent::AgentConfig config,
                       agent::LoadAgentConfig(DeployPath("etc/agent.yaml")));
  ASSERT_OK_AND_ASSIGN(ca::CaConfig ca_config, ca::LoadCaConfig(DeployPath("etc/ca.yaml")));
  // The agent reaches the CA by a name in its server certificate.
  EXPECT_THAT(ca_config.server_names, Contains(HostOf(config.ca)));
  EXPECT_THAT(config.ca, ::testing::EndsWith(ca_config.listen.substr(
                             ca_config.listen.rfind(':'))));

  // The unit gives the agent exactly the folders the config names.
  const auto unit =
      UnitDirectives(ReadFileOrEmpty(DeployPath("systemd/rotor-agent.service")));
  EXPECT_THAT(ValuesOf(unit, "ExecStart"),
              ::testing::ElementsAre("/usr/bin/rotor-agent run --config /etc/rotor/agent.yaml"));
  EXPECT_EQ(config.state_dir,
            absl::StrCat("/var/lib/", ValuesOf(unit, "StateDirectory").at(0)));
  const std::string runtime_dir =
      absl::StrCat("/run/", ValuesOf(unit, "RuntimeDirectory").at(0), "/");
  ASSERT_FALSE(config.certificates.empty());
  for (const agent::CertificateConfig& c : config.certificates) {
    EXPECT_TRUE(absl::StartsWith(c.dir, runtime_dir)) << c.dir;
    // A signal hook needs CAP_KILL; owner/group need CAP_CHOWN.
    if (!c.on_rotate.signal_name.empty()) {
      EXPECT_THAT(ValuesOf(unit, "AmbientCapabilities").at(0), HasSubstr("CAP_KILL"));
    }
    if (!c.owner.empty() || !c.group.empty()) {
      EXPECT_THAT(ValuesOf(unit, "AmbientCapabilities").at(0), HasSubstr("CAP_CHOWN"));
    }
  }
  EXPECT_THAT(ValuesOf(unit, "ReadWritePaths"),
              ::testing::ElementsAre(absl::StrCat("-", config.join_token_file)));
}

// --- Kubernetes --------------------------------------------------------------

std::vector<std::string> KubernetesManifests() {
  std::vector<std::string> paths;
  for (const auto& entry :
       std::filesystem::directory_iterator(DeployPath("kubernetes"))) {
    if (entry.path().extension() == ".yaml") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

// Every document of every manifest, keyed "Kind/name".
std::map<std::string, YAML::Node> KubernetesObjects() {
  std::map<std::string, YAML::Node> objects;
  for (const std::string& path : KubernetesManifests()) {
    for (const YAML::Node& doc : LoadYamlDocuments(path)) {
      if (!doc["kind"] || !doc["metadata"] || !doc["metadata"]["name"]) {
        ADD_FAILURE() << path << ": a document without kind or metadata.name";
        continue;
      }
      objects[absl::StrCat(doc["kind"].as<std::string>(), "/",
                           doc["metadata"]["name"].as<std::string>())] = doc;
    }
  }
  return objects;
}

const YAML::Node PodSpec(const YAML::Node& workload) {
  return workload["spec"]["template"]["spec"];
}

YAML::Node Container(const YAML::Node& workload, absl::string_view name) {
  for (const YAML::Node& c : PodSpec(workload)["containers"]) {
    if (c["name"].as<std::string>() == name) return c;
  }
  ADD_FAILURE() << "no container " << name;
  return YAML::Node();
}

std::string ConfigMapFile(const std::map<std::string, YAML::Node>& objects,
                          const std::string& name, const std::string& key) {
  auto it = objects.find("ConfigMap/" + name);
  if (it == objects.end() || !it->second["data"][key]) {
    ADD_FAILURE() << "no ConfigMap " << name << " with " << key;
    return "";
  }
  return it->second["data"][key].as<std::string>();
}

TEST(KubernetesTest, EveryManifestParsesAndEveryContainerHasResources) {
  const std::vector<std::string> paths = KubernetesManifests();
  ASSERT_GE(paths.size(), 3u);
  size_t workloads = 0;
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    const std::vector<YAML::Node> docs = LoadYamlDocuments(path);
    EXPECT_FALSE(docs.empty());
    for (const YAML::Node& doc : docs) {
      ASSERT_TRUE(doc.IsMap());
      ASSERT_TRUE(doc["apiVersion"]) << "a document without apiVersion";
      ASSERT_TRUE(doc["kind"]) << "a document without kind";
      const std::string kind = doc["kind"].as<std::string>();
      if (kind != "Deployment" && kind != "StatefulSet" && kind != "DaemonSet") continue;
      ++workloads;
      const YAML::Node spec = PodSpec(doc);
      ASSERT_TRUE(spec["containers"]) << kind;
      for (const char* list : {"initContainers", "containers"}) {
        for (const YAML::Node& c : spec[list]) {
          SCOPED_TRACE(c["name"].as<std::string>());
          for (const char* bound : {"requests", "limits"}) {
            EXPECT_TRUE(c["resources"][bound]["cpu"]) << bound;
            EXPECT_TRUE(c["resources"][bound]["memory"]) << bound;
          }
        }
      }
      for (const YAML::Node& c : spec["containers"]) {
        EXPECT_TRUE(c["readinessProbe"]) << c["name"].as<std::string>();
      }
    }
  }
  EXPECT_EQ(workloads, 3u) << "the CA, the agent and the example workload";
}

TEST(KubernetesTest, CaIsAStatefulSetWithAVolumeServiceAndProbes) {
  const auto objects = KubernetesObjects();
  ASSERT_TRUE(objects.count("StatefulSet/rotor-ca"));
  ASSERT_TRUE(objects.count("Service/rotor-ca"));
  const YAML::Node ca = objects.at("StatefulSet/rotor-ca");
  EXPECT_EQ(ca["spec"]["replicas"].as<int>(), 1);
  EXPECT_EQ(ca["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].as<std::string>(),
            "data");
  const YAML::Node c = Container(ca, "rotor-ca");
  for (const char* probe : {"startupProbe", "readinessProbe", "livenessProbe"}) {
    EXPECT_TRUE(c[probe]) << probe;
  }
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  EXPECT_TRUE(PodSpec(ca)["securityContext"]["runAsNonRoot"].as<bool>());

  // Its config loads, names the Service, and serves the ports the
  // Service targets.
  ASSERT_OK_AND_ASSIGN(
      ca::CaConfig config,
      ca::ParseCaConfig(ConfigMapFile(objects, "rotor-ca-config", "ca.yaml")));
  EXPECT_THAT(config.server_names, Contains("rotor-ca.rotor.svc"));
  std::set<std::string> ports;
  for (const YAML::Node& p : c["ports"]) {
    ports.insert(absl::StrCat(p["name"].as<std::string>(), ":",
                              p["containerPort"].as<int>()));
  }
  EXPECT_THAT(ports, ::testing::UnorderedElementsAre(
                         absl::StrCat("grpc", config.listen.substr(config.listen.rfind(':'))),
                         absl::StrCat("http", config.http_listen.substr(
                                                  config.http_listen.rfind(':')))));
  // The init container creates the CA with the config's trust domain.
  EXPECT_THAT(PodSpec(ca)["initContainers"][0]["args"][0].as<std::string>(),
              HasSubstr(absl::StrCat("--trust-domain ", config.trust_domain)));
}

TEST(KubernetesTest, AgentIsADaemonSetWritingTheHostCertFolderWithTokensFromASecret) {
  const auto objects = KubernetesObjects();
  ASSERT_TRUE(objects.count("DaemonSet/rotor-agent"));
  const YAML::Node agent = objects.at("DaemonSet/rotor-agent");
  std::map<std::string, YAML::Node> volumes;
  for (const YAML::Node& v : PodSpec(agent)["volumes"]) {
    volumes[v["name"].as<std::string>()] = v;
  }
  ASSERT_TRUE(volumes.count("certs"));
  EXPECT_EQ(volumes["certs"]["hostPath"]["path"].as<std::string>(), "/run/rotor/certs");
  ASSERT_TRUE(volumes.count("join-tokens"));
  EXPECT_EQ(volumes["join-tokens"]["secret"]["secretName"].as<std::string>(),
            "rotor-join-tokens");
  EXPECT_TRUE(Container(agent, "rotor-agent")["readinessProbe"]);

  // The template, filled in the way the init container fills it, loads; the
  // CA is reached by a name in its certificate; certificates go to the host
  // folder.
  const std::string yaml = absl::StrReplaceAll(
      ConfigMapFile(objects, "rotor-agent-config", "agent.yaml"),
      {{"@NODE_NAME@", "node-1"}, {"@TRUST_ANCHOR@", absl::StrCat("sha256:", std::string(64, 'a'))}});
  ASSERT_OK_AND_ASSIGN(agent::AgentConfig config, agent::ParseAgentConfig(yaml));
  EXPECT_EQ(config.node_name, "node-1");
  EXPECT_EQ(config.join_token_file, "/etc/rotor-join-tokens/node-1");
  ASSERT_OK_AND_ASSIGN(
      ca::CaConfig ca_config,
      ca::ParseCaConfig(ConfigMapFile(objects, "rotor-ca-config", "ca.yaml")));
  EXPECT_THAT(ca_config.server_names, Contains(HostOf(config.ca)));
  for (const agent::CertificateConfig& c : config.certificates) {
    EXPECT_TRUE(absl::StartsWith(c.dir, "/run/rotor/certs/")) << c.dir;
  }
}

TEST(KubernetesTest, WorkloadMountsTheCertFolderReadOnlyAndReloads) {
  const auto objects = KubernetesObjects();
  ASSERT_TRUE(objects.count("Deployment/web"));
  const YAML::Node web = objects.at("Deployment/web");
  const YAML::Node nginx = Container(web, "nginx");
  bool mounted = false;
  for (const YAML::Node& m : nginx["volumeMounts"]) {
    if (m["mountPath"].as<std::string>() != "/run/rotor/certs") continue;
    mounted = true;
    EXPECT_TRUE(m["readOnly"].as<bool>());
  }
  EXPECT_TRUE(mounted);
  EXPECT_THAT(ConfigMapFile(objects, "web-nginx", "run.sh"),
              HasSubstr("nginx $NGINX_ARGS -s reload"));
  EXPECT_THAT(ConfigMapFile(objects, "web-nginx", "default.conf"),
              HasSubstr("ssl_certificate_key    /run/rotor/certs/web/key.pem"));
}

// nginx cannot listen on port 0: a port the kernel just handed out and
// released (another process could take it in between; unlikely in a test).
int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(address.sin_port);
}

// The workload's script (the ConfigMap's run.sh, the same as compose's) with
// a real nginx and a real agent: nginx serves the agent's certificate and,
// once the agent replaces it (here: after a revocation), the new one.
TEST(WorkloadScriptTest, NginxServesTheNewCertificateOnceTheAgentReplacesIt) {
  std::string nginx;
  if (RunCommand("PATH=$PATH:/usr/sbin command -v nginx", &nginx) != 0) {
    GTEST_SKIP() << "nginx is not installed (Debian package nginx-light)";
  }
  const auto objects = KubernetesObjects();
  TempDir tmp;
  CaProcess ca(tmp.path());
  ASSERT_TRUE(ca.Init());
  ASSERT_TRUE(ca.Start());
  ca.MustCtl("entry create --node web-1 --spiffe-id spiffe://example.org/web "
             "--dns web.internal");
  ASSERT_OK(WriteFileAtomically(
      tmp.Path("token"), TokenIn(ca.MustCtl("token create --node web-1")) + "\n", 0600));
  const std::string cert_dir = tmp.Path("certs/web");
  ASSERT_OK(WriteFileAtomically(
      tmp.Path("agent.yaml"),
      absl::StrCat("ca: ", ca.grpc_address(), "\ntrust_anchor: ", ca.fingerprint(),
                   "\njoin_token_file: ", tmp.Path("token"),
                   "\nnode_name: web-1\nstate_dir: ", tmp.Path("state"),
                   "\nbackoff_initial: 200ms\nbackoff_max: 1s\ncertificates:\n"
                   "  - name: web\n    spiffe_id: spiffe://example.org/web\n"
                   "    dns_names: [web.internal]\n    dir: ",
                   cert_dir, "\n"),
      0644));
  Process agent;
  ASSERT_TRUE(agent.Start({BinaryPath("rotor-agent"), "run", "--config", tmp.Path("agent.yaml")},
                          tmp.Path("agent.out"), tmp.Path("agent.log")));
  auto file_fingerprint = [&]() -> std::string {
    absl::StatusOr<std::vector<pki::Certificate>> chain =
        pki::Certificate::LoadChain(cert_dir + "/cert.pem");
    return chain.ok() ? chain->front().Fingerprint() : "";
  };
  ASSERT_TRUE(WaitFor([&] { return !file_fingerprint().empty(); }, absl::Seconds(30)))
      << ReadFileOrEmpty(tmp.Path("agent.log"));

  // nginx with the workload's server block, moved to this test's folder.
  const int port = FreeLoopbackPort();
  ASSERT_NE(port, 0);
  const std::string site = absl::StrReplaceAll(
      ConfigMapFile(objects, "web-nginx", "default.conf"),
      {{"/run/rotor/certs/web", cert_dir},
       {"listen 8443 ssl;", absl::StrCat("listen 127.0.0.1:", port, " ssl;")}});
  ASSERT_OK(MakeDirectories(tmp.Path("nginx"), 0755));
  const std::string pid_file = tmp.Path("nginx/nginx.pid");
  ASSERT_OK(WriteFileAtomically(
      tmp.Path("nginx/nginx.conf"),
      absl::StrCat("pid ", pid_file, ";\nerror_log ", tmp.Path("nginx/error.log"),
                   ";\nevents {}\nhttp {\naccess_log off;\n", site, "}\n"),
      0644));
  ASSERT_OK(WriteFileAtomically(tmp.Path("run.sh"),
                                ConfigMapFile(objects, "web-nginx", "run.sh"), 0755));
  Process web;
  // The script's nginx outlives the script if the test fails half-way.
  absl::Cleanup stop_nginx = [&] {
    int pid = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFileOrEmpty(pid_file)), &pid) &&
        pid > 0) {
      kill(pid, SIGKILL);
    }
  };
  ASSERT_TRUE(web.Start(
      {"/bin/sh", tmp.Path("run.sh")}, tmp.Path("web.out"), tmp.Path("web.out"),
      {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", absl::StrCat("ROTOR_CERT_DIR=", cert_dir),
       "ROTOR_CHECK_SECONDS=1",
       absl::StrCat("NGINX_ARGS=-p ", tmp.Path("nginx"), "/ -c ", tmp.Path("nginx/nginx.conf"),
                    " -e ", tmp.Path("nginx/error.log"))}));
  auto served_fingerprint = [&]() -> std::string {
    std::string pem;
    RunCommand(absl::StrCat("openssl s_client -connect 127.0.0.1:", port,
                            " -servername web.internal </dev/null 2>/dev/null"
                            " | openssl x509"),
               &pem);
    absl::StatusOr<pki::Certificate> served = pki::Certificate::FromPem(pem);
    return served.ok() ? served->Fingerprint() : "";
  };
  const std::string first = file_fingerprint();
  ASSERT_TRUE(WaitFor([&] { return served_fingerprint() == first; }, absl::Seconds(30)))
      << ReadFileOrEmpty(tmp.Path("web.out")) << ReadFileOrEmpty(tmp.Path("nginx/error.log"));

  // A revocation makes the agent re-key at once: new files, then nginx
  // serves them after its reload.
  ASSERT_OK_AND_ASSIGN(std::vector<pki::Certificate> chain,
                       pki::Certificate::LoadChain(cert_dir + "/cert.pem"));
  ca.MustCtl("cert revoke " + chain.front().SerialHex());
  ASSERT_TRUE(WaitFor(
      [&] { return !file_fingerprint().empty() && file_fingerprint() != first; },
      absl::Seconds(30)))
      << ReadFileOrEmpty(tmp.Path("agent.log"));
  const std::string second = file_fingerprint();
  EXPECT_TRUE(WaitFor([&] { return served_fingerprint() == second; }, absl::Seconds(30)))
      << ReadFileOrEmpty(tmp.Path("web.out")) << ReadFileOrEmpty(tmp.Path("nginx/error.log"));
  EXPECT_THAT(ReadFileOrEmpty(tmp.Path("web.out")),
              HasSubstr("certificates rotated"));

  // SIGTERM: nginx quits gracefully (its pid file goes) and the script exits 0.
  web.Signal(SIGTERM);
  EXPECT_EQ(web.Wait(absl::Seconds(30)), 0) << ReadFileOrEmpty(tmp.Path("web.out"));
  EXPECT_TRUE(WaitFor([&] { return ReadFileOrEmpty(pid_file).empty(); }, absl::Seconds(10)));
}

// --- compose and the image -----------------------------------------------------

TEST(ComposeTest, RunsACaTwoAgentsAndNginxSharingTheCertVolume) {
  const std::vector<YAML::Node> docs = LoadYamlDocuments(DeployPath("compose.yaml"));
  ASSERT_EQ(docs.size(), 1u);
  const YAML::Node services = docs[0]["services"];
  for (const char* name : {"ca-init", "ca", "bootstrap", "agent-1", "agent-2", "nginx"}) {
    EXPECT_TRUE(services[name]) << name;
  }
  auto volumes_of = [&](const char* service) {
    std::set<std::string> names;
    for (const YAML::Node& v : services[service]["volumes"]) {
      const std::string volume = v.as<std::string>();  // "NAME:PATH[:ro]"
      names.insert(volume.substr(0, volume.find(':')));
    }
    return names;
  };
  EXPECT_THAT(volumes_of("agent-1"), Contains("certs"));
  EXPECT_THAT(volumes_of("nginx"), Contains("certs"));
  EXPECT_THAT(services["nginx"]["volumes"][0].as<std::string>(),
              ::testing::EndsWith(":ro"));

  // The configs load (compose turns "$$" into "$"), and each agent, its
  // own node, reaches the CA by a name in its certificate.
  const YAML::Node configs = docs[0]["configs"];
  auto content = [&](const char* name) {
    return absl::StrReplaceAll(configs[name]["content"].as<std::string>(), {{"$$", "$"}});
  };
  ASSERT_OK_AND_ASSIGN(ca::CaConfig ca_config, ca::ParseCaConfig(content("ca-config")));
  std::set<std::string> nodes;
  for (const char* name : {"agent-1-config", "agent-2-config"}) {
    ASSERT_OK_AND_ASSIGN(agent::AgentConfig config,
                         agent::ParseAgentConfig(content(name)));
    EXPECT_THAT(ca_config.server_names, Contains(HostOf(config.ca)));
    nodes.insert(config.node_name);
  }
  EXPECT_THAT(nodes, ::testing::ElementsAre("agent-1", "agent-2"));
}

// The runtime stage's `apt-get install` list.
std::vector<std::string> RuntimePackages(const std::string& dockerfile) {
  const size_t runtime = dockerfile.rfind("\nFROM ");
  const size_t install = dockerfile.find("apt-get install", runtime);
  const size_t end = dockerfile.find("&&", install);
  std::vector<std::string> packages;
  for (absl::string_view word : absl::StrSplit(
           dockerfile.substr(install, end - install), absl::ByAnyChar(" \\\n"),
           absl::SkipEmpty())) {
    if (word == "apt-get" || word == "install" || absl::StartsWith(word, "-")) continue;
    packages.emplace_back(word);
  }
  return packages;
}

TEST(DockerfileTest, RuntimeStageInstallsEveryLibraryTheBinariesLink) {
  for (const char* tool : {"ldd", "dpkg", "apt-cache"}) {
    if (!HaveTool(tool)) GTEST_SKIP() << tool << " is not installed";
  }
  const std::string dockerfile = ReadFileOrEmpty(DeployPath("Dockerfile"));
  EXPECT_THAT(dockerfile, HasSubstr("\nFROM debian:12 AS build\n"));
  EXPECT_THAT(dockerfile, HasSubstr("\nFROM debian:12-slim\n"));
  EXPECT_THAT(dockerfile, HasSubstr("\nUSER 10001:10001\n"));
  const std::vector<std::string> packages = RuntimePackages(dockerfile);
  ASSERT_THAT(packages, Contains("libgrpc++1.51"));

  // Everything the listed packages pull in, and what debian:12-slim has.
  std::string closure;
  ASSERT_EQ(RunCommand(absl::StrCat("apt-cache depends --recurse --no-recommends "
                                    "--no-suggests --no-conflicts --no-breaks "
                                    "--no-replaces --no-enhances ",
                                    absl::StrJoin(packages, " "),
                                    " | grep -v '^ '"),
                       &closure),
            0)
      << closure;
  if (absl::StrContains(closure, "Unable to locate package") ||
      absl::StrContains(closure, "No packages found")) {
    GTEST_SKIP() << "apt's package lists are missing (run apt-get update): " << closure;
  }
  std::set<std::string> available;
  for (absl::string_view p : absl::StrSplit(closure, '\n', absl::SkipEmpty())) {
    available.insert(std::string(p.substr(0, p.find(':'))));
  }
  for (const char* base : {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}) {
    available.insert(base);  // in every Debian image
  }

  // The package of each library the binaries load. dpkg knows a file by the
  // path its package ships it at: /lib/... or /usr/lib/... (merged /usr).
  std::string ldd;
  ASSERT_EQ(RunCommand(absl::StrCat("ldd ", BinaryPath("rotor-ca"), " ",
                                    BinaryPath("rotor-agent"), " ",
                                    BinaryPath("rotorctl"),
                                    " | awk '/=> \\// {print $3}' | sort -u"),
                       &ldd),
            0)
      << ldd;
  if (absl::StrContains(ldd, "libasan") || absl::StrContains(ldd, "libubsan")) {
    GTEST_SKIP() << "a sanitizer build: the binaries link the sanitizer runtimes, "
                    "which the image's (a Release build) do not";
  }
  std::vector<std::vector<std::string>> libraries;  // each: its candidate paths
  std::string all_candidates;
  for (absl::string_view library : absl::StrSplit(ldd, '\n', absl::SkipEmpty())) {
    std::vector<std::string> candidates = {std::string(library)};
    std::error_code error;
    const std::string real = std::filesystem::canonical(std::string(library), error);
    if (!error) candidates.push_back(real);
    for (size_t i = 0, n = candidates.size(); i < n; ++i) {
      const std::string c = candidates[i];
      if (absl::StartsWith(c, "/usr/lib/")) candidates.push_back(c.substr(4));
      if (absl::StartsWith(c, "/lib/")) candidates.push_back("/usr" + c);
    }
    for (const std::string& c : candidates) absl::StrAppend(&all_candidates, " ", c);
    libraries.push_back(std::move(candidates));
  }
  // One dpkg call for all ("PACKAGE:ARCH: PATH" per path it knows; the
  // others are errors, hence no exit code check).
  std::string owners;
  RunCommand(absl::StrCat("dpkg -S", all_candidates), &owners);
  std::map<std::string, std::string> package_of;
  for (absl::string_view line : absl::StrSplit(owners, '\n', absl::SkipEmpty())) {
    const size_t path = line.find(": /");
    if (path == absl::string_view::npos) continue;
    package_of[std::string(line.substr(path + 2))] =
        std::string(line.substr(0, line.find(':')));
  }
  std::set<std::string> needed;
  for (const std::vector<std::string>& candidates : libraries) {
    std::string package;
    for (const std::string& c : candidates) {
      if (package.empty() && package_of.count(c)) package = package_of[c];
    }
    EXPECT_FALSE(package.empty()) << "no Debian package ships " << candidates.front();
    if (!package.empty()) needed.insert(package);
  }
  ASSERT_THAT(needed, Contains("libgrpc++1.51"));
  for (const std::string& package : needed) {
    EXPECT_TRUE(available.count(package))
        << package << " provides a library the binaries link, but the runtime "
        << "stage neither installs it nor pulls it in";
  }
  // And nothing more: each package listed holds a library they link.
  for (const std::string& package : packages) {
    EXPECT_TRUE(needed.count(package))
        << package << " is installed in the runtime stage but no binary links a "
        << "library of it; drop it from deploy/Dockerfile";
  }
}

// --- sd_notify from rotor-agent -----------------------------------------------

// The datagram socket systemd passes in NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    EXPECT_LT(path.size(), sizeof(addr.sun_path));
    std::memcpy(addr.sun_path, path.c_str(), std::min(path.size() + 1, sizeof(addr.sun_path)));
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
        << std::strerror(errno);
  }
  ~NotifySocket() { close(fd_); }

  // The next message, or "" after `timeout`.
  std::string Receive(absl::Duration timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) <= 0) return "";
    char buf[512];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, n) : "";
  }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST(AgentNotifyTest, TellsSystemdReadyOnlyOnceItsCertificatesAreWritten) {
  TempDir tmp;
  CaProcess ca(tmp.path());
  ASSERT_TRUE(ca.Init());
  ASSERT_TRUE(ca.Start());
  ca.MustCtl("entry create --node web-1 --spiffe-id spiffe://example.org/web "
             "--dns web.internal");
  ASSERT_OK(WriteFileAtomically(
      tmp.Path("token"), TokenIn(ca.MustCtl("token create --node web-1")) + "\n", 0600));
  const std::string cert_dir = tmp.Path("certs/web");
  ASSERT_OK(WriteFileAtomically(
      tmp.Path("agent.yaml"),
      absl::StrCat("ca: ", ca.grpc_address(), "\ntrust_anchor: ", ca.fingerprint(),
                   "\njoin_token_file: ", tmp.Path("token"),
                   "\nnode_name: web-1\nstate_dir: ", tmp.Path("state"),
                   "\nbackoff_initial: 200ms\nbackoff_max: 1s\ncertificates:\n"
                   "  - name: web\n    spiffe_id: spiffe://example.org/web\n"
                   "    dns_names: [web.internal]\n    dir: ",
                   cert_dir, "\n"),
      0644));

  NotifySocket notify(tmp.Path("notify.sock"));
  Process agent;
  ASSERT_TRUE(agent.Start({BinaryPath("rotor-agent"), "run", "--config", tmp.Path("agent.yaml")},
                          tmp.Path("agent.out"), tmp.Path("agent.log"),
                          {absl::StrCat("NOTIFY_SOCKET=", tmp.Path("notify.sock"))}));
  EXPECT_EQ(notify.Receive(absl::Seconds(30)), "READY=1")
      << ReadFileOrEmpty(tmp.Path("agent.log"));
  // By then the workload's files and the node's identity are in place.
  ASSERT_OK_AND_ASSIGN(std::vector<pki::Certificate> chain,
                       pki::Certificate::LoadChain(cert_dir + "/cert.pem"));
  EXPECT_THAT(chain.front().UriSans(), ::testing::ElementsAre("spiffe://example.org/web"));
  EXPECT_NE(ReadFileOrEmpty(cert_dir + "/key.pem"), "");
  EXPECT_NE(ReadFileOrEmpty(tmp.Path("state/node/cert.pem")), "");

  agent.Signal(SIGTERM);
  EXPECT_EQ(notify.Receive(absl::Seconds(30)), "STOPPING=1");
  EXPECT_EQ(agent.Wait(absl::Seconds(30)), 0) << ReadFileOrEmpty(tmp.Path("agent.log"));
}

}  // namespace
}  // namespace rotor
