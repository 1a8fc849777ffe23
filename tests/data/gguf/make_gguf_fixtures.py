#!/usr/bin/env python3
"""Writes the GGUF fixtures read by tests/test_gguf.cpp. Run from anywhere: python3 make_gguf_fixtures.py
Needs the `gguf` package (pip install gguf; made with 0.19.0) and numpy.

valid/       files written by gguf.GGUFWriter (metadata of every value type, tensors of several ggml types)
malformed/   one defect each, built by hand from the small file `tiny` below (valid/tiny.gguf), so every
             malformed file differs from a valid one in exactly one place.
The expected values and byte offsets are repeated in tests/test_gguf.cpp; change both together.
"""
import os
import struct

import gguf
import numpy as np
from gguf.constants import GGMLQuantizationType as Q
from gguf.constants import GGUFValueType as V

HERE = os.path.dirname(os.path.abspath(__file__))


def out_path(*parts):
    path = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def raw_bytes(n, seed):
    """Deterministic tensor bytes the test recomputes: byte i = (i * 7 + seed) & 0xff."""
    return np.array([(i * 7 + seed) & 0xFF for i in range(n)], dtype=np.uint8)


# ---- valid/every_type.gguf: GGUFWriter, version 3, default alignment 32 ----

def write_every_type(path, alignment=None):
    w = gguf.GGUFWriter(path, "testarch")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 1.5)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "h\u00e9llo w\u00f6rld")
    w.add_uint64("test.u64", 10000000000)
    w.add_int64("test.i64", -1099511627776)
    w.add_float64("test.f64", 0.1)
    w.add_key_value("test.arr_u8", [0, 1, 255], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("test.arr_i8", [-128, 127], V.ARRAY, sub_type=V.INT8)
    w.add_key_value("test.arr_u16", [65535, 1], V.ARRAY, sub_type=V.UINT16)
    w.add_key_value("test.arr_i16", [-32768, 5], V.ARRAY, sub_type=V.INT16)
    w.add_key_value("test.arr_u32", [4294967295, 7], V.ARRAY, sub_type=V.UINT32)
    w.add_array("test.arr_i32", [-1, 0, 7, 2147483647])
    w.add_array("test.arr_f32", [0.5, -2.0, 3.25])
    w.add_array("test.arr_bool", [True, False, True])
    w.add_array("test.arr_str", ["a", "", "ccc"])
    w.add_key_value("test.arr_u64", [18446744073709551615, 3], V.ARRAY, sub_type=V.UINT64)
    w.add_key_value("test.arr_i64", [-9223372036854775808, 4], V.ARRAY, sub_type=V.INT64)
    w.add_key_value("test.arr_f64", [0.25, -1e300], V.ARRAY, sub_type=V.FLOAT64)
    w.add_array("test.arr_nested", [[1, 2], [3]])  # ARRAY of ARRAY of INT32

    # ggml dims are the reverse of the numpy shapes given here: "f32" is ggml [4, 3].
    w.add_tensor("f32", (np.arange(12, dtype=np.float32) * 0.5 - 2.0).reshape(3, 4))
    w.add_tensor("f16", np.array([1.0, -2.0, 0.5, 65504.0, 0.0, -0.25, 3.0, 1024.0], dtype=np.float16))
    w.add_tensor("q8_0", raw_bytes(4 * 34, 3), raw_shape=[2, 2 * 34], raw_dtype=Q.Q8_0)  # ggml [64, 2]: 4 blocks
    w.add_tensor("q4_1", raw_bytes(3 * 20, 11), raw_shape=[3, 20], raw_dtype=Q.Q4_1)  # ggml [32, 3]: 3 blocks
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


write_every_type(out_path("valid", "every_type.gguf"))

# The same content with general.alignment = 64 and the version field set to 2 (v2 and v3 share the layout).
v2_path = out_path("valid", "every_type_v2_align64.gguf")
write_every_type(v2_path, alignment=64)
with open(v2_path, "r+b") as f:
    f.seek(4)
    f.write(struct.pack("<I", 2))


# ---- A hand-written GGUF for the malformed files ----

def gguf_string(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, payload):
    return gguf_string(key) + struct.pack("<I", vtype) + payload


def tensor_info(name, dims, ggml_type, offset, n_dims=None):
    n = len(dims) if n_dims is None else n_dims
    return (gguf_string(name) + struct.pack("<I", n) + b"".join(struct.pack("<Q", d) for d in dims)
            + struct.pack("<I", ggml_type) + struct.pack("<Q", offset))


def assemble(kvs, infos, data, version=3, tensor_count=None, kv_count=None, alignment=32, magic=b"GGUF"):
    head = (magic + struct.pack("<I", version) + struct.pack("<Q", len(infos) if tensor_count is None else tensor_count)
            + struct.pack("<Q", len(kvs) if kv_count is None else kv_count))
    body = head + b"".join(kvs) + b"".join(infos)
    pad = (-len(body)) % alignment
    return body + b"\0" * pad + data


ARCH = kv("general.architecture", V.STRING, gguf_string("tiny"))
LIST = kv("tiny.list", V.ARRAY, struct.pack("<IQ", V.UINT32, 3) + struct.pack("<3I", 1, 2, 3))
W_INFO = tensor_info("w", [4, 2], Q.F32, 0)
W_DATA = np.arange(8, dtype="<f4").tobytes()


def tiny(**kw):
    return assemble([ARCH, LIST], [W_INFO], W_DATA, **kw)


# Layout of tiny (checked here, relied on by the test): header 0..24, key "general.architecture" at 24,
# its string value length at 56 and bytes at 64..68, "tiny.list" at 68 (array count at 93, elements 101..113),
# tensor info "w" at 113 (n_dims at 122, dims at 126, type at 142, offset at 146), data section at 160..192.
TINY = tiny()
assert len(TINY) == 192 and TINY[64:68] == b"tiny" and TINY[160:164] == W_DATA[:4]
assert struct.unpack_from("<Q", TINY, 93)[0] == 3 and struct.unpack_from("<I", TINY, 122)[0] == 2

with open(out_path("valid", "tiny.gguf"), "wb") as f:
    f.write(TINY)


def malformed(name, data):
    with open(out_path("malformed", name + ".gguf"), "wb") as f:
        f.write(data)


def patched(data, offset, fmt, value):
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


malformed("bad_magic", tiny(magic=b"GGML"))
malformed("version_1", tiny(version=1))
malformed("version_4", tiny(version=4))
malformed("big_endian_version", patched(TINY, 4, ">I", 3))
malformed("empty", b"")
malformed("truncated_in_magic", TINY[:3])
malformed("truncated_in_header", TINY[:13])                # inside tensor_count
# A truncated string must be long enough for the counts in the header to stay plausible: general.description
# (100 bytes) has its length at 99 and its bytes at 107..207.
DESC = kv("general.description", V.STRING, gguf_string("x" * 100))
malformed("truncated_in_string", assemble([ARCH, DESC, LIST], [W_INFO], W_DATA)[:150])
malformed("truncated_in_array", TINY[:105])                # inside the UINT32 elements of tiny.list
# tiny.names = ["alpha", "beta", "gamma"]: "gamma" has its length at 127 and its bytes at 135..140.
NAMES = kv("tiny.names", V.ARRAY, struct.pack("<IQ", V.STRING, 3) + gguf_string("alpha") + gguf_string("beta")
           + gguf_string("gamma"))
malformed("truncated_in_string_array", assemble([ARCH, NAMES], [W_INFO], W_DATA)[:137])
malformed("truncated_in_tensor_info", TINY[:130])          # inside the dims of "w"
malformed("truncated_in_tensor_data", TINY[:180])          # 20 of the 32 data bytes
malformed("huge_string_length", patched(TINY, 56, "<Q", 1 << 63))
malformed("huge_key_length", patched(TINY, 24, "<Q", 0xFFFFFFFFFFFFFFFF))
malformed("huge_array_count", patched(TINY, 93, "<Q", 1 << 62))
malformed("huge_tensor_count", patched(TINY, 8, "<Q", 1 << 60))
malformed("huge_kv_count", patched(TINY, 16, "<Q", 1 << 40))
malformed("n_dims_5", assemble([ARCH, LIST], [tensor_info("w", [4, 2, 1, 1, 1], Q.F32, 0)], W_DATA))
malformed("dims_overflow", assemble([ARCH, LIST], [tensor_info("w", [1 << 32, 1 << 32], Q.F32, 0)], W_DATA))
# 2^62 F64 elements are 2^65 bytes: the size must not wrap around to 0.
malformed("tensor_larger_than_file", assemble([ARCH, LIST], [tensor_info("w", [1 << 31, 1 << 31], Q.F64, 0)], W_DATA))
malformed("unknown_tensor_type", patched(TINY, 142, "<I", 99))
malformed("block_size_mismatch", assemble([ARCH, LIST], [tensor_info("w", [33, 1], Q.Q8_0, 0)], W_DATA))
malformed("offset_outside_file", patched(TINY, 146, "<Q", 4096))
malformed("offset_huge", patched(TINY, 146, "<Q", 0xFFFFFFFFFFFFFFE0))
malformed("misaligned_offset", patched(TINY, 146, "<Q", 4))
ALIGN_48 = kv("general.alignment", V.UINT32, struct.pack("<I", 48))
malformed("bad_alignment", assemble([ARCH, ALIGN_48], [W_INFO], W_DATA))
ALIGN_0 = kv("general.alignment", V.UINT32, struct.pack("<I", 0))
malformed("zero_alignment", assemble([ARCH, ALIGN_0], [W_INFO], W_DATA))
ALIGN_STR = kv("general.alignment", V.STRING, gguf_string("32"))
malformed("alignment_wrong_type", assemble([ARCH, ALIGN_STR], [W_INFO], W_DATA))
malformed("unknown_value_type", patched(TINY, 52, "<I", 13))
malformed("unknown_array_element_type", patched(TINY, 89, "<I", 77))
malformed("invalid_bool", assemble([ARCH, kv("tiny.flag", V.BOOL, b"\x02")], [W_INFO], W_DATA))
NESTED = struct.pack("<IQ", V.UINT8, 0)
for _ in range(9):
    NESTED = struct.pack("<IQ", V.ARRAY, 1) + NESTED
malformed("arrays_nested_too_deep", assemble([ARCH, kv("tiny.deep", V.ARRAY, NESTED)], [W_INFO], W_DATA))
malformed("duplicate_key", assemble([ARCH, ARCH], [W_INFO], W_DATA))
malformed("duplicate_tensor", assemble([ARCH], [W_INFO, tensor_info("w", [4], Q.F32, 32)], W_DATA + W_DATA))
malformed("overlapping_tensors",
          assemble([ARCH], [W_INFO, tensor_info("v", [4, 2], Q.F32, 0)], W_DATA))
# A newline in a key must not break the one-line error message.
malformed("newline_in_key", assemble([kv("bad\nkey", V.UINT8, b"\x01"), kv("bad\nkey", V.UINT8, b"\x01")],
                                     [W_INFO], W_DATA))

# An empty array and an empty string (GGUFWriter writes neither), a tensor with no dims and one with no elements.
EMPTY = kv("tiny.empty", V.ARRAY, struct.pack("<IQ", V.STRING, 0))
EMPTY_STRING = kv("tiny.empty_string", V.STRING, gguf_string(""))
with open(out_path("valid", "edge_cases.gguf"), "wb") as f:
    f.write(assemble([ARCH, EMPTY, EMPTY_STRING], [tensor_info("scalar", [], Q.F32, 0), tensor_info("empty", [0, 3], Q.F32, 0)],
                     struct.pack("<f", 42.0)))
