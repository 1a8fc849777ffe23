// Decode attention (flash-decoding split + reduce) against the double-precision reference.
//
// Tolerances (absolute, on outputs whose magnitude is up to ~1): f32 KV 1e-4, f16 KV 2e-3, where the reference
// sees the f16-rounded K/V; both also need a normalised squared error below 1e-6. Probabilities: 1e-5 absolute,
// rows sum to 1 within 1e-5. Different chunkings of the same input agree within 1e-5.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/ops/attention_decode.hpp"
#include "engine/pipelines.hpp"
#include "gpu_env.hpp"
#include "reference.hpp"

namespace ckv::test {
namespace {

using ops::DecodeAttentionParams;
using ops::DecodeAttentionShape;

constexpr double kTolF32 = 1e-4;
constexpr double kTolF16 = 2e-3;
constexpr double kMaxNmse = 1e-6;
constexpr double kTolProbs = 1e-5;
constexpr uint32_t kNanBits = 0x7fc00000u;
constexpr uint64_t kArrivalBytes = 256;  // the scratch's counter region for up to 64 KV heads

double tolerance(KvDtype t) { return t == KvDtype::F16 ? kTolF16 : kTolF32; }
const char* dtype_name(KvDtype t) { return t == KvDtype::F16 ? "f16" : "f32"; }

struct DecodeInputs {
  DecodeAttentionParams p;
  std::vector<float> q;     // [n_q, d]
  std::vector<float> k, v;  // [n_kv, capacity, d]; rows kv_length.. hold garbage the kernel must ignore
};

DecodeAttentionParams make_params(uint32_t n_q, uint32_t n_kv, uint32_t d, uint32_t length, uint32_t capacity,
                                  KvDtype dtype, uint32_t chunk = 0) {
  DecodeAttentionParams p;
  p.n_q = n_q;
  p.n_kv = n_kv;
  p.head_dim = d;
  p.kv_length = length;
  p.kv_capacity = capacity;
  p.scale = float(1.0 / std::sqrt(double(d)));  // what attention_reference uses
  p.kv_dtype = dtype;
  p.chunk_size = chunk;
  return p;
}

// Unused cache rows get NaN, infinities and huge values, alternating.
void poison_unused_rows(std::vector<float>& cache, const DecodeAttentionParams& p) {
  const float garbage[] = {std::numeric_limits<float>::quiet_NaN(), 1e30f, -std::numeric_limits<float>::infinity(),
                           -6.0e4f};
  for (uint32_t g = 0; g < p.n_kv; ++g)
    for (uint32_t t = p.kv_length; t < p.kv_capacity; ++t)
      for (uint32_t i = 0; i < p.head_dim; ++i)
        cache[(size_t(g) * p.kv_capacity + t) * p.head_dim + i] = garbage[(t + i) % 4];
}

// Queries wider than K/V so that the softmax is neither flat nor one-hot.
DecodeInputs random_inputs(const DecodeAttentionParams& p, uint32_t seed) {
  DecodeInputs in{p, random_floats(size_t(p.n_q) * p.head_dim, seed, -2.5f, 2.5f),
                  random_floats(size_t(p.n_kv) * p.kv_capacity * p.head_dim, seed + 1),
                  random_floats(size_t(p.n_kv) * p.kv_capacity * p.head_dim, seed + 2)};
  poison_unused_rows(in.k, p);
  poison_unused_rows(in.v, p);
  return in;
}

// The first kv_length rows of each KV head, as the GPU sees them.
std::vector<float> visible_rows(const std::vector<float>& cache, const DecodeAttentionParams& p) {
  std::vector<float> rows;
  for (uint32_t g = 0; g < p.n_kv; ++g) {
    const auto first = cache.begin() + ptrdiff_t(size_t(g) * p.kv_capacity * p.head_dim);
    rows.insert(rows.end(), first, first + ptrdiff_t(size_t(p.kv_length) * p.head_dim));
  }
  return p.kv_dtype == KvDtype::F16 ? rounded_to_half(rows) : rows;
}

std::vector<double> reference_output(const DecodeInputs& in) {
  const auto& p = in.p;
  return attention_reference(in.q, visible_rows(in.k, p), visible_rows(in.v, p), int(p.n_q), int(p.n_kv), 1,
                             int(p.kv_length), int(p.head_dim), int(p.kv_length) - 1);
}

// softmax(q_h · k_j * scale) over the visible keys, [n_q, kv_length].
std::vector<double> reference_probs(const DecodeInputs& in) {
  const auto& p = in.p;
  const std::vector<float> k = visible_rows(in.k, p);
  const uint32_t group = p.n_q / p.n_kv;
  std::vector<double> probs(size_t(p.n_q) * p.kv_length);
  for (uint32_t h = 0; h < p.n_q; ++h) {
    double* row = &probs[size_t(h) * p.kv_length];
    double max_logit = -std::numeric_limits<double>::infinity();
    for (uint32_t j = 0; j < p.kv_length; ++j) {
      double dot = 0;
      for (uint32_t c = 0; c < p.head_dim; ++c)
        dot += double(in.q[size_t(h) * p.head_dim + c]) *
               double(k[(size_t(h / group) * p.kv_length + j) * p.head_dim + c]);
      row[j] = dot * double(p.scale);
      max_logit = std::max(max_logit, row[j]);
    }
    double sum = 0;
    for (uint32_t j = 0; j < p.kv_length; ++j) sum += (row[j] = std::exp(row[j] - max_logit));
    for (uint32_t j = 0; j < p.kv_length; ++j) row[j] /= sum;
  }
  return probs;
}

struct DecodeResult {
  std::vector<float> o, probs;
};

class DecodeAttention : public GpuTest {
 protected:
  vk::Buffer upload_cache(const std::vector<float>& cache, KvDtype dtype, const char* name) {
    return dtype == KvDtype::F16 ? make_buffer(pack_half(cache), name) : make_buffer(cache, name);
  }

