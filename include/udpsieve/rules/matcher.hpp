#pragma once
/// First-match rule matching: the plain reference matcher that faster classifiers are tested
/// against.

#include <cstdint>
#include <span>

#include "udpsieve/rules/packet_key.hpp"
#include "udpsieve/rules/rule.hpp"

namespace udpsieve::rules {

/// Returned when no rule matches.
inline constexpr int32_t kNoMatch = -1;

/// True when `rule` matches a UDP packet with fields `key` (the obviously-correct definition).
[[nodiscard]] bool rule_matches(const Rule& rule, const PacketKey& key) noexcept;

/// Index of the first rule in `rules` matching `key`, or kNoMatch. Plain code kept as the
/// oracle that faster matchers are tested against.
[[nodiscard]] int32_t reference_match(std::span<const Rule> rules, const PacketKey& key) noexcept;

}  // namespace udpsieve::rules
