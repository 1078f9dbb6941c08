#pragma once
/// Rules in first-match order, held in shared immutable blocks (one per rule file), so a
/// reload that keeps a file's bytes shares its parsed rules with the running set instead of
/// copying them.

#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <vector>

#include "udpsieve/rules/rule.hpp"

namespace udpsieve::rules {

class RuleList {
 public:
  /// The rules of one block, never changed once a list holds them.
  using Block = std::shared_ptr<const std::vector<Rule>>;

  /// Walks the rules in order (random access: an index of pointers).
  class Iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = Rule;
    using difference_type = std::ptrdiff_t;
    using pointer = const Rule*;
    using reference = const Rule&;

    Iterator() = default;
    explicit Iterator(const Rule* const* at) : at_(at) {}
    reference operator*() const { return **at_; }
    pointer operator->() const { return *at_; }
    reference operator[](difference_type n) const { return *at_[n]; }
    Iterator& operator++() { return ++at_, *this; }
    Iterator operator++(int) { return Iterator(at_++); }
    Iterator& operator--() { return --at_, *this; }
    Iterator operator--(int) { return Iterator(at_--); }
    Iterator& operator+=(difference_type n) { return at_ += n, *this; }
    Iterator& operator-=(difference_type n) { return at_ -= n, *this; }
    friend Iterator operator+(Iterator it, difference_type n) { return it += n; }
    friend Iterator operator+(difference_type n, Iterator it) { return it += n; }
    friend Iterator operator-(Iterator it, difference_type n) { return it -= n; }
    friend difference_type operator-(Iterator a, Iterator b) { return a.at_ - b.at_; }
    friend bool operator==(Iterator a, Iterator b) = default;
    friend auto operator<=>(Iterator a, Iterator b) = default;

   private:
    const Rule* const* at_ = nullptr;
  };

  RuleList() = default;
  /// One block of `rules` (implicit, so a plain list of rules can stand where a RuleList is
  /// asked for).
  RuleList(std::vector<Rule> rules);  // NOLINT(google-explicit-constructor)
  RuleList(std::initializer_list<Rule> rules) : RuleList(std::vector<Rule>(rules)) {}

  /// Appends `block`'s rules (a null block holds none).
  void append(const Block& block);
  /// Appends rules [first, first + count) of `other`, sharing its blocks.
  void append(const RuleList& other, std::size_t first, std::size_t count);

  [[nodiscard]] std::size_t size() const noexcept { return index_.size(); }
  [[nodiscard]] bool empty() const noexcept { return index_.empty(); }
  [[nodiscard]] const Rule& operator[](std::size_t i) const noexcept { return *index_[i]; }
  /// Throws std::out_of_range past the end.
  [[nodiscard]] const Rule& at(std::size_t i) const { return *index_.at(i); }
  [[nodiscard]] Iterator begin() const noexcept { return Iterator(index_.data()); }
  [[nodiscard]] Iterator end() const noexcept { return Iterator(index_.data() + index_.size()); }
  /// Whether `other` holds the very same rule objects in the same order (blocks both share).
  [[nodiscard]] bool same_rules(const RuleList& other) const noexcept {
    return index_ == other.index_;
  }
  /// The rules as one list (a copy of each: for callers that change them).
  [[nodiscard]] std::vector<Rule> to_vector() const;

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  /// For each rule of `other`, in its order: the position in this list of that very rule
  /// object (from a block both lists hold), or npos. Found by address, through this list's
  /// runs of consecutive rules, without comparing ids.
  [[nodiscard]] std::vector<std::size_t> positions_of_same(const RuleList& other) const;

 private:
  std::vector<Block> blocks_;       ///< keeps the rules alive; one entry per block appended
  std::vector<const Rule*> index_;  ///< every rule in order
};

}  // namespace udpsieve::rules
