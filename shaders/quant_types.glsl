// Decoding of ggml weight blocks read straight from a uint[] buffer, shared by matvec, matmul and get_rows.
//
// The includer declares the weights as `layout(std430, binding = ...) readonly buffer ... { uint weights[]; };` and
// defines exactly one of WTYPE_F32, WTYPE_F16, WTYPE_Q8_0, WTYPE_Q4_0, WTYPE_Q4_1, WTYPE_Q4_K, WTYPE_Q6_K,
// WTYPE_Q4_0_X8 (the engine's Q4_0 layout: per 256 elements the 8 blocks' 16-byte quants, then their 8 f16 scales).
// With WEIGHTS_VEC4 (F32/F16 only) it also declares the same binding as `uvec4 weights4[]`, and unit_load reads 16
// bytes at a time: the caller guarantees 16-byte aligned rows (row_off and the row size multiples of 16).
//
// Blocks are 18, 20, 34, 144 or 210 bytes, so a block (and a row) may start at any even byte offset: every read
// goes through whole words plus shifts, with no 8/16-bit storage feature. Row offsets are in bytes inside the
// binding; the binding must cover the row's bytes rounded up to a whole word (the op wrapper binds it so).
//
// Two ways in, both value for value as ggml's dequantize_row_* (every product of scale and quant is exact in fp32,
// so a fused multiply-add gives the same bits):
// - dequant8(row, k0): elements k0 .. k0 + 7 of a row (k0 a multiple of 8) as two vec4 (get_rows, matmul tiles);
// - unit_load / unit_vec4: 8 elements per thread from words loaded once (matvec, bandwidth-bound).
// Rows of the quantized types hold whole blocks (k a multiple of 32 or 256); rows of F32/F16 any multiple of 4
// elements, whose last 4 may be a half group or unit: the includers read those with plain_vec4 (PLAIN_WTYPE).
#ifndef CKV_QUANT_TYPES_GLSL
#define CKV_QUANT_TYPES_GLSL

#if defined(WTYPE_F32) || defined(WTYPE_F16)
// Plain types: rows of any multiple of 4 elements, so a row may end in half a group of 8 (plain_vec4 reads it).
#define PLAIN_WTYPE 1
#endif

#if defined(WTYPE_F32)
const uint QBLOCK_K = 32;  // the plain types are walked in groups of 32 too
const uint QBLOCK_BYTES = 128;
#elif defined(WTYPE_F16)
const uint QBLOCK_K = 32;
const uint QBLOCK_BYTES = 64;
#elif defined(WTYPE_Q8_0)
const uint QBLOCK_K = 32;
const uint QBLOCK_BYTES = 34;  // f16 d; int8 qs[32]
#elif defined(WTYPE_Q4_0)
const uint QBLOCK_K = 32;
const uint QBLOCK_BYTES = 18;  // f16 d; u8 qs[16]
#elif defined(WTYPE_Q4_1)
const uint QBLOCK_K = 32;
const uint QBLOCK_BYTES = 20;  // f16 d, m; u8 qs[16]
#elif defined(WTYPE_Q4_K)
const uint QBLOCK_K = 256;
const uint QBLOCK_BYTES = 144;  // f16 d, dmin; u8 scales[12]; u8 qs[128]
#elif defined(WTYPE_Q6_K)
const uint QBLOCK_K = 256;
const uint QBLOCK_BYTES = 210;  // u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d
#elif defined(WTYPE_Q4_0_X8)
const uint QBLOCK_K = 256;
const uint QBLOCK_BYTES = 144;  // u8 qs[8][16]; f16 d[8]: Q4_0 blocks j = 0..7 as qs[j] and d[j]
#else
#error "define one WTYPE_*"
#endif

// The 4 bytes at an even byte offset. When the offset is 2 mod 4 they straddle two words; the second load then
// reads the next word, which the binding holds because these 4 bytes lie inside it.
uint w_u32(uint byte_off) {
  const uint i = byte_off >> 2u;
  const bool straddles = (byte_off & 2u) != 0u;
  const uint lo = weights[i];
  const uint hi = weights[i + (straddles ? 1u : 0u)];
  return straddles ? (lo >> 16u) | (hi << 16u) : lo;
}

