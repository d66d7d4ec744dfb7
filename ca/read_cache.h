// What the Authority (ca/authority.h) remembers from the store between calls,
// so that each SignWorkload does not read the caller's node certificate
// record and scan every registration entry again.
//
// Both caches hold only what the store said and are correct only while the
// Authority that owns them makes every change to what they remember:
// REQUIRES: no other writer revokes certificates or creates or deletes
// entries in the store while the Authority runs (rotor-ca serve holds
// DATA_DIR/server/lock; admin-credentials and restore refuse while it does).
//
//   NodeRecordCache  serial -> SPIFFE ID of a node certificate this CA
//                    issued. A certificate record never changes except by
//                    revocation, and revocation is decided from the
//                    Authority's revoked set, checked before this cache on
//                    every call; the revoked serial is also forgotten here.
//   EntryMatchCache  node name -> the entries whose glob matches it. Any
//                    committed change to the entries (CreateEntry,
//                    DeleteEntry) calls Invalidate, which forgets everything
//                    and starts a new generation; a result read from the
//                    store is remembered only if no change began since the
//                    read began (the caller takes generation() before it
//                    reads), so a read that raced a change is used for its
//                    own call and never outlives the change.
//
// Both are bounded: when full they are emptied and filled again.
//
// Thread-safety: every method is safe from any thread.
#ifndef ROTOR_CA_READ_CACHE_H_
#define ROTOR_CA_READ_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "store/store.h"

namespace rotor::ca {

class NodeRecordCache {
 public:
  static constexpr size_t kDefaultMaxEntries = 65536;

  // REQUIRES: max_entries >= 1.
  explicit NodeRecordCache(size_t max_entries = kDefaultMaxEntries);

  // The SPIFFE ID remembered for node certificate `serial`, or nullopt.
  std::optional<std::string> Find(absl::string_view serial) const;

  // Remembers that `serial` is a node certificate of `spiffe_id` this CA
  // issued, as read from the store.
  void Remember(absl::string_view serial, absl::string_view spiffe_id);

  // Forgets `serial` (on revocation).
  void Forget(absl::string_view serial);

  size_t size() const;

 private:
  const size_t max_entries_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> spiffe_ids_
      ABSL_GUARDED_BY(mu_);
};

class EntryMatchCache {
 public:
  static constexpr size_t kDefaultMaxNodes = 65536;
  using Entries = std::shared_ptr<const std::vector<store::RegistrationEntry>>;

  // REQUIRES: max_nodes >= 1.
  explicit EntryMatchCache(size_t max_nodes = kDefaultMaxNodes);

  // The current generation; take it before reading the store.
  uint64_t generation() const;

  // The entries remembered for `node`, or null.
  Entries Find(absl::string_view node) const;

  // Remembers `entries` for `node` if the generation is still `generation`
  // (no Invalidate since it was taken); otherwise does nothing. Returns the
  // entries either way, for the caller to use.
  Entries Remember(uint64_t generation, absl::string_view node,
                   std::vector<store::RegistrationEntry> entries);

  // Forgets everything and starts a new generation. Call after every change
  // to the entries in the store, whether or not it succeeded.
  void Invalidate();

  size_t size() const;

 private:
  const size_t max_nodes_;
  mutable absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, Entries> by_node_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rotor::ca

#endif  // ROTOR_CA_READ_CACHE_H_
