#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace uaqf {

// Runs fn(i) for i in [0, n) on up to n_threads threads (the caller's included), handing out
// indices one at a time so that uneven items balance. fn must not throw.
template <typename Fn>
void parallel_for(std::size_t n, unsigned n_threads, Fn&& fn) {
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      fn(i);
    }
  };
  const unsigned helpers = n_threads > 1 ? static_cast<unsigned>(std::min<std::size_t>(n_threads - 1, n)) : 0;
  std::vector<std::jthread> threads;
  threads.reserve(helpers);
  for (unsigned t = 0; t < helpers; ++t) {
    threads.emplace_back(work);
  }
  work();
}

}  // namespace uaqf
