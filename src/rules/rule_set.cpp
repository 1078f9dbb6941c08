#include "udpsieve/rules/rule_set.hpp"

#include <algorithm>
#include <bit>
#include <functional>
#include <stdexcept>
#include <utility>

namespace udpsieve::rules {

const char* verdict_name(Verdict verdict) noexcept {
  return verdict == Verdict::drop ? "drop" : "forward";
}

namespace {

uint64_t hash_of(std::string_view id) noexcept {
  return std::hash<std::string_view>{}(id);
}

}  // namespace

template <typename IdOf>
std::size_t RuleSet::slot_of(uint64_t hash, const IdOf& id_of) const noexcept {
  const std::size_t mask = index_.size() - 1;
  for (std::size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    const uint64_t held = index_[slot];
    if (held == 0) return slot;
    if ((held >> 32) == (hash >> 32) && rules_[(held & 0xffffffffU) - 1].id == id_of()) return slot;
  }
}

RuleSet::RuleSet(RuleList rules, Verdict default_action, Verdict non_udp, const RuleSet* earlier)
    : rules_(std::move(rules)), default_action_(default_action), non_udp_(non_udp) {
  if (rules_.size() >= 0xffffffffU) throw std::length_error("RuleSet: too many rules");
  if (rules_.empty()) return;
  // Each id's hash: an unchanged file's rules take theirs from the earlier set (the same rule
  // objects), so neither their ids are hashed nor the rules read again.
  hashes_.resize(rules_.size());
  const std::vector<std::size_t> from = earlier != nullptr
                                            ? earlier->rules_.positions_of_same(rules_)
                                            : std::vector<std::size_t>(rules_.size(), npos);
  for (std::size_t i = 0; i < rules_.size(); ++i)
    hashes_[i] = from[i] != npos ? earlier->hashes_[from[i]] : hash_of(rules_[i].id);
  // At most half full, so a probe ends soon at an empty slot.
  index_.assign(std::bit_ceil(rules_.size() * 2), 0);
  const std::size_t mask = index_.size() - 1;
  // In batches whose slots are fetched first, so the cache misses of an index larger than the
  // cache overlap instead of queueing one by one.
  constexpr std::size_t kBatch = 16;
  for (std::size_t first = 0; first < rules_.size(); first += kBatch) {
    const std::size_t count = std::min(kBatch, rules_.size() - first);
    for (std::size_t i = first; i < first + count; ++i)
      __builtin_prefetch(&index_[hashes_[i] & mask]);
    for (std::size_t i = first; i < first + count; ++i) {
      // The rule's id is read only when a slot's hash agrees (to tell a collision from the
      // same id).
      uint64_t& slot =
          index_[slot_of(hashes_[i], [&]() -> std::string_view { return rules_[i].id; })];
      // An id given twice keeps its first position (as find() always answered).
      if (slot == 0) slot = (hashes_[i] & ~0xffffffffULL) | (i + 1);
    }
  }
}

std::size_t RuleSet::position(std::string_view id) const noexcept {
  if (index_.empty()) return npos;
  const uint64_t held = index_[slot_of(hash_of(id), [id] { return id; })];
  return held == 0 ? npos : (held & 0xffffffffU) - 1;
}

std::vector<std::size_t> RuleSet::positions_of(const RuleList& rules) const {
  std::vector<std::size_t> out(rules.size(), npos);
  std::size_t next = 0;  // where the rule after the last one found stands here
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Rule* rule = &rules[i];
    if (next < rules_.size() && &rules_[next] == rule) {
      out[i] = next++;  // the same rule object: the same id
      continue;
    }
    out[i] = position(rule->id);
    if (out[i] != npos) next = out[i] + 1;
  }
  return out;
}

const Rule* RuleSet::find(std::string_view id) const noexcept {
  const std::size_t at = position(id);
  return at == npos ? nullptr : &rules_[at];
}

}  // namespace udpsieve::rules
