// The layout of a CA data folder (docs/design.md, `rotor-ca init`):
//   DIR/ca/root.crt, root.key            self-signed root (no key with upstream)
//   DIR/ca/intermediate.crt, .key        the signing CA
//   DIR/store/                           LMDB environment
//   DIR/admin/admin.crt, admin.key, bundle.crt   rotorctl credentials
//   DIR/ca.yaml                          configuration
#ifndef ROTOR_CA_DATA_DIR_H_
#define ROTOR_CA_DATA_DIR_H_

#include <string>

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
};

}  // namespace rotor::ca

#endif  // ROTOR_CA_DATA_DIR_H_
