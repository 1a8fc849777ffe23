// Calibration probes of a LlamaSession (used by `ckv calibrate`; all off by default and free when off).
//
// CompressKV's error-aware budgets weight each layer by how much compressing that layer alone changes its
// attention output. To measure "that layer alone", two sessions run in lockstep: a FullKV session records the
// residual stream entering every layer (prompt and each decoded token), and a compressed session replays those
// inputs instead of its own residual stream. Then layer l of the compressed session sees exactly the queries,
// keys and values of the full session, and its kept tokens are chosen from the full session's window scores;
// only its (compressed) KV cache differs. Both sessions keep o_proj(attention) of every layer for the last
// decoded token, which the caller reads back once per step and compares.
#pragma once

namespace ckv {

class LlamaSession;

struct SessionProbes {
  // Keep o_proj(attention) of every layer for the last decoded token: LlamaSession::attention_outputs().
  bool attention_outputs = false;
  // Keep the residual stream entering every layer, for the whole prompt and for the last decoded token.
  bool record_layer_inputs = false;
  // Run every layer on these inputs (recorded by that session, which must have record_layer_inputs, the same
  // model and the same prompt length, and must have run the same step just before) instead of this session's own.
  const LlamaSession* replay_layer_inputs_from = nullptr;
};

}  // namespace ckv