  // Runs the op with NaN-filled scratch (but for its arrival counters, which start at zero as the op requires) and
  // outputs, so that anything left unwritten shows; checks that the op leaves the counters at zero.
  DecodeResult run(const DecodeInputs& in, bool with_probs, const DecodeAttentionShape* shape = nullptr) {
    const auto& p = in.p;
    vk::Buffer q = make_buffer(in.q, "q");
    vk::Buffer k = upload_cache(in.k, p.kv_dtype, "k cache");
    vk::Buffer v = upload_cache(in.v, p.kv_dtype, "v cache");
    vk::Buffer scratch = make_zeroed(ops::decode_attention_scratch_bytes(p), "scratch");
    vk::Buffer o = make_zeroed(size_t(p.n_q) * p.head_dim * 4, "o");
    vk::Buffer probs = make_zeroed(size_t(p.n_q) * p.kv_length * 4, "probs");
    vk::CommandStream stream(device());
    stream.fill(scratch, kNanBits);
    stream.fill(vk::BufferRange(scratch, 0, kArrivalBytes), 0);
    stream.fill(o, kNanBits);
    stream.fill(probs, kNanBits);
    const vk::BufferRange probs_range(probs);
    const vk::BufferRange* probs_arg = with_probs ? &probs_range : nullptr;
    if (shape)
      ops::record_decode_attention(ctx(), stream, p, *shape, q, k, v, scratch, o, probs_arg);
    else
      ops::record_decode_attention(ctx(), stream, p, q, k, v, scratch, o, probs_arg);
    stream.submit_and_wait();
    EXPECT_EQ(read<uint32_t>(scratch, p.n_kv), std::vector<uint32_t>(p.n_kv, 0u)) << "arrival counters left set";
    DecodeResult r;
    r.o = read<float>(o, size_t(p.n_q) * p.head_dim);
    if (with_probs) r.probs = read<float>(probs, size_t(p.n_q) * p.kv_length);
    return r;
  }

  void expect_matches_reference(const std::vector<float>& got, const DecodeInputs& in, const std::string& what) {
    const std::vector<double> want = reference_output(in);
    expect_close(got, want, tolerance(in.p.kv_dtype), what);
    EXPECT_LE(compare(got, want).nmse, kMaxNmse) << what;
  }

