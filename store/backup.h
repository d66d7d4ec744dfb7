// Backup and restore of an LMDB certificate store, behind
// `rotor-ca backup --data-dir DIR --out FILE` and
// `rotor-ca restore --data-dir DIR --in FILE [--force]` (docs/store.md).
//
// A backup is one file: a compacted copy of the LMDB environment
// (mdb_env_copy2 with MDB_CP_COMPACT) taken inside one read transaction, so
// it is a consistent snapshot even while the CA keeps writing. Writes the CA
// acknowledged but has not yet checkpointed into LMDB are in its redo log:
// the log is read before the copy starts and the batches beyond the copy's
// last checkpoint are replayed onto the copy, so the backup holds every
// write acknowledged before it started. (A checkpoint that recycles the log
// while it is read covers, by then, every batch acknowledged before the
// read began, and the copy, taken later, holds them.)
//
// Thread-safety: the functions are safe to call from any thread, but LMDB
// allows an environment to be open only once per process: BackupStore() is
// for a process that does not have the store open (the `rotor-ca backup`
// command, next to a running `rotor-ca serve`); inside the CA use
// LmdbStore::Backup().
#ifndef ROTOR_STORE_BACKUP_H_
#define ROTOR_STORE_BACKUP_H_

#include <lmdb.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "store/redo_log.h"

namespace rotor::store {

// Copies the store in `store_dir` to `out_file` (created 0600; it appears
// only once complete and fsynced). The store may be in use by another
// process. NotFound if there is no store in `store_dir`; AlreadyExists
// (writing nothing) if `out_file` exists; otherwise the file or LMDB error
// with the path.
absl::Status BackupStore(const std::string& store_dir,
                         const std::string& out_file);

struct RestoreOptions {
  // Replace an existing store (`rotor-ca restore --force`). REQUIRES: no
  // process has that store open; stop rotor-ca first.
  bool overwrite = false;
};

// Makes `store_dir` (created 0700 if missing) hold the store in
// `backup_file`: checks that the backup is a rotor store this binary can
// read, copies it in (the store's data file is replaced atomically), then
// opens it once as a store, which migrates an older schema. InvalidArgument
// if `backup_file` is not a rotor store backup; FailedPrecondition if its
// schema is newer than this binary supports; AlreadyExists (changing
// nothing) if `store_dir` already has a store and options.overwrite is
// false.
absl::Status RestoreStore(const std::string& backup_file,
                          const std::string& store_dir,
                          const RestoreOptions& options = {});

// Writes a compacted copy of an open environment to `out_file`, as
// BackupStore does, then replays onto the copy the batches of `redo_log`
// (the store's redo log, read before the copy began) that follow the copy's
// last checkpoint. Used by LmdbStore::Backup and BackupStore.
absl::Status CopyEnvToFile(MDB_env* env, const std::string& out_file,
                           const RedoLogContents& redo_log = {});

}  // namespace rotor::store

#endif  // ROTOR_STORE_BACKUP_H_
