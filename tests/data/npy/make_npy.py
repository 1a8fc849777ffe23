#!/usr/bin/env python3
"""Writes the tiny .npy fixtures read by tests/test_npy.cpp. Run from anywhere: python3 make_npy.py
The expected values are repeated in tests/test_npy.cpp; change both together."""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def save(name, array, version=None):
    path = os.path.join(HERE, name)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, array, version=version, allow_pickle=False)


# Readable files.
save("f4_2x3.npy", (np.arange(6, dtype="<f4") * 0.5 - 1).reshape(2, 3))
save("f8_4.npy", np.array([1.5, -2.25, 1e-3, 3.0e10], dtype="<f8"))
save("i4_3.npy", np.array([-1, 0, 2147483647], dtype="<i4"))
save("i8_2x2.npy", np.array([[-5, 2**40], [7, -(2**62)]], dtype="<i8"))
save("u4_3.npy", np.array([0, 4294967295, 7], dtype="<u4"))
save("f4_v2_3x1x2.npy", np.array([0.25, -8, 100, 1e-7, -0.0, 65504], dtype="<f4").reshape(3, 1, 2), version=(2, 0))
save("i4_v3_2.npy", np.array([42, -42], dtype="<i4"), version=(3, 0))
save("f4_scalar.npy", np.array(3.5, dtype="<f4"))
save("f4_0x4.npy", np.zeros((0, 4), dtype="<f4"))

# Files the reader must reject.
save("fortran_f4_2x3.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
save("bigendian_f4_3.npy", np.array([1, 2, 3], dtype=">f4"))
save("f2_2.npy", np.array([1, 2], dtype="<f2"))
