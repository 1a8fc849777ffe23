#!/usr/bin/env python3
"""Writes the fixtures of tests/test_dequant.cpp: random ggml blocks of every type the kernels support and the
values gguf-py's reference dequantizer gives for them, plus gguf-py's quantization of random floats for the types
it can quantize.

    python3 -m pip install gguf==0.19.0 numpy && python3 tests/data/quant/make_quant_data.py

Files (little-endian, no header):
  <type>.blocks      raw blocks (random bytes; every f16 scale field replaced by a finite value, some subnormal)
  <type>.f32         gguf.quants.dequantize(<type>.blocks) as float32
  quant_input.f32    random floats that quantize_<type>.blocks were made from (gguf.quants.quantize)
"""
import pathlib

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

HERE = pathlib.Path(__file__).resolve().parent
rng = np.random.default_rng(20240611)


def random_halves(n):
    """Finite f16 values over a wide range of magnitudes, a few of them subnormal."""
    v = rng.uniform(-1, 1, n) * np.exp2(rng.integers(-12, 4, n).astype(np.float64))
    v[::7] *= 2.0 ** -12  # down into the f16 subnormals (below 2^-14)
    return v.astype(np.float16)


def set_half(blocks, offset, values):
    blocks[:, offset:offset + 2] = values.view(np.uint8).reshape(-1, 2)


# type -> (elements, block elements, block bytes, byte offsets of the f16 fields in a block)
LAYOUTS = {
    T.Q8_0: (1024, 32, 34, [0]),
    T.Q4_0: (1024, 32, 18, [0]),
    T.Q4_1: (1024, 32, 20, [0, 2]),
    T.Q4_K: (2048, 256, 144, [0, 2]),
    T.Q6_K: (2048, 256, 210, [208]),
}


def write(name, array):
    (HERE / name).write_bytes(np.ascontiguousarray(array).tobytes())


def main():
    for qtype, (count, block, nbytes, half_fields) in LAYOUTS.items():
        blocks = rng.integers(0, 256, (count // block, nbytes), dtype=np.uint8)
        for off in half_fields:
            set_half(blocks, off, random_halves(len(blocks)))
        expected = quants.dequantize(blocks.reshape(-1), qtype).astype("<f4").reshape(-1)
        assert expected.size == count and np.all(np.isfinite(expected))
        write(f"{qtype.name.lower()}.blocks", blocks)
        write(f"{qtype.name.lower()}.f32", expected)

    halves = random_halves(512)
    write("f16.blocks", halves.astype("<f2"))
    write("f16.f32", quants.dequantize(halves.view(np.uint8), T.F16).astype("<f4"))
    floats = (rng.standard_normal(512) * 3).astype("<f4")
    write("f32.blocks", floats)
    write("f32.f32", quants.dequantize(floats.view(np.uint8), T.F32).astype("<f4"))

    x = rng.standard_normal(1024).astype(np.float32)
    x[:32] = 0  # an all-zero block (d = 0)
    x[32:64] = np.linspace(-1, 1, 32)
    write("quant_input.f32", x.astype("<f4"))
    for qtype in (T.Q8_0, T.Q4_0, T.Q4_1):
        write(f"quantize_{qtype.name.lower()}.blocks", quants.quantize(x, qtype).reshape(-1))


if __name__ == "__main__":
    main()