// The f16 value at an even byte offset.
float w_half(uint byte_off) { return unpackHalf2x16(weights[byte_off >> 2u] >> ((byte_off & 2u) * 8u)).x; }

// Byte j (0..3) of a word, and one 4-bit or 2-bit field of it.
uint byte_of(uint word, uint j) { return (word >> (8u * j)) & 0xFFu; }

#if PLAIN_WTYPE
// Elements 4v .. 4v + 3 of a plain row (rows of plain types start on a word).
vec4 plain_vec4(uint row_off, uint v) {
#if defined(WTYPE_F32)
  const uint w = (row_off >> 2u) + 4u * v;
  return uintBitsToFloat(uvec4(weights[w], weights[w + 1u], weights[w + 2u], weights[w + 3u]));
#else
  const uint w = (row_off >> 2u) + 2u * v;
  return vec4(unpackHalf2x16(weights[w]), unpackHalf2x16(weights[w + 1u]));
#endif
}
#endif

#if defined(WTYPE_Q4_0) || defined(WTYPE_Q4_1) || defined(WTYPE_Q4_K) || defined(WTYPE_Q4_0_X8)
// Four nibbles at bit `shift` (0 or 4) of each byte of a word.
vec4 nibbles(uint word, uint shift) {
  const uint n = (word >> shift) & 0x0F0F0F0Fu;
  return vec4(n & 0xFFu, (n >> 8u) & 0xFFu, (n >> 16u) & 0xFFu, n >> 24u);
}
#endif

