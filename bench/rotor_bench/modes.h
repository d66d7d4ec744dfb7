// The modes of rotor-bench, each a command with its own flags and --help.
// Each returns the process exit code: 0 measured and reported, 1 the run
// failed (message on stderr), 2 a usage error.
#ifndef ROTOR_BENCH_ROTOR_BENCH_MODES_H_
#define ROTOR_BENCH_ROTOR_BENCH_MODES_H_

#include <string>
#include <vector>

namespace rotor::bench {

// End-to-end issuance over mTLS against a running CA (issue.cc).
int RunIssue(const std::vector<std::string>& args);
// The crypto limit and the in-process issuance path on one core (crypto.cc).
int RunCrypto(const std::vector<std::string>& args);
// Many WatchUpdates streams; revoke -> notification latency (watch.cc).
int RunWatch(const std::vector<std::string>& args);
// The store at scale: fill, list, CRL, CA start-up (store.cc).
int RunStore(const std::vector<std::string>& args);

}  // namespace rotor::bench

#endif  // ROTOR_BENCH_ROTOR_BENCH_MODES_H_
