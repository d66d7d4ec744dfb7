#include "agent/atomic_writer.h"

#include <cstdint>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "util/file.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace rotor::agent {
namespace {

constexpr const char* kFiles[] = {kCertFile, kKeyFile, kBundleFile, kCrlFile};

// A data folder written by this writer: "..<digit>...".
bool IsDataDirName(absl::string_view name) {
  return name.size() > 2 && absl::StartsWith(name, "..") &&
         absl::ascii_isdigit(static_cast<unsigned char>(name[2]));
}

// A temporary top-level link: ".cert.pem.tmp" and so on.
std::string TempLinkName(absl::string_view file) {
  return absl::StrCat(".", file, ".tmp");
}

}  // namespace

absl::StatusOr<std::string> AtomicWriter::NewDataDirName() {
  uint8_t bytes[4];
  ROTOR_RETURN_IF_ERROR(random_->Fill(absl::MakeSpan(bytes)));
  return absl::StrCat(
      "..",
      absl::FormatTime("%Y_%m_%d_%H_%M_%E9S", clock_->Now(), absl::UTCTimeZone()),
      "-",
      absl::BytesToHexString(absl::string_view(
          reinterpret_cast<const char*>(bytes), sizeof(bytes))));
}

absl::StatusOr<std::string> AtomicWriter::CurrentDataDir(
    const std::string& dir) const {
  absl::StatusOr<std::string> target = fs_->ReadLink(JoinPath(dir, kDataLink));
  if (!target.ok()) {
    if (absl::IsNotFound(target.status())) {
      return absl::NotFoundError(
          absl::StrCat(dir, " has no published certificate set"));
    }
    return target.status();
  }
  return *target;
}

void AtomicWriter::RemoveStale(const std::string& dir, const std::string& keep) {
  absl::StatusOr<std::vector<std::string>> names = fs_->ListDirectory(dir);
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    bool stale = (IsDataDirName(name) && name != keep) || name == kDataTmpLink;
    for (const char* file : kFiles) stale = stale || name == TempLinkName(file);
    if (!stale) continue;
    absl::Status removed = fs_->RemoveAll(JoinPath(dir, name));
    if (!removed.ok()) {
      LogWarning("cannot remove a stale folder",
                 {{"path", JoinPath(dir, name)},
                  {"error", std::string(removed.message())}});
    }
  }
}

absl::Status AtomicWriter::Write(const std::string& dir, const FileSet& files,
                                 const WriteOptions& options) {
  const bool chown = options.uid != static_cast<uid_t>(-1) ||
                     options.gid != static_cast<gid_t>(-1);
  ROTOR_RETURN_IF_ERROR(fs_->MakeDirectories(dir, options.dir_mode));

  std::string old_name;
  absl::StatusOr<std::string> current = CurrentDataDir(dir);
  if (current.ok()) {
    old_name = *current;
  } else if (!absl::IsNotFound(current.status())) {
    return current.status();
  }
  RemoveStale(dir, old_name);

  ROTOR_ASSIGN_OR_RETURN(const std::string name, NewDataDirName());
  const std::string data_dir = JoinPath(dir, name);
  const std::string tmp_link = JoinPath(dir, kDataTmpLink);

  // Everything up to the rename is invisible to readers; on failure it is
  // removed and the previous set stays as it was.
  absl::Status prepared = [&]() -> absl::Status {
    ROTOR_RETURN_IF_ERROR(fs_->MakeDirectory(data_dir, options.dir_mode));
    struct Item {
      const char* file;
      absl::string_view data;
      mode_t mode;
    };
    const Item items[] = {
        {kCertFile, files.cert_pem, options.cert_mode},
        {kKeyFile, files.key_pem.view(), options.key_mode},
        {kBundleFile, files.bundle_pem, options.cert_mode},
        {kCrlFile, files.crl_pem, options.cert_mode},
    };
    for (const Item& item : items) {
      const std::string path = JoinPath(data_dir, item.file);
      ROTOR_RETURN_IF_ERROR(fs_->WriteNewFile(path, item.data, item.mode));
      if (chown) ROTOR_RETURN_IF_ERROR(fs_->Chown(path, options.uid, options.gid));
      ROTOR_RETURN_IF_ERROR(fs_->SyncFile(path));
    }
    if (chown) {
      ROTOR_RETURN_IF_ERROR(fs_->Chown(data_dir, options.uid, options.gid));
    }
    ROTOR_RETURN_IF_ERROR(fs_->SyncDirectory(data_dir));
    ROTOR_RETURN_IF_ERROR(fs_->Symlink(name, tmp_link));
    return fs_->Rename(tmp_link, JoinPath(dir, kDataLink));
  }();
  if (!prepared.ok()) {
    (void)fs_->RemoveAll(tmp_link);
    (void)fs_->RemoveAll(data_dir);
    return prepared;
  }

  // The new set is published. Make it durable and reachable by the
  // top-level names, then drop the old folder.
  ROTOR_RETURN_IF_ERROR(fs_->SyncDirectory(dir));
  bool linked = false;
  for (const char* file : kFiles) {
    const std::string link = JoinPath(dir, file);
    const std::string target = absl::StrCat(kDataLink, "/", file);
    absl::StatusOr<std::string> existing = fs_->ReadLink(link);
    if (existing.ok() && *existing == target) continue;
    // A missing name, or something else in its place (a plain file left by
    // another tool): replace it atomically with the link.
    const std::string tmp = JoinPath(dir, TempLinkName(file));
    (void)fs_->RemoveAll(tmp);
    ROTOR_RETURN_IF_ERROR(fs_->Symlink(target, tmp));
    absl::Status renamed = fs_->Rename(tmp, link);
    if (!renamed.ok()) {
      (void)fs_->RemoveAll(tmp);
      return renamed;
    }
    linked = true;
  }
  if (linked) ROTOR_RETURN_IF_ERROR(fs_->SyncDirectory(dir));
  if (!old_name.empty() && old_name != name) {
    absl::Status removed = fs_->RemoveAll(JoinPath(dir, old_name));
    if (!removed.ok()) {
      LogWarning("cannot remove the previous certificate folder; the next "
                 "rotation retries",
                 {{"path", JoinPath(dir, old_name)},
                  {"error", std::string(removed.message())}});
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<FileSet> ReadFileSet(Filesystem& fs, const std::string& dir) {
  FileSet set;
  ROTOR_ASSIGN_OR_RETURN(set.cert_pem, fs.ReadFile(JoinPath(dir, kCertFile)));
  ROTOR_ASSIGN_OR_RETURN(set.bundle_pem, fs.ReadFile(JoinPath(dir, kBundleFile)));
  ROTOR_ASSIGN_OR_RETURN(set.crl_pem, fs.ReadFile(JoinPath(dir, kCrlFile)));
  ROTOR_ASSIGN_OR_RETURN(std::string key, fs.ReadFile(JoinPath(dir, kKeyFile)));
  set.key_pem = pki::SecretString(std::move(key));
  return set;
}

}  // namespace rotor::agent