void dequant8(uint row_off, uint k0, out vec4 lo, out vec4 hi) {
#if defined(WTYPE_F32)
  const uint w = (row_off >> 2u) + k0;  // rows of a plain type start on a word
  lo = uintBitsToFloat(uvec4(weights[w], weights[w + 1u], weights[w + 2u], weights[w + 3u]));
  hi = uintBitsToFloat(uvec4(weights[w + 4u], weights[w + 5u], weights[w + 6u], weights[w + 7u]));
#elif defined(WTYPE_F16)
  const uint w = (row_off >> 2u) + k0 / 2u;
  lo = vec4(unpackHalf2x16(weights[w]), unpackHalf2x16(weights[w + 1u]));
  hi = vec4(unpackHalf2x16(weights[w + 2u]), unpackHalf2x16(weights[w + 3u]));
#else
  const uint b = row_off + (k0 / QBLOCK_K) * QBLOCK_BYTES;
  const uint i = k0 % QBLOCK_K;
#if defined(WTYPE_Q8_0)
  const float d = w_half(b);
  const int q0 = int(w_u32(b + 2u + i)), q1 = int(w_u32(b + 6u + i));
  lo = d * vec4(bitfieldExtract(q0, 0, 8), bitfieldExtract(q0, 8, 8), bitfieldExtract(q0, 16, 8),
                bitfieldExtract(q0, 24, 8));
  hi = d * vec4(bitfieldExtract(q1, 0, 8), bitfieldExtract(q1, 8, 8), bitfieldExtract(q1, 16, 8),
                bitfieldExtract(q1, 24, 8));
#elif defined(WTYPE_Q4_0) || defined(WTYPE_Q4_0_X8)
  // Element j < 16 of a block is the low nibble of qs[j], element j >= 16 the high nibble of qs[j - 16].
#if defined(WTYPE_Q4_0)
  const uint ii = i, d_off = b, qs0 = b + 2u;
#else
  // Block i / 32 of the super-block: quants at 16 (i / 32) (word-aligned reads: i % 16 is 0 or 8), scale after all 8.
  const uint ii = i & 31u, d_off = b + 128u + 2u * (i / 32u), qs0 = b + 16u * (i / 32u);
#endif
  const float d = w_half(d_off);
  const uint qs = qs0 + (ii & 15u), shift = (ii >> 4u) * 4u;
  lo = d * (nibbles(w_u32(qs), shift) - 8.0);
  hi = d * (nibbles(w_u32(qs + 4u), shift) - 8.0);
#elif defined(WTYPE_Q4_1)
  const float d = w_half(b), m = w_half(b + 2u);
  const uint qs = b + 4u + (i & 15u), shift = (i >> 4u) * 4u;
  lo = d * nibbles(w_u32(qs), shift) + m;
  hi = d * nibbles(w_u32(qs + 4u), shift) + m;
#elif defined(WTYPE_Q4_K)
  // Sub-block j (32 elements) has a 6-bit scale and min packed in scales[12]; chunk c = j / 2 of 64 elements
  // keeps sub-block 2c in the low nibbles of qs[32c .. 32c + 31] and sub-block 2c + 1 in the high ones.
  const uint j = i / 32u, jj = j & 3u;
  const vec2 d_dmin = vec2(w_half(b), w_half(b + 2u));
  const uint s0 = byte_of(w_u32(b + 4u), jj), s1 = byte_of(w_u32(b + 8u), jj), s2 = byte_of(w_u32(b + 12u), jj);
  uint sc, mn;
  if (j < 4u) {
    sc = s0 & 63u;
    mn = s1 & 63u;
  } else {
    sc = (s2 & 0x0Fu) | ((s0 >> 6u) << 4u);
    mn = (s2 >> 4u) | ((s1 >> 6u) << 4u);
  }
  const float dl = d_dmin.x * float(sc), ml = d_dmin.y * float(mn);
  const uint qs = b + 16u + 32u * (j / 2u) + (i & 31u), shift = (j & 1u) * 4u;
  lo = dl * nibbles(w_u32(qs), shift) - ml;
  hi = dl * nibbles(w_u32(qs + 4u), shift) - ml;
#elif defined(WTYPE_Q6_K)
  // Element 128h + 32quad + l: low 4 bits in ql[64h + l + 32(quad & 1)] (high nibble when quad >= 2), high 2 bits
  // at bit 2quad of qh[32h + l]; scale scales[8h + 2quad + l / 16]; value d * scale * (q - 32).
  const uint h = i / 128u, quad = (i / 32u) & 3u, l = i & 31u;
  const uint ql = b + 64u * h + l + 32u * (quad & 1u), qh = b + 128u + 32u * h + l;
  const uint sc_off = b + 192u + 8u * h + 2u * quad + l / 16u;
  const int sc = bitfieldExtract(int(weights[sc_off >> 2u]), int(8u * (sc_off & 3u)), 8);
  const float dl = w_half(b + 208u) * float(sc);
  const uint lshift = (quad >> 1u) * 4u, hshift = 2u * quad;
  [[unroll]] for (uint half_ = 0u; half_ < 2u; ++half_) {
    const uint lw = (w_u32(ql + 4u * half_) >> lshift) & 0x0F0F0F0Fu;
    const uint hw = (w_u32(qh + 4u * half_) >> hshift) & 0x03030303u;
    const uint q = lw | (hw << 4u);
    const vec4 v = dl * (vec4(q & 0xFFu, (q >> 8u) & 0xFFu, (q >> 16u) & 0xFFu, q >> 24u) - 32.0);
    if (half_ == 0u) lo = v; else hi = v;
  }
#endif
#endif
}


// ---- Units, for matvec ----
// A unit is the 8 elements of a row that one thread decodes from words it loads once: 8 consecutive elements for
// F32/F16/Q8_0 and the K-quants (one sub-block's scale), and for Q4_0/Q4_1/Q4_0_X8 the low and high nibbles of qs word
// p of a block (elements 4p .. 4p + 3 and 16 + 4p .. 16 + 4p + 3). unit_load() reads the words, unit_vec4(w, i)
// dequantizes elements 4i .. 4i + 3 of the unit (i < UNIT_VECS, same values as dequant8) and unit_elem(u, i) gives
// their index in the row. Adjacent threads take adjacent units, so a subgroup's vec4 loads of x stay on a few cache
// lines: with a whole block per thread every such load touched 32 lines, and those loads, not the weights, set the
// speed.

