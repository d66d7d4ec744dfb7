// The layout of a CA data folder (docs/design.md, `rotor-ca init`):
//   DIR/ca/root.crt, root.key            self-signed root (no key with upstream)
//   DIR/ca/intermediate.crt, .key        the signing CA
//   DIR/store/                           LMDB environment
//   DIR/admin/admin.crt, admin.key, bundle.crt   rotorctl credentials
//   DIR/ca.yaml                          configuration
//   DIR/server/lock                      held by whoever uses the folder
//                                        (serve, restore)
#ifndef ROTOR_CA_DATA_DIR_H_
#define ROTOR_CA_DATA_DIR_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "util/file.h"

namespace rotor::ca {

struct DataDir {
  std::string root;

  std::string CaDir() const { return JoinPath(root, "ca"); }
  std::string RootCert() const { return JoinPath(CaDir(), "root.crt"); }
  std::string RootKey() const { return JoinPath(CaDir(), "root.key"); }
  std::string IntermediateCert() const {
    return JoinPath(CaDir(), "intermediate.crt");
  }
  std::string IntermediateKey() const {
    return JoinPath(CaDir(), "intermediate.key");
  }
  std::string StoreDir() const { return JoinPath(root, "store"); }
  std::string AdminDir() const { return JoinPath(root, "admin"); }
  std::string AdminCert() const { return JoinPath(AdminDir(), "admin.crt"); }
  std::string AdminKey() const { return JoinPath(AdminDir(), "admin.key"); }
  std::string AdminBundle() const { return JoinPath(AdminDir(), "bundle.crt"); }
  std::string ConfigFile() const { return JoinPath(root, "ca.yaml"); }
  std::string ServerDir() const { return JoinPath(root, "server"); }
  std::string LockFile() const { return JoinPath(ServerDir(), "lock"); }
};

// An exclusive lock on a data folder (flock on DIR/server/lock), so that
// one process at a time serves it or replaces its store. Released when
// destroyed or when the process ends, however it ends. Move-only.
class DataDirLock {
 public:
  // Takes the lock without waiting, creating DIR/server/ (0700) and the lock
  // file (0600) if needed. FailedPrecondition if another process holds it:
  // "another rotor-ca is using DIR (it holds DIR/server/lock); stop it
  // before <doing>", where `doing` says what the caller wants to do.
  static absl::StatusOr<DataDirLock> Acquire(const DataDir& dir,
                                             absl::string_view doing);

  DataDirLock(DataDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DataDirLock& operator=(DataDirLock&& other) noexcept;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace rotor::ca

#endif  // ROTOR_CA_DATA_DIR_H_
