#include "engine/budgets.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

namespace ckv {
namespace {

constexpr int64_t kIntMax = std::numeric_limits<int>::max();

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

// Round to nearest, ties to even, whatever the floating-point rounding mode is.
double round_half_even(double x) {
  const double below = std::floor(x);
  const double fraction = x - below;
  if (fraction < 0.5) return below;
  if (fraction > 0.5) return below + 1;
  return std::fmod(below, 2.0) == 0 ? below : below + 1;
}

std::vector<double> normalised_weights(std::span<const double> weights) {
  double sum = 0;
  for (size_t l = 0; l < weights.size(); ++l) {
    const double w = weights[l];
    if (!std::isfinite(w)) fail("error_aware_budgets: weight of layer " + std::to_string(l) + " is not finite");
    if (w < 0) fail("error_aware_budgets: weight of layer " + std::to_string(l) + " is negative (" + std::to_string(w) + ")");
    sum += w;
  }
  if (!std::isfinite(sum)) fail("error_aware_budgets: the weights sum to infinity");
  std::vector<double> w(weights.begin(), weights.end());
  if (sum == 0) {
    std::fill(w.begin(), w.end(), 1.0 / double(w.size()));
  } else if (sum != 1.0) {
    for (double& x : w) x /= sum;
  }
  return w;
}

// Layer indices sorted by weight (descending or ascending); equal weights keep the lower layer first.
std::vector<size_t> order_by_weight(const std::vector<double>& w, bool descending) {
  std::vector<size_t> order(w.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return descending ? w[a] > w[b] : w[a] < w[b]; });
  return order;
}

}  // namespace

std::vector<int> error_aware_budgets(std::span<const double> weights, int average_budget, int min_budget,
                                     int max_budget) {
  if (weights.empty()) fail("error_aware_budgets: no layer weights given");
  if (average_budget <= 0) fail("error_aware_budgets: average budget must be positive, got " + std::to_string(average_budget));
  if (min_budget < 1) fail("error_aware_budgets: minimum budget must be at least 1, got " + std::to_string(min_budget));
  if (average_budget < min_budget)
    fail("error_aware_budgets: average budget " + std::to_string(average_budget) + " is below the minimum budget " +
         std::to_string(min_budget));
  const int64_t max64 = max_budget == -1 ? 3 * int64_t(average_budget) : int64_t(max_budget);
  if (max64 < average_budget)
    fail("error_aware_budgets: maximum budget " + std::to_string(max_budget) + " is below the average budget " +
         std::to_string(average_budget));
  const int64_t layers = int64_t(weights.size());
  const int64_t total = layers * average_budget;
  if (max64 > kIntMax || total > kIntMax)
    fail("error_aware_budgets: total budget " + std::to_string(layers) + " x " + std::to_string(average_budget) +
         " does not fit an int");
  // Always true once min <= B <= max; kept so the correction loop below can never spin.
  if (total < layers * min_budget || total > layers * max64)
    fail("error_aware_budgets: total budget " + std::to_string(total) + " is unreachable within [min, max]");

  const std::vector<double> w = normalised_weights(weights);
  const int maximum = int(max64);
  const double free_tokens = double(total - layers * min_budget);
  std::vector<int> budgets(w.size());
  int64_t sum = 0;
  for (size_t l = 0; l < w.size(); ++l) {
    const double share = min_budget + round_half_even(w[l] * free_tokens);
    budgets[l] = int(std::clamp(share, double(min_budget), double(maximum)));
    sum += budgets[l];
  }

  if (sum != total) {
    const bool missing = sum < total;
    const std::vector<size_t> order = order_by_weight(w, missing);
    while (sum != total) {
      for (size_t l : order) {
        if (sum == total) break;
        if (missing && budgets[l] < maximum) {
          ++budgets[l];
          ++sum;
        } else if (!missing && budgets[l] > min_budget) {
          --budgets[l];
          --sum;
        }
      }
    }
  }
  return budgets;
}

std::vector<int> pyramid_budgets(int layers, int average_budget, int window, int prompt_length, int beta) {
  auto args = [&] {
    return " (layers " + std::to_string(layers) + ", budget " + std::to_string(average_budget) + ", window " +
           std::to_string(window) + ", prompt length " + std::to_string(prompt_length) + ")";
  };
  if (layers < 1) fail("pyramid_budgets: need at least one layer" + args());
  if (window < 0) fail("pyramid_budgets: window must not be negative" + args());
  if (average_budget <= window) fail("pyramid_budgets: average budget must exceed the window" + args());
  if (prompt_length < average_budget) fail("pyramid_budgets: prompt length must be at least the average budget" + args());
  if (beta < 1) fail("pyramid_budgets: beta must be at least 1, got " + std::to_string(beta));
  if (layers == 1) return {average_budget};

  const int64_t base = int64_t(average_budget) - window;
  int64_t lo = base / beta;
  int64_t hi = 2 * base - lo;
  const int64_t room = int64_t(prompt_length) - window;
  if (hi >= room) {
    hi = room;
    lo = 2 * base - hi;
  }
  // hi >= lo >= 0 here, so the integer division is a floor.
  const int64_t step = (hi - lo) / (layers - 1);
  std::vector<int> budgets(static_cast<size_t>(layers));
  for (int l = 0; l < layers; ++l) budgets[size_t(l)] = int(hi - l * step + window);
  return budgets;
}

std::vector<int> uniform_budgets(int layers, int average_budget) {
  if (layers < 1) fail("uniform_budgets: need at least one layer, got " + std::to_string(layers));
  if (average_budget <= 0) fail("uniform_budgets: budget must be positive, got " + std::to_string(average_budget));
  return std::vector<int>(size_t(layers), average_budget);
}

int tokens_for_kv_mib(double mib, int layers, int n_kv, int head_dim, int bytes_per_element) {
  if (!std::isfinite(mib) || mib <= 0) fail("tokens_for_kv_mib: memory size must be a positive number of MiB");
  if (layers < 1 || n_kv < 1 || head_dim < 1 || bytes_per_element < 1)
    fail("tokens_for_kv_mib: layers, KV heads, head dim and bytes per element must all be positive (got " +
         std::to_string(layers) + ", " + std::to_string(n_kv) + ", " + std::to_string(head_dim) + ", " +
         std::to_string(bytes_per_element) + ")");
  const double bytes = std::floor(mib * 1048576.0);
  // The product of five ints can overflow int64, so its size is checked in double first.
  const double per_token_d = double(layers) * 2.0 * n_kv * head_dim * bytes_per_element;
  if (per_token_d > 9.0e18 || bytes > 9.0e18)
    fail("tokens_for_kv_mib: sizes are too large");
  const int64_t per_token = int64_t(layers) * 2 * n_kv * head_dim * bytes_per_element;
  const int64_t tokens = int64_t(bytes) / per_token;
  if (tokens < 1)
    fail("tokens_for_kv_mib: " + std::to_string(mib) + " MiB holds less than one token per layer (one token needs " +
         std::to_string(per_token) + " bytes over all layers)");
  if (tokens > kIntMax) fail("tokens_for_kv_mib: " + std::to_string(tokens) + " tokens does not fit an int");
  return int(tokens);
}

}  // namespace ckv