// The four bytes of a word minus `bias`, exactly and without int-to-float conversions: a byte b under the f16
// exponent bits 0x6400 is the half 1024 + b, and two of them convert in one unpackHalf2x16.
vec4 byte_values(uint w, float bias) {
  const vec2 even = unpackHalf2x16((w & 0x00FF00FFu) | 0x64006400u);         // bytes 0 and 2
  const vec2 odd = unpackHalf2x16(((w >> 8u) & 0x00FF00FFu) | 0x64006400u);  // bytes 1 and 3
  return vec4(even.x, odd.x, even.y, odd.y) - (1024.0 + bias);
}

const uint UNIT_K = 8;
const uint UNIT_VECS = UNIT_K / 4u;
#if defined(WTYPE_F32)
struct Unit { uint w[8]; };
#elif defined(WTYPE_F16)
struct Unit { uint w[4]; };
#elif defined(WTYPE_Q8_0)
struct Unit { uint q[2]; float d; };
#elif defined(WTYPE_Q4_0) || defined(WTYPE_Q4_0_X8)
struct Unit { uint q; float d; };
#elif defined(WTYPE_Q4_1)
struct Unit { uint q; float d, m; };
#elif defined(WTYPE_Q4_K)
struct Unit { uint q[2]; vec2 scale_min; };  // 4-bit quants (one nibble each), the sub-block's scale and min
#elif defined(WTYPE_Q6_K)
struct Unit { uint q[2]; float scale; };  // 6-bit quants, one per byte
#endif

Unit unit_load(uint row_off, uint u) {
  Unit r;
#if WEIGHTS_VEC4 && defined(WTYPE_F32)
  const uint w = (row_off >> 4u) + 2u * u;
  const uvec4 a = weights4[w], b = weights4[w + 1u];
  r.w = uint[8](a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w);
#elif WEIGHTS_VEC4 && defined(WTYPE_F16)
  const uvec4 a = weights4[(row_off >> 4u) + u];
  r.w = uint[4](a.x, a.y, a.z, a.w);
#elif defined(WTYPE_F32)
  const uint w = (row_off >> 2u) + 8u * u;
  [[unroll]] for (uint j = 0u; j < 8u; ++j) r.w[j] = weights[w + j];
#elif defined(WTYPE_F16)
  const uint w = (row_off >> 2u) + 4u * u;
  [[unroll]] for (uint j = 0u; j < 4u; ++j) r.w[j] = weights[w + j];
#elif defined(WTYPE_Q8_0) || defined(WTYPE_Q4_0) || defined(WTYPE_Q4_1)
  // Quarter p of the block at byte b (even); its quants start after d (and m).
  const uint b = row_off + (u >> 2u) * QBLOCK_BYTES, p = u & 3u;
  r.d = w_half(b);
#if defined(WTYPE_Q8_0)
  r.q[0] = w_u32(b + 2u + 8u * p);
  r.q[1] = w_u32(b + 6u + 8u * p);
#elif defined(WTYPE_Q4_0)
  r.q = w_u32(b + 2u + 4u * p);
#else
  r.m = w_half(b + 2u);
  r.q = w_u32(b + 4u + 4u * p);
#endif
#elif defined(WTYPE_Q4_0_X8)
  // Unit u = 32 s + 4 j + p: quants word p of block j of super-block s (rows start on words), scale d[j].
  const uint b = row_off + (u >> 5u) * QBLOCK_BYTES, j = (u >> 2u) & 7u;
  r.d = w_half(b + 128u + 2u * j);
  r.q = weights[(b >> 2u) + 4u * j + (u & 3u)];
#elif defined(WTYPE_Q4_K)
  // Unit u = 32 s + 4 j + v: super-block s, sub-block j, qs words 8 (j / 2) + 2v and + 1, nibble j % 2. Super-blocks
  // start on words (144-byte blocks in rows of whole blocks at word-aligned offsets).
  const uint i = (row_off + (u >> 5u) * QBLOCK_BYTES) >> 2u, j = (u >> 2u) & 7u, jj = j & 3u;
  const vec2 d_dmin = unpackHalf2x16(weights[i]);
  const uint a = byte_of(weights[i + 1u], jj), m = byte_of(weights[i + 2u], jj), e = byte_of(weights[i + 3u], jj);
  const uint sc = j < 4u ? a & 63u : (e & 0x0Fu) | ((a >> 6u) << 4u);
  const uint mn = j < 4u ? m & 63u : (e >> 4u) | ((m >> 6u) << 4u);
  r.scale_min = d_dmin * vec2(sc, mn);
  const uint q = i + 4u + 8u * (j >> 1u) + 2u * (u & 3u), shift = 4u * (j & 1u);
  [[unroll]] for (uint w = 0u; w < 2u; ++w) r.q[w] = (weights[q + w] >> shift) & 0x0F0F0F0Fu;
#elif defined(WTYPE_Q6_K)
  // Unit u = 32 s + 16 h + 4 quad + v: super-block s, elements 128 h + 32 quad + 8 v .. + 7 (see dequant8).
  const uint b = row_off + (u >> 5u) * QBLOCK_BYTES, h = (u >> 4u) & 1u, quad = (u >> 2u) & 3u, l = 8u * (u & 3u);
  const uint ql = b + 64u * h + 32u * (quad & 1u) + l, qh = b + 128u + 32u * h + l;
  const uint lshift = (quad >> 1u) * 4u, hshift = 2u * quad;
  [[unroll]] for (uint w = 0u; w < 2u; ++w)
    r.q[w] = ((w_u32(ql + 4u * w) >> lshift) & 0x0F0F0F0Fu) | (((w_u32(qh + 4u * w) >> hshift) & 0x03030303u) << 4u);
  const uint o = b + 192u + 8u * h + 2u * quad + l / 16u;
  r.scale = w_half(b + 208u) * float(bitfieldExtract(int(weights[o >> 2u]), int(8u * (o & 3u)), 8));
#endif
  return r;
}

