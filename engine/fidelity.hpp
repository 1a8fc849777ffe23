// The numbers behind `ckv calibrate` and `ckv eval` (host-side, double precision): the relative error of a layer's
// attention output under compression, and how far a compressed run's next-token distribution is from FullKV's.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace ckv {

// ‖compressed − full‖₂ / (‖full‖₂ + 1e-5), the reference implementation's per-step layer error (the epsilon keeps
// an all-zero output finite). Throws std::invalid_argument when the sizes differ.
double relative_error(std::span<const float> compressed, std::span<const float> full);

// Weights that sum to 1 (each divided by the sum). Throws std::invalid_argument when a weight is negative or not
// finite, or when all are zero (nothing was compressed, so there is nothing to weight).
std::vector<double> normalized_weights(std::span<const double> weights);

// log softmax of logits, in double.
std::vector<double> log_softmax(std::span<const float> logits);

struct NextTokenComparison {
  double kl = 0;              // KL(full ‖ policy) in nats
  bool same_top1 = false;     // argmax equal (ties: the lowest id)
  double nll_full = 0;        // −log p_full(true token)
  double nll_policy = 0;      // −log p_policy(true token)
};

// Compares two next-token distributions given as logits of the same length; `true_token` is the token the text
// actually continues with. Throws std::invalid_argument on different or zero lengths or a token out of range.
NextTokenComparison compare_next_token(std::span<const float> full_logits, std::span<const float> policy_logits,
                                       int32_t true_token);

// Means over many steps.
struct FidelitySummary {
  uint64_t steps = 0;
  double kl_sum = 0, nll_full_sum = 0, nll_policy_sum = 0;
  uint64_t top1_same = 0;
  void add(const NextTokenComparison& c);
  double mean_kl() const { return steps ? kl_sum / double(steps) : 0; }
  double top1_agreement() const { return steps ? double(top1_same) / double(steps) : 0; }
  double mean_nll_full() const { return steps ? nll_full_sum / double(steps) : 0; }
  double mean_nll_policy() const { return steps ? nll_policy_sum / double(steps) : 0; }
};

}  // namespace ckv
