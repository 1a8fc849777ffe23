#include "fidelity.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ckv {

double relative_error(std::span<const float> compressed, std::span<const float> full) {
  if (compressed.size() != full.size())
    throw std::invalid_argument("relative error of outputs of different sizes (" + std::to_string(compressed.size()) +
                                " and " + std::to_string(full.size()) + ")");
  double diff = 0, norm = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    const double d = double(compressed[i]) - double(full[i]);
    diff += d * d;
    norm += double(full[i]) * double(full[i]);
  }
  return std::sqrt(diff) / (std::sqrt(norm) + 1e-5);
}

std::vector<double> normalized_weights(std::span<const double> weights) {
  double sum = 0;
  for (double w : weights) {
    if (!std::isfinite(w) || w < 0) throw std::invalid_argument("layer errors must be finite and non-negative");
    sum += w;
  }
  if (!(sum > 0))
    throw std::invalid_argument("every layer error is zero: no layer was compressed (is the budget below the prompt length?)");
  std::vector<double> out;
  for (double w : weights) out.push_back(w / sum);
  return out;
}

std::vector<double> log_softmax(std::span<const float> logits) {
  double top = -INFINITY;
  for (float v : logits) top = std::max(top, double(v));
  double sum = 0;
  for (float v : logits) sum += std::exp(double(v) - top);
  const double log_sum = top + std::log(sum);
  std::vector<double> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = double(logits[i]) - log_sum;
  return out;
}

NextTokenComparison compare_next_token(std::span<const float> full_logits, std::span<const float> policy_logits,
                                       int32_t true_token) {
  if (full_logits.empty() || full_logits.size() != policy_logits.size())
    throw std::invalid_argument("next-token logits of different or zero length");
  if (true_token < 0 || size_t(true_token) >= full_logits.size())
    throw std::invalid_argument("token id " + std::to_string(true_token) + " out of range");
  const std::vector<double> lf = log_softmax(full_logits), lp = log_softmax(policy_logits);
  NextTokenComparison c;
  for (size_t i = 0; i < lf.size(); ++i) c.kl += std::exp(lf[i]) * (lf[i] - lp[i]);
  c.kl = std::max(c.kl, 0.0);  // rounding can make identical distributions a hair negative
  const auto argmax = [](std::span<const float> v) { return std::max_element(v.begin(), v.end()) - v.begin(); };
  c.same_top1 = argmax(full_logits) == argmax(policy_logits);
  c.nll_full = -lf[size_t(true_token)];
  c.nll_policy = -lp[size_t(true_token)];
  return c;
}

void FidelitySummary::add(const NextTokenComparison& c) {
  ++steps;
  kl_sum += c.kl;
  nll_full_sum += c.nll_full;
  nll_policy_sum += c.nll_policy;
  top1_same += c.same_top1 ? 1 : 0;
}

}  // namespace ckv
