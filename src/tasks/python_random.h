#pragma once

// CPython's random.Random, the parts uaqf reproduces: MT19937 seeded as random.seed(n) seeds it
// (init_by_array), random(), gauss(), _randbelow (getrandbits with rejection) and sample()'s choice
// of indices. Used where a reference implementation's verdicts or prompts depend on Python's
// generator (langdetect's restarts, lm-evaluation-harness's few-shot sampler).

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <optional>
#include <unordered_set>
#include <vector>

namespace uaqf::tasks {

class PythonRandom {
 public:
  // random.Random(seed) for 0 <= seed < 2**32.
  explicit PythonRandom(std::uint32_t seed) {
    init_genrand(19650218U);
    const std::array<std::uint32_t, 1> key = {seed};
    std::size_t i = 1;
    std::size_t j = 0;
    for (std::size_t k = kN; k > 0; --k) {
      state_[i] =
          (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1664525U)) + key[j] + static_cast<std::uint32_t>(j);
      ++i;
      ++j;
      if (i >= kN) {
        state_[0] = state_[kN - 1];
        i = 1;
      }
      if (j >= key.size()) j = 0;
    }
    for (std::size_t k = kN - 1; k > 0; --k) {
      state_[i] = (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1566083941U)) - static_cast<std::uint32_t>(i);
      ++i;
      if (i >= kN) {
        state_[0] = state_[kN - 1];
        i = 1;
      }
    }
    state_[0] = 0x80000000U;
  }

  double random() {
    const std::uint32_t a = next() >> 5;
    const std::uint32_t b = next() >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
  }

  double gauss() {
    if (gauss_next_) {
      const double z = *gauss_next_;
      gauss_next_.reset();
      return z;
    }
    const double x2pi = random() * (2.0 * std::numbers::pi);
    const double g2rad = std::sqrt(-2.0 * std::log(1.0 - random()));
    gauss_next_ = std::sin(x2pi) * g2rad;
    return std::cos(x2pi) * g2rad;
  }

  // _randbelow(n) for 0 < n < 2**32.
  std::size_t below(std::size_t n) {
    int bits = 0;
    while ((std::uint64_t{1} << bits) <= n) ++bits;
    std::uint32_t r = next() >> (32 - bits);
    while (r >= n) r = next() >> (32 - bits);
    return r;
  }

  // The indices random.sample(population, k) picks from a population of n, in its order (k <= n).
  std::vector<std::size_t> sample(std::size_t n, std::size_t k) {
    std::vector<std::size_t> picked;
    std::size_t set_size = 21;  // CPython: a pool for small populations, a set of picks otherwise
    if (k > 5) {
      set_size +=
          static_cast<std::size_t>(std::pow(4.0, std::ceil(std::log(static_cast<double>(k * 3)) / std::log(4.0))));
    }
    if (n <= set_size) {
      std::vector<std::size_t> pool(n);
      for (std::size_t i = 0; i < n; ++i) pool[i] = i;
      for (std::size_t i = 0; i < k; ++i) {
        const std::size_t j = below(n - i);
        picked.push_back(pool[j]);
        pool[j] = pool[n - i - 1];
      }
      return picked;
    }
    std::unordered_set<std::size_t> selected;
    for (std::size_t i = 0; i < k; ++i) {
      std::size_t j = below(n);
      while (selected.contains(j)) j = below(n);
      selected.insert(j);
      picked.push_back(j);
    }
    return picked;
  }

 private:
  static constexpr std::size_t kN = 624;
  static constexpr std::size_t kM = 397;

  void init_genrand(std::uint32_t s) {
    state_[0] = s;
    for (std::size_t i = 1; i < kN; ++i) {
      state_[i] = 1812433253U * (state_[i - 1] ^ (state_[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
    }
    index_ = kN;
  }

  std::uint32_t next() {
    if (index_ >= kN) {
      for (std::size_t k = 0; k < kN; ++k) {
        const std::uint32_t y = (state_[k] & 0x80000000U) | (state_[(k + 1) % kN] & 0x7fffffffU);
        state_[k] = state_[(k + kM) % kN] ^ (y >> 1) ^ ((y & 1U) != 0 ? 0x9908b0dfU : 0U);
      }
      index_ = 0;
    }
    std::uint32_t y = state_[index_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= y >> 18;
    return y;
  }

  std::array<std::uint32_t, kN> state_{};
  std::size_t index_ = kN;
  std::optional<double> gauss_next_;
};

}  // namespace uaqf::tasks
