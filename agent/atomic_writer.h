// Atomic delivery of a certificate set to a folder that workloads read
// (docs/design.md, "Files on the shared volume"):
//
//   DIR/..2026_11_29_12_00_00.123456789-1a2b3c4d/{cert,key,bundle,crl}.pem
//   DIR/..data -> ..2026_11_29_12_00_00.123456789-1a2b3c4d
//   DIR/cert.pem -> ..data/cert.pem   (and key.pem, bundle.pem, crl.pem)
//
// Write() fills a new hidden folder, fsyncs the files and the folder,
// creates DIR/..data_tmp pointing at it and renames that over DIR/..data (the
// one atomic step), fsyncs DIR, makes sure the four top-level links exist,
// and removes the previous folder. A reader that opens DIR/cert.pem and then
// DIR/key.pem sees the old pair or the new pair; it sees a mixed pair only if
// a whole rotation happens between its two opens, which it can detect and
// retry (compare the ..data target before and after). It never sees a
// partial file.
//
// Thread-safety: an AtomicWriter may be shared; calls for the same DIR must
// not overlap (the agent writes each folder from one thread).
#ifndef ROTOR_AGENT_ATOMIC_WRITER_H_
#define ROTOR_AGENT_ATOMIC_WRITER_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/filesystem.h"
#include "pki/random.h"
#include "pki/secret.h"
#include "util/clock.h"

namespace rotor::agent {

inline constexpr char kCertFile[] = "cert.pem";
inline constexpr char kKeyFile[] = "key.pem";
inline constexpr char kBundleFile[] = "bundle.pem";
inline constexpr char kCrlFile[] = "crl.pem";
inline constexpr char kDataLink[] = "..data";
inline constexpr char kDataTmpLink[] = "..data_tmp";

// The contents of one certificate set.
struct FileSet {
  std::string cert_pem;        // leaf first, then the intermediates
  pki::SecretString key_pem;   // PKCS#8
  std::string bundle_pem;      // trust roots
  std::string crl_pem;         // every CRL of the chain; may be empty
};

struct WriteOptions {
  mode_t key_mode = 0600;
  mode_t cert_mode = 0644;     // cert.pem, bundle.pem, crl.pem
  mode_t dir_mode = 0755;      // DIR (when created) and each data folder
  uid_t uid = static_cast<uid_t>(-1);  // -1: leave the owner alone
  gid_t gid = static_cast<gid_t>(-1);
};

class AtomicWriter {
 public:
  // `fs`, `clock` and `random` must outlive the writer. The clock and random
  // source only name the data folders.
  AtomicWriter(Filesystem* fs, const Clock* clock, pki::Random* random)
      : fs_(fs), clock_(clock), random_(random) {}

  // Publishes `files` in `dir` (created with options.dir_mode if missing).
  // key.pem is created with options.key_mode before any byte is written.
  // On success the new set is visible and durable. On failure before the
  // ..data swap the previous set (if any) is untouched and the partial folder
  // is removed (best effort; leftovers are removed by the next Write). A
  // failure after the swap (fsync of DIR, a missing top-level link) returns
  // the error with the new set already visible; writing again is safe.
  // Removing the old folder is best effort and never fails the call.
  absl::Status Write(const std::string& dir, const FileSet& files,
                     const WriteOptions& options);

  // The folder ..data points to, relative to `dir` ("..2026_..."), or
  // NotFound if `dir` has no published set.
  absl::StatusOr<std::string> CurrentDataDir(const std::string& dir) const;

 private:
  // A fresh name "..<UTC timestamp>-<8 random hex digits>".
  absl::StatusOr<std::string> NewDataDirName();
  // Removes hidden data folders and temporary links in `dir` other than
  // `keep` (left by a crash or a failed cleanup).
  void RemoveStale(const std::string& dir, const std::string& keep);

  Filesystem* fs_;
  const Clock* clock_;
  pki::Random* random_;
};

// Reads the published set of `dir` through its top-level links. NotFound if
// there is none. The key is read last; callers that need a consistent pair
// compare CurrentDataDir before and after, or check that key and certificate
// match.
absl::StatusOr<FileSet> ReadFileSet(Filesystem& fs, const std::string& dir);

}  // namespace rotor::agent

#endif  // ROTOR_AGENT_ATOMIC_WRITER_H_
