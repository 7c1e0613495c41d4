// Latencies in microseconds, in bounded memory whatever the run's length: exact below 1 ms,
// then 512 buckets per power of two (at most 0.2 % off), up to 2^40 µs. The maximum is exact.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace fanout {

class LatencyHistogram {
 public:
  void record(std::uint64_t us) noexcept {
    us = std::min(us, kLimit);
    ++counts_[index(us)];
    ++count_;
    max_ = std::max(max_, us);
  }
  void merge(const LatencyHistogram& other) noexcept {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
  }
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  // The q-quantile (0 < q <= 1): the middle of the bucket holding it, never above the maximum.
  [[nodiscard]] double quantile(double q) const noexcept {
    if (count_ == 0) return 0;
    const auto rank =
        static_cast<std::uint64_t>(std::max(1.0, q * static_cast<double>(count_) + 0.5));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const auto [low, width] = bounds(i);
        return std::min(static_cast<double>(low) + static_cast<double>(width - 1) / 2.0,
                        static_cast<double>(max_));
      }
    }
    return static_cast<double>(max_);
  }

 private:
  static constexpr unsigned kExactBits = 10;  // values below 1024 µs have their own bucket
  static constexpr unsigned kSubBits = 9;     // 512 buckets per power of two above that
  static constexpr std::uint64_t kLimit = (std::uint64_t{1} << 40) - 1;
  static constexpr std::size_t kBuckets = (1u << kExactBits) + (40 - kExactBits) * (1u << kSubBits);

  static std::size_t index(std::uint64_t v) noexcept {
    if (v < (1u << kExactBits)) return static_cast<std::size_t>(v);
    const unsigned shift = static_cast<unsigned>(std::bit_width(v)) - kExactBits;  // >= 1
    return (1u << kExactBits) + (shift - 1) * (1u << kSubBits) +
           static_cast<std::size_t>((v >> shift) - (1u << kSubBits));
  }
  struct Bounds {
    std::uint64_t low, width;
  };
  static Bounds bounds(std::size_t i) noexcept {
    if (i < (1u << kExactBits)) return {i, 1};
    const std::size_t above = i - (1u << kExactBits);
    const unsigned shift = static_cast<unsigned>(above >> kSubBits) + 1;
    const std::uint64_t sub = (above & ((1u << kSubBits) - 1)) + (1u << kSubBits);
    return {sub << shift, std::uint64_t{1} << shift};
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace fanout
