#!/usr/bin/env python3
"""Makes the reference cases for `ckv select` (tests/test_cli_select.cpp).

An independent float64 NumPy implementation of the selection step as the CompressKV reference code defines
it (softmax of the last W query rows against all keys with a causal mask inside the window, sum over the
rows, avg/max pooling with PyTorch's padding rules, mean over heads, top-k, plus the window). Each case
writes <name>_q.npy, <name>_k.npy (float32) and <name>_idx.npy (int64, the expected output), and
cases.json lists the command-line arguments. Seeds are searched until the k-th and (k+1)-th scores differ
by a clear margin, so fp32 rounding on the GPU cannot flip the selection.

Run: python3 make_select_cases.py   (numpy only)
"""
import json
import numpy as np


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def head_window_scores(q, k, head, window):
    n_q, t, d = q.shape
    group = n_q // k.shape[0]
    logits = q[head, t - window:, :] @ k[head // group].T / np.sqrt(d)
    for w in range(window):
        logits[w, t - window + w + 1:] = -np.inf
    return softmax(logits)[:, : t - window].sum(axis=0)


def pool(scores, kernel, kind):
    pad = kernel // 2
    fill = 0.0 if kind == "avg" else -np.inf
    padded = np.concatenate([np.full(pad, fill), scores, np.full(pad, fill)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel)
    return windows.sum(axis=1) / kernel if kind == "avg" else windows.max(axis=1)


def select(row_scores, keep, t, window):
    order = np.argsort(-row_scores, kind="stable")
    kth, next_ = row_scores[order[keep - 1]], row_scores[order[keep]]
    margin = (kth - next_) / max(abs(kth), 1e-30)
    idx = np.sort(order[:keep])
    return np.concatenate([idx, np.arange(t - window, t)]), margin


def run_case(q, k, method, heads, budget, window, kernel, kind):
    q64, k64 = q.astype(np.float64), k.astype(np.float64)
    n_q, t, _ = q.shape
    n_kv = k.shape[0]
    if method == "streaming":
        sinks = 4
        return np.concatenate([np.arange(sinks), np.arange(t - (budget - sinks), t)]), 1.0
    if method == "compresskv":
        rows = [heads]
    else:  # snapkv: every query head, grouped by KV head
        group = n_q // n_kv
        rows = [list(range(g * group, (g + 1) * group)) for g in range(n_kv)]
    out, margins = [], []
    for row in rows:
        pooled = np.mean([pool(head_window_scores(q64, k64, h, window), kernel, kind) for h in row], axis=0)
        idx, margin = select(pooled, budget - window, t, window)
        out.append(idx)
        margins.append(margin)
    result = out[0] if method != "snapkv" else np.stack(out)
    return result, min(margins)


CASES = [
    # name, method, n_q, n_kv, t, d, heads, budget, window, kernel, pool, needle
    ("compress_avg", "compresskv", 8, 2, 200, 16, [5, 1, 6, 3], 40, 8, 5, "avg", False),
    ("compress_max_gqa3", "compresskv", 6, 2, 97, 8, [4, 0], 20, 8, 5, "max", False),
    ("compress_window4_k3", "compresskv", 4, 4, 130, 16, [2, 3, 2], 33, 4, 3, "avg", False),
    ("snapkv", "snapkv", 4, 2, 150, 16, [], 32, 8, 5, "avg", False),
    ("streaming", "streaming", 4, 2, 100, 8, [], 20, 8, 5, "avg", False),
    ("compress_needle", "compresskv", 8, 2, 300, 16, [0, 2, 4, 6], 24, 8, 5, "avg", True),
]


def main():
    listing = []
    for name, method, n_q, n_kv, t, d, heads, budget, window, kernel, kind, needle in CASES:
        for seed in range(1000):
            rng = np.random.default_rng(seed * 7919 + len(name))
            q = rng.standard_normal((n_q, t, d)).astype(np.float32)
            k = rng.standard_normal((n_kv, t, d)).astype(np.float32)
            if needle:  # keys 120..122 point along the window queries of every head: they must be kept
                direction = q[:, t - window:, :].mean(axis=(0, 1))
                direction /= np.linalg.norm(direction)
                k[:, 120:123, :] = (4.0 * np.sqrt(d) * direction).astype(np.float32)
            idx, margin = run_case(q, k, method, heads, budget, window, kernel, kind)
            if margin > 1e-3:
                break
        if needle:
            assert all(j in idx for j in (120, 121, 122)), "needle not selected by the reference"
        np.save(f"{name}_q.npy", q)
        np.save(f"{name}_k.npy", k)
        np.save(f"{name}_idx.npy", idx.astype(np.int64))
        args = ["--budget", str(budget), "--window", str(window), "--kernel", str(kernel), "--pool", kind,
                "--method", method]
        if heads:
            args += ["--heads", ",".join(map(str, heads))]
        listing.append({"name": name, "args": args, "seed": seed, "margin": float(margin)})
    with open("cases.json", "w") as f:
        json.dump(listing, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
