#include "tests/testing/ca_process.h"

#include <signal.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "util/file.h"

namespace rotor::testing {
namespace {

constexpr absl::string_view kReady = "rotor-ca: serving grpc=";

}  // namespace

CaProcess::CaProcess(std::string folder)
    : folder_(std::move(folder)),
      data_dir_(folder_ + "/ca"),
      out_path_(folder_ + "/ca.out"),
      log_path_(folder_ + "/ca.log") {}

CaProcess::~CaProcess() {
  if (process_.running()) Stop(absl::Seconds(10));
}

bool CaProcess::Init(absl::string_view trust_domain,
                     const std::vector<std::string>& extra_args) {
  std::string output;
  const std::string command =
      absl::StrCat(BinaryPath("rotor-ca"), " init --data-dir ", data_dir_,
                   " --trust-domain ", trust_domain, " ",
                   absl::StrJoin(extra_args, " "));
  if (RunCommand(command, &output) != 0) {
    ADD_FAILURE() << command << " failed:\n" << output;
    return false;
  }
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::StartsWith(line, "sha256:")) fingerprint_ = std::string(line);
  }
  if (fingerprint_.empty()) {
    ADD_FAILURE() << "init printed no fingerprint:\n" << output;
    return false;
  }
  return true;
}

bool CaProcess::SetConfig(absl::string_view key, absl::string_view value) {
  std::vector<std::string> lines =
      absl::StrSplit(ReadFileOrEmpty(config_path()), '\n');
  for (std::string& line : lines) {
    const absl::string_view body = absl::StripLeadingAsciiWhitespace(line);
    if (!absl::StartsWith(body, absl::StrCat(key, ":"))) continue;
    const std::string indent = line.substr(0, line.size() - body.size());
    line = absl::StrCat(indent, key, ": ", value);
    const absl::Status written =
        WriteFileAtomically(config_path(), absl::StrJoin(lines, "\n"), 0644);
    if (!written.ok()) {
      ADD_FAILURE() << written;
      return false;
    }
    return true;
  }
  ADD_FAILURE() << "no key " << key << " in " << config_path();
  return false;
}

bool CaProcess::Start(const std::vector<std::string>& extra_args,
                      absl::Duration timeout) {
  std::vector<std::string> argv = {BinaryPath("rotor-ca"), "serve",
                                   "--data-dir", data_dir_};
  // The defaults, unless extra_args names the flag (serve refuses a flag
  // given twice).
  for (const char* flag : {"--listen", "--http-listen"}) {
    if (std::find(extra_args.begin(), extra_args.end(), flag) ==
        extra_args.end()) {
      argv.insert(argv.end(), {flag, "127.0.0.1:0"});
    }
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  if (!process_.Start(argv, out_path_, log_path_)) return false;
  // Restarts append to ca.out: wait for one more ready line than before.
  std::string ready;
  const bool up = WaitFor(
      [&] {
        const std::string out = ReadFileOrEmpty(out_path_);
        size_t count = 0;
        for (absl::string_view line : absl::StrSplit(out, '\n')) {
          if (!absl::StartsWith(line, kReady)) continue;
          if (++count > ready_lines_seen_) {
            ready = std::string(line);
            return true;
          }
        }
        return !process_.running() || process_.Wait(absl::ZeroDuration()) != -1;
      },
      timeout);
  if (!up || ready.empty()) {
    ADD_FAILURE() << "rotor-ca serve did not become ready:\n"
                  << ReadFileOrEmpty(log_path_);
    return false;
  }
  ++ready_lines_seen_;
  // "rotor-ca: serving grpc=HOST:PORT http=HOST:PORT"
  const std::vector<std::string> fields = absl::StrSplit(ready, ' ');
  for (const std::string& field : fields) {
    if (absl::StartsWith(field, "grpc=")) grpc_address_ = field.substr(5);
    if (absl::StartsWith(field, "http=")) http_address_ = field.substr(5);
  }
  return !grpc_address_.empty() && !http_address_.empty();
}

int CaProcess::Stop(absl::Duration timeout) {
  if (!process_.running()) return -1;
  process_.Signal(SIGTERM);
  return process_.Wait(timeout);
}

void CaProcess::Kill() { process_.Kill(); }

int CaProcess::Ctl(const std::string& args, std::string* output) {
  std::string out;
  const int rc = RunCommand(
      absl::StrCat(BinaryPath("rotorctl"), " ", args, " --ca ", grpc_address_,
                   " --credentials ", admin_dir()),
      &out);
  if (output != nullptr) *output = std::move(out);
  return rc;
}

std::string CaProcess::MustCtl(const std::string& args) {
  std::string output;
  const int rc = Ctl(args, &output);
  EXPECT_EQ(rc, 0) << "rotorctl " << args << ":\n" << output;
  return output;
}

std::string CaProcess::CreateToken(absl::string_view node, absl::string_view ttl) {
  std::string output;
  // Only the token (stdout): the braces keep RunCommand's own 2>&1 from
  // bringing rotorctl's note on stderr back into the output.
  const int rc = RunCommand(
      absl::StrCat("{ ", BinaryPath("rotorctl"), " token create --node ", node,
                   " --ttl ", ttl, " --ca ", grpc_address_, " --credentials ",
                   admin_dir(), " 2>/dev/null; }"),
      &output);
  EXPECT_EQ(rc, 0) << output;
  return std::string(absl::StripAsciiWhitespace(output));
}

}  // namespace rotor::testing
