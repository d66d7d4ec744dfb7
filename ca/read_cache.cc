#include "ca/read_cache.h"

#include <utility>

namespace rotor::ca {

// --- NodeRecordCache ---

NodeRecordCache::NodeRecordCache(size_t max_entries)
    : max_entries_(max_entries) {}

std::optional<std::string> NodeRecordCache::Find(
    absl::string_view serial) const {
  absl::MutexLock lock(&mu_);
  auto it = spiffe_ids_.find(serial);
  if (it == spiffe_ids_.end()) return std::nullopt;
  return it->second;
}

void NodeRecordCache::Remember(absl::string_view serial,
                               absl::string_view spiffe_id) {
  absl::MutexLock lock(&mu_);
  if (spiffe_ids_.size() >= max_entries_ && !spiffe_ids_.contains(serial)) {
    spiffe_ids_.clear();
  }
  spiffe_ids_.insert_or_assign(std::string(serial), std::string(spiffe_id));
}

void NodeRecordCache::Forget(absl::string_view serial) {
  absl::MutexLock lock(&mu_);
  spiffe_ids_.erase(serial);
}

size_t NodeRecordCache::size() const {
  absl::MutexLock lock(&mu_);
  return spiffe_ids_.size();
}

// --- EntryMatchCache ---

EntryMatchCache::EntryMatchCache(size_t max_nodes) : max_nodes_(max_nodes) {}

uint64_t EntryMatchCache::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

EntryMatchCache::Entries EntryMatchCache::Find(absl::string_view node) const {
  absl::MutexLock lock(&mu_);
  auto it = by_node_.find(node);
  return it == by_node_.end() ? nullptr : it->second;
}

EntryMatchCache::Entries EntryMatchCache::Remember(
    uint64_t generation, absl::string_view node,
    std::vector<store::RegistrationEntry> entries) {
  auto shared = std::make_shared<const std::vector<store::RegistrationEntry>>(
      std::move(entries));
  absl::MutexLock lock(&mu_);
  if (generation != generation_) return shared;  // the entries changed since
  if (by_node_.size() >= max_nodes_ && !by_node_.contains(node)) {
    by_node_.clear();
  }
  by_node_.insert_or_assign(std::string(node), shared);
  return shared;
}

void EntryMatchCache::Invalidate() {
  absl::MutexLock lock(&mu_);
  ++generation_;
  by_node_.clear();
}

size_t EntryMatchCache::size() const {
  absl::MutexLock lock(&mu_);
  return by_node_.size();
}

}  // namespace rotor::ca