#if !PLAIN_WTYPE
// A quantized unit's values are raw * scale + offset with small whole raw values: unit_raw4 gives raws 4i .. 4i + 3
// (exact), unit_affine (scale, offset), so that a dot product can scale once per unit instead of per element.
#if defined(WTYPE_Q4_1) || defined(WTYPE_Q4_K)
#define UNIT_OFFSET 1
#endif
vec4 unit_raw4(Unit r, uint i) {
#if defined(WTYPE_Q8_0)
  return byte_values(r.q[i] ^ 0x80808080u, 128.0);  // int8 v as the byte v + 128
#elif defined(WTYPE_Q4_0) || defined(WTYPE_Q4_0_X8)
  return byte_values((r.q >> (4u * i)) & 0x0F0F0F0Fu, 8.0);
#elif defined(WTYPE_Q4_1)
  return byte_values((r.q >> (4u * i)) & 0x0F0F0F0Fu, 0.0);
#elif defined(WTYPE_Q4_K)
  return byte_values(r.q[i], 0.0);
#elif defined(WTYPE_Q6_K)
  return byte_values(r.q[i], 32.0);
#endif
}

vec2 unit_affine(Unit r) {
#if defined(WTYPE_Q4_1)
  return vec2(r.d, r.m);
#elif defined(WTYPE_Q4_K)
  return vec2(r.scale_min.x, -r.scale_min.y);
#elif defined(WTYPE_Q6_K)
  return vec2(r.scale, 0.0);
#else
  return vec2(r.d, 0.0);
#endif
}
#endif

vec4 unit_vec4(Unit r, uint i) {
#if defined(WTYPE_F32)
  return uintBitsToFloat(uvec4(r.w[4u * i], r.w[4u * i + 1u], r.w[4u * i + 2u], r.w[4u * i + 3u]));
#elif defined(WTYPE_F16)
  return vec4(unpackHalf2x16(r.w[2u * i]), unpackHalf2x16(r.w[2u * i + 1u]));
#else
  const vec2 a = unit_affine(r);
  return fma(unit_raw4(r, i), vec4(a.x), vec4(a.y));
#endif
}

uint unit_elem(uint u, uint i) {
#if defined(WTYPE_Q4_0) || defined(WTYPE_Q4_1) || defined(WTYPE_Q4_0_X8)
  return 32u * (u >> 2u) + 4u * (u & 3u) + 16u * i;
#else
  return UNIT_K * u + 4u * i;
#endif
}

#endif
