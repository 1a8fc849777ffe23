// Per-layer KV budgets (tokens kept per layer after compression): CompressKV's error-aware allocation,
// PyramidKV's linear pyramid, uniform, and the average budget that fits a memory size.
// Every function throws std::invalid_argument with one clear message on bad arguments.
#pragma once
#include <span>
#include <vector>

namespace ckv {

// CompressKV layer-adaptive budgets. weights[l] >= 0 is layer l's share of the free tokens (the measured
// compression error of the layer); they are divided by their sum when it is not exactly 1, and all-zero weights
// mean equal shares. With L layers and average budget B:
//   b_l = clip(min + round_half_even(w_l * (L*B - L*min)), min, max),
// then the total is corrected to exactly L*B: a missing token goes to each layer below max in descending order
// of weight (equal weights: lower layer first), an extra token is taken from each layer above min in ascending
// order of weight (equal weights: lower layer first), stopping as soon as the sum matches, in as many passes as
// needed. max_budget = -1 means 3 * B. Requires 1 <= min <= B <= max.
std::vector<int> error_aware_budgets(std::span<const double> weights, int average_budget, int min_budget = 32,
                                     int max_budget = -1);

// PyramidKV budgets (layer 0 keeps the most). W = window tokens always kept, T = prompt length, beta = the
// ratio between the middle and the smallest free budget:
//   base = B - W; lo = floor(base / beta); hi = 2*base - lo;
//   if hi >= T - W: hi = T - W, lo = 2*base - hi;
//   step = floor((hi - lo) / (L - 1)); budget_l = hi - l*step + W   (L = 1: just B).
// Requires L >= 1, 0 <= W < B <= T, beta >= 1.
std::vector<int> pyramid_budgets(int layers, int average_budget, int window, int prompt_length, int beta = 20);

// The same budget for every layer.
std::vector<int> uniform_budgets(int layers, int average_budget);

// Average tokens per layer whose K and V fit in `mib` MiB:
//   floor(mib * 2^20 / (layers * 2 * n_kv * head_dim * bytes_per_element)).
// Throws when that is below one token or does not fit an int.
int tokens_for_kv_mib(double mib, int layers, int n_kv, int head_dim, int bytes_per_element);

}  // namespace ckv