  void expect_probs_match(const std::vector<float>& got, const DecodeInputs& in, const std::string& what) {
    expect_close(got, reference_probs(in), kTolProbs, what + " probabilities");
    for (uint32_t h = 0; h < in.p.n_q; ++h) {
      double sum = 0;
      for (uint32_t j = 0; j < in.p.kv_length; ++j) sum += got[size_t(h) * in.p.kv_length + j];
      EXPECT_NEAR(sum, 1.0, 1e-5) << what << " head " << h;
    }
  }
};

std::string describe(const DecodeAttentionParams& p) {
  return std::string(dtype_name(p.kv_dtype)) + " n_q " + std::to_string(p.n_q) + " n_kv " + std::to_string(p.n_kv) +
         " d " + std::to_string(p.head_dim) + " length " + std::to_string(p.kv_length) + "/" +
         std::to_string(p.kv_capacity) + " chunk " + std::to_string(p.chunk_size);
}

// Random inputs for every (dtype, head_dim, GQA ratio) over lengths that are not multiples of any chunk.
class DecodeAttentionRandom : public DecodeAttention,
                              public ::testing::WithParamInterface<std::tuple<KvDtype, uint32_t, uint32_t>> {};

TEST_P(DecodeAttentionRandom, MatchesReference) {
  const auto [dtype, d, group] = GetParam();
  const uint32_t n_kv = 2;
  uint32_t seed = 1000 * d + 10 * group;
  for (uint32_t length : {1u, 7u, 300u, 2049u}) {
    const auto p = make_params(n_kv * group, n_kv, d, length, length + 5, dtype);
    const DecodeInputs in = random_inputs(p, ++seed);
    expect_matches_reference(run(in, false).o, in, describe(p));
  }
}

INSTANTIATE_TEST_SUITE_P(DecodeAttentionShapes, DecodeAttentionRandom,
                         ::testing::Combine(::testing::Values(KvDtype::F16, KvDtype::F32),
                                            ::testing::Values(8u, 64u, 128u), ::testing::Values(1u, 3u, 4u, 8u)),
                         [](const auto& info) {
                           return std::string(dtype_name(std::get<0>(info.param))) + "_d" +
                                  std::to_string(std::get<1>(info.param)) + "_gqa" +
                                  std::to_string(std::get<2>(info.param));
                         });

// The remaining input-driven tests run once per KV dtype.
class DecodeAttentionDtype : public DecodeAttention, public ::testing::WithParamInterface<KvDtype> {};

TEST_P(DecodeAttentionDtype, ChunkSizesGiveTheSameResult) {
  const KvDtype dtype = GetParam();
  const auto base = make_params(8, 2, 64, 300, 320, dtype);
  const DecodeInputs first = random_inputs(base, 7);
  std::vector<float> single_chunk;
  for (uint32_t chunk : {300u, 5000u, 1u, 7u, 64u, 129u}) {
    for (bool interleaved : {true, false}) {
      DecodeInputs in = first;
      in.p.chunk_size = chunk;
      DecodeAttentionShape shape = ops::choose_decode_attention_shape(device().info(), in.p);
      shape.interleaved = interleaved;
      const std::string what = describe(in.p) + (interleaved ? " interleaved" : " contiguous");
      const std::vector<float> o = run(in, false, &shape).o;
      expect_matches_reference(o, in, what);
      if (single_chunk.empty())
        single_chunk = o;
      else
        expect_close(o, single_chunk, 1e-5, what + " vs one chunk");
    }
  }
}

// The merge in the split pass's last workgroup and the separate reduce pass agree, with one chunk, a few, and
// hundreds (the merging workgroup then walks them all).
TEST_P(DecodeAttentionDtype, MergeInSplitMatchesReducePass) {
  const auto base = make_params(12, 3, 64, 300, 310, GetParam());
  const DecodeInputs first = random_inputs(base, 9);
  for (uint32_t chunk : {512u, 64u, 1u}) {
    DecodeInputs in = first;
    in.p.chunk_size = chunk;
    DecodeAttentionShape shape = ops::choose_decode_attention_shape(device().info(), in.p);
    shape.merge_in_split = false;
    const std::vector<float> two_passes = run(in, false, &shape).o;
    shape.merge_in_split = true;
    const std::vector<float> merged = run(in, false, &shape).o;
    expect_matches_reference(merged, in, describe(in.p) + " merged");
    expect_close(merged, two_passes, 1e-6, describe(in.p) + " merged vs two passes");
  }
}

// One scratch buffer serves a layer's decode steps one after another, their chunk counts changing with the length:
// the counters each call leaves at zero must be right for the next.
TEST_F(DecodeAttention, ScratchServesCallsOfChangingLength) {
  const uint32_t capacity = 900;
  auto p = make_params(8, 2, 64, capacity, capacity, KvDtype::F16, 64);
  const DecodeInputs in = random_inputs(p, 71);
  vk::Buffer q = make_buffer(in.q, "q");
  vk::Buffer k = upload_cache(in.k, p.kv_dtype, "k cache"), v = upload_cache(in.v, p.kv_dtype, "v cache");
  vk::Buffer scratch = make_zeroed(ops::decode_attention_scratch_bytes(p), "scratch");
  const std::vector<uint32_t> lengths = {900, 1, 129, 640, 65};
  std::vector<vk::Buffer> outputs;
  vk::CommandStream stream(device());
  for (uint32_t length : lengths) {
    outputs.push_back(make_zeroed(size_t(p.n_q) * p.head_dim * 4, "o"));
    p.kv_length = length;
    ops::record_decode_attention(ctx(), stream, p, q, k, v, scratch, outputs.back());
  }
  stream.submit_and_wait();
  for (size_t i = 0; i < lengths.size(); ++i) {
    DecodeInputs shorter = in;
    shorter.p.kv_length = lengths[i];
    expect_matches_reference(read<float>(outputs[i], size_t(p.n_q) * p.head_dim), shorter, describe(shorter.p));
  }
  EXPECT_EQ(read<uint32_t>(scratch, p.n_kv), std::vector<uint32_t>(p.n_kv, 0u));
}

// Lane counts from 1 to a whole row, several rows per team, and both dot-product reductions (subgroup shuffles
// and shared memory) agree with the reference. The reductions alternate over the lane counts (both for a whole
// row) to bound the number of pipelines the driver compiles; a small head dim keeps each thread's slice small.
TEST_P(DecodeAttentionDtype, EverySplitShapeMatches) {
  const KvDtype dtype = GetParam();
  const vk::DeviceInfo& info = device().info();
  const uint32_t d = 32;
  const auto p = make_params(6, 3, d, 517, 530, dtype, 128);
  const DecodeInputs in = random_inputs(p, 11);
  const uint32_t vecs_per_row = d * kv_dtype_bytes(dtype) / 16;
  uint32_t rows = 3, tested_shuffle = 0;
  for (uint32_t lanes = 1, step = 0; lanes <= vecs_per_row; lanes *= 2, ++step) {
    for (bool shuffle : {false, true}) {
      if (shuffle != (step % 2 == 1) && lanes != vecs_per_row) continue;
      if (shuffle && (!info.subgroup_shuffle || lanes > info.min_subgroup_size)) continue;
      DecodeAttentionShape shape;
      shape.lanes = lanes;
      shape.rows_per_team = rows;
      shape.shuffle = shuffle;
      shape.workgroup = 64;
      shape.interleaved = rows != 3;
      expect_matches_reference(run(in, false, &shape).o, in,
                               describe(p) + " lanes " + std::to_string(lanes) + " rows " + std::to_string(rows) +
                                   (shuffle ? " shuffle" : " shared") +
                                   (shape.interleaved ? " interleaved" : " contiguous"));
      rows = rows % 3 + 1;
      tested_shuffle += shuffle;
    }
  }
  if (info.subgroup_shuffle && info.min_subgroup_size >= 2) {
    EXPECT_GE(tested_shuffle, 2u);
  }
}

// Head dims that are multiples of 8 but not powers of two use fewer lanes; they must still be right.
TEST_P(DecodeAttentionDtype, OddHeadDim) {
  const auto p = make_params(4, 2, 48, 150, 160, GetParam(), 64);
  const DecodeInputs in = random_inputs(p, 21);
  expect_matches_reference(run(in, false).o, in, describe(p));
}

// Each query head aims at one key (a different one per head, in the first, a middle and the last chunk): its
// output must be that key's value row.
TEST_P(DecodeAttentionDtype, OneDominantKey) {
  const KvDtype dtype = GetParam();
  const uint32_t n_kv = 2, group = 3, d = 64, length = 700;
  const auto p = make_params(n_kv * group, n_kv, d, length, 720, dtype, 128);
  DecodeInputs in = random_inputs(p, 31);
  const uint32_t targets[group] = {0, 411, length - 1};
  std::vector<float> want(size_t(p.n_q) * d);
  for (uint32_t h = 0; h < p.n_q; ++h) {
    const uint32_t g = h / group, row = targets[h % group];
    for (uint32_t c = 0; c < d; ++c) {
      const size_t at = (size_t(g) * p.kv_capacity + row) * d + c;
      in.q[size_t(h) * d + c] = 8.0f * in.k[at];
      want[size_t(h) * d + c] = dtype == KvDtype::F16 ? round_to_half(in.v[at]) : in.v[at];
    }
  }
  const std::vector<float> o = run(in, false).o;
  expect_matches_reference(o, in, describe(p));
  expect_close(o, want, tolerance(dtype), describe(p) + " vs dominant value rows");
}

// With a single key the softmax is exactly 1: the output is that value row and the probability is 1.
TEST_P(DecodeAttentionDtype, SingleKeyIsItsValueRow) {
  const auto p = make_params(8, 1, 128, 1, 4, GetParam());
  const DecodeInputs in = random_inputs(p, 41);
  const DecodeResult r = run(in, true);
  const std::vector<float> v = visible_rows(in.v, p);
  for (uint32_t h = 0; h < p.n_q; ++h)
    for (uint32_t c = 0; c < p.head_dim; ++c) EXPECT_NEAR(r.o[h * p.head_dim + c], v[c], 1e-6) << h << "," << c;
  EXPECT_EQ(r.probs, std::vector<float>(p.n_q, 1.0f));
}

TEST_P(DecodeAttentionDtype, ProbabilitiesMatchTheSoftmax) {
  const KvDtype dtype = GetParam();
  const vk::DeviceInfo& info = device().info();
  for (uint32_t length : {7u, 300u, 2049u}) {
    const auto p = make_params(8, 2, 64, length, length + 3, dtype, length > 1000 ? 0 : 100);
    const DecodeInputs in = random_inputs(p, 51 + length);
    for (bool shuffle : {false, true}) {
      if (shuffle && !info.subgroup_shuffle) continue;
      DecodeAttentionShape shape = ops::choose_decode_attention_shape(info, p);
      shape.shuffle = shuffle;
      if (shuffle && shape.lanes > info.min_subgroup_size) shape.lanes = info.min_subgroup_size;
      const std::string what = describe(p) + (shuffle ? " shuffle" : " shared");
      const DecodeResult r = run(in, true, &shape);
      expect_matches_reference(r.o, in, what);
      expect_probs_match(r.probs, in, what);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(DecodeAttentionByDtype, DecodeAttentionDtype,
                         ::testing::Values(KvDtype::F16, KvDtype::F32),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST_F(DecodeAttention, ProbabilitiesWithLargeGroupAndHeadDim) {
  const auto p = make_params(16, 2, 128, 555, 600, KvDtype::F16, 128);
  const DecodeInputs in = random_inputs(p, 61);
  const DecodeResult r = run(in, true);
  expect_matches_reference(r.o, in, describe(p));
  expect_probs_match(r.probs, in, describe(p));
}

TEST_F(DecodeAttention, ChunkChoice) {
  auto p = make_params(32, 8, 128, 32768, 32768, KvDtype::F16);
  EXPECT_EQ(ops::decode_attention_chunk_size(p), 1024u);
  EXPECT_EQ(ops::decode_attention_chunks(p), 32u);
  EXPECT_EQ(ops::decode_attention_scratch_bytes(p), 256 + size_t(32) * 32 * 130 * 4);  // counters, partials
  p.kv_length = 7;
  EXPECT_EQ(ops::decode_attention_chunks(p), 1u);
  p.kv_length = 2049;
  p.chunk_size = 1000;
  EXPECT_EQ(ops::decode_attention_chunks(p), 3u);
}

// A workgroup whose chunk starts past kv_length (the host never dispatches one, but the kernel must cope) writes
// a partial that the reduce pass weighs as zero: no NaN, same output.
TEST_F(DecodeAttention, EmptyChunksContributeNothing) {
  const auto p = make_params(4, 1, 64, 100, 100, KvDtype::F32, 64);
  const DecodeInputs in = random_inputs(p, 71);
  const uint32_t n_chunks = 4;  // two real chunks, two empty ones
  vk::Buffer q = make_buffer(in.q, "q");
  vk::Buffer k = make_buffer(in.k, "k");
  vk::Buffer v = make_buffer(in.v, "v");
  vk::Buffer scratch = make_zeroed(size_t(p.n_q) * n_chunks * (p.head_dim + 2) * 4, "scratch");
  vk::Buffer o = make_zeroed(size_t(p.n_q) * p.head_dim * 4, "o");
  const uint32_t group = 4, lanes = 4, workgroup = 64;
  struct {
    uint32_t kv_length, capacity, chunk_size, n_chunks;
    float logit_scale;
    uint32_t interleaved;
  } split_push{p.kv_length, p.kv_capacity, 64, n_chunks, float(p.scale / std::log(2.0)), 0};
  struct {
    uint32_t n_chunks, kv_length;
  } reduce_push{n_chunks, p.kv_length};
  const auto& split = shader_pipeline(ctx(), "attention_decode_split_f32_noshuffle", 4, sizeof(split_push),
                                      {workgroup, p.head_dim, group, lanes, 2});
  const auto& reduce = shader_pipeline(ctx(), "attention_decode_reduce", 2, sizeof(reduce_push), {128, p.head_dim});
  vk::CommandStream stream(device());
  stream.fill(scratch, kNanBits);
  stream.dispatch(split, {q, k, v, scratch}, split_push, n_chunks, 1);
  stream.dispatch(reduce, {scratch, o}, reduce_push, p.n_q);
  stream.submit_and_wait();
  expect_matches_reference(read<float>(o, size_t(p.n_q) * p.head_dim), in, "with empty chunks");
  const std::vector<float> partials = read<float>(scratch, size_t(p.n_q) * n_chunks * (p.head_dim + 2));
  for (float x : partials) ASSERT_FALSE(std::isnan(x));
}

TEST_F(DecodeAttention, BadArgumentsAreRejected) {
  const auto good = make_params(8, 2, 64, 10, 16, KvDtype::F16);
  vk::Buffer q = make_zeroed(8 * 64 * 4, "q");
  vk::Buffer kv = make_zeroed(2 * 16 * 64 * 2, "kv");
  vk::Buffer scratch = make_zeroed(ops::decode_attention_scratch_bytes(good), "scratch");
  vk::Buffer o = make_zeroed(8 * 64 * 4, "o");
  vk::Buffer small = make_zeroed(16, "small");
  vk::CommandStream stream(device());

  auto expect_rejected = [&](const DecodeAttentionParams& p, const std::string& needle, const vk::Buffer& qb,
                             const vk::Buffer& kb, const vk::Buffer& sb, const vk::Buffer& ob,
                             const vk::BufferRange* probs = nullptr) {
    try {
      ops::record_decode_attention(ctx(), stream, p, qb, kb, kb, sb, ob, probs);
      ADD_FAILURE() << "expected std::invalid_argument mentioning '" << needle << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto with = [&](auto change) {
    DecodeAttentionParams p = good;
    change(p);
    return p;
  };
  expect_rejected(with([](auto& p) { p.n_kv = 3; }), "multiple of n_kv", q, kv, scratch, o);
  expect_rejected(with([](auto& p) { p.n_kv = 0; }), "positive", q, kv, scratch, o);
  expect_rejected(with([](auto& p) { p.n_q = 32; p.n_kv = 2; }), "query heads per KV head", q, kv, scratch, o);
  expect_rejected(with([](auto& p) { p.head_dim = 12; }), "head_dim", q, kv, scratch, o);
  expect_rejected(with([](auto& p) { p.head_dim = 512; }), "head_dim", q, kv, scratch, o);
  expect_rejected(with([](auto& p) { p.kv_length = 0; }), "kv_length", q, kv, scratch, o);
  expect_rejected(with([](auto& p) { p.kv_length = 17; }), "kv_length", q, kv, scratch, o);
  expect_rejected(with([](auto& p) { p.scale = std::numeric_limits<float>::quiet_NaN(); }), "scale", q, kv, scratch,
                  o);
  expect_rejected(good, "q needs", small, kv, scratch, o);
  expect_rejected(good, "k needs", q, small, scratch, o);
  expect_rejected(good, "scratch needs", q, kv, small, o);
  expect_rejected(good, "o needs", q, kv, scratch, small);
  const vk::BufferRange small_probs(small);
  expect_rejected(good, "probs needs", q, kv, scratch, o, &small_probs);
  // A capacity larger than the cache buffers holds.
  expect_rejected(with([](auto& p) { p.kv_capacity = 32; }), "k needs", q, kv, scratch, o);

  DecodeAttentionShape shape;
  shape.lanes = 3;
  EXPECT_THROW(ops::record_decode_attention(ctx(), stream, good, shape, q, kv, kv, scratch, o), std::invalid_argument);
  shape.lanes = 16;  // more than the 8 vectors of a 64-wide f16 row
  EXPECT_THROW(ops::record_decode_attention(ctx(), stream, good, shape, q, kv, kv, scratch, o), std::invalid_argument);
  shape.lanes = 2;
  shape.rows_per_team = 0;
  EXPECT_THROW(ops::record_decode_attention(ctx(), stream, good, shape, q, kv, kv, scratch, o), std::invalid_argument);
  EXPECT_FALSE(stream.recording());  // nothing was recorded by the rejected calls
}

}  // namespace
}  // namespace ckv::test
