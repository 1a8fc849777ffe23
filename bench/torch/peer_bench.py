#!/usr/bin/env python3
"""The peer side of the GPU benchmarks: the same work as `ckv bench --preset gpu`, done the way a PyTorch user
would, timed with CUDA events in the same device session (median of repeats after warm-up). Writes JSON.

  python3 bench/torch/peer_bench.py --json out.json [--skip-hf]

Cases (shapes of Llama-3.1-8B attention: 32 query heads, 8 KV heads, head dim 128, fp16):
  copy            dst.copy_(src), 1 GiB: bytes read + written
  prefill         causal scaled_dot_product_attention (FlashAttention / cuDNN backends), T = 4K, 16K, 32K
  decode          one query per head against L keys (SDPA), L = 4K .. 128K
  compress        the CompressKV selection step for one layer at T = 32K, budget 512, written in torch exactly as
                  the method defines it (window scores of 4 retrieval heads, pooling, head mean, top-k, gather)
  hf_decode       Hugging Face transformers LlamaForCausalLM (random fp16 weights, Llama-3.1-8B config), eager
                  attention, batch-1 decode steps with a 32K-token cache
"""
import argparse
import json
import math
import statistics

import torch
import torch.nn.functional as F

N_Q, N_KV, D = 32, 8, 128


def time_cuda(fn, warmup=5, repeats=20):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1000.0)  # µs
    return statistics.median(times), min(times), max(times)


def result(name, shape, timing, bytes_=0.0, flops=0.0, note=""):
    median, lo, hi = timing
    r = {"name": name, "shape": shape, "median_us": median, "min_us": lo, "max_us": hi}
    if bytes_:
        r["GB/s"] = bytes_ / median / 1e3
    if flops:
        r["TFLOP/s"] = flops / median / 1e6
    if note:
        r["note"] = note
    print(f"{name:60s} {median:12.1f} us" + (f" {r['GB/s']:9.1f} GB/s" if bytes_ else "") +
          (f" {r['TFLOP/s']:8.1f} TFLOP/s" if flops else ""), flush=True)
    return r


def sdpa_gqa(q, k, v, causal):
    try:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
    except TypeError:  # torch < 2.5: expand the KV heads (outside the kernel's own cost, but inside the timing)
        rep = q.shape[1] // k.shape[1]
        return F.scaled_dot_product_attention(q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1),
                                              is_causal=causal)


def bench_copy():
    n = 1 << 30
    src = torch.empty(n, dtype=torch.uint8, device="cuda").random_(0, 255)
    dst = torch.empty_like(src)
    return [result("copy 1024 MiB", {"bytes": n}, time_cuda(lambda: dst.copy_(src)), bytes_=2.0 * n)]


def bench_prefill():
    out = []
    for t in (4096, 16384, 32768):
        q = torch.randn(1, N_Q, t, D, device="cuda", dtype=torch.float16)
        k = torch.randn(1, N_KV, t, D, device="cuda", dtype=torch.float16)
        v = torch.randn(1, N_KV, t, D, device="cuda", dtype=torch.float16)
        flops = 2.0 * N_Q * D * t * t  # causal half of QK^T and PV, as the ckv bench counts
        out.append(result(f"prefill attention T={t} (torch SDPA causal fp16)",
                          {"n_q": N_Q, "n_kv": N_KV, "d": D, "T": t},
                          time_cuda(lambda: sdpa_gqa(q, k, v, True), repeats=10), flops=flops))
        del q, k, v
    return out


def bench_decode():
    out = []
    for length in (4096, 16384, 32768, 131072):
        q = torch.randn(1, N_Q, 1, D, device="cuda", dtype=torch.float16)
        k = torch.randn(1, N_KV, length, D, device="cuda", dtype=torch.float16)
        v = torch.randn(1, N_KV, length, D, device="cuda", dtype=torch.float16)
        out.append(result(f"decode attention L={length} (torch SDPA fp16)",
                          {"n_q": N_Q, "n_kv": N_KV, "d": D, "kv_length": length},
                          time_cuda(lambda: sdpa_gqa(q, k, v, False)), bytes_=2.0 * N_KV * length * D * 2))
        del q, k, v
    return out


def compress_layer(q_window, k, v, heads, budget, window=8, kernel=5):
    """CompressKV selection for one layer. q_window [n_q, W, d] (fp16, the prompt's last W query rows),
    k, v [n_kv, T, d] fp16, heads: the layer's retrieval query heads. Returns the compacted k, v [n_kv, B, d]."""
    n_q, _, d = q_window.shape
    n_kv, t, _ = k.shape
    group = n_q // n_kv
    heads_t = torch.tensor(heads, device=k.device)
    q = q_window[heads_t].float()                      # [H, W, d]
    kk = k[heads_t // group].float()                   # [H, T, d]
    scores = torch.matmul(q, kk.transpose(1, 2)) / math.sqrt(d)   # [H, W, T]
    causal = torch.ones(window, window, device=k.device, dtype=torch.bool).tril()
    scores[:, :, t - window:].masked_fill_(~causal, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    votes = probs[:, :, : t - window].sum(dim=1)       # [H, T - W]
    pooled = F.avg_pool1d(votes.unsqueeze(1), kernel, stride=1, padding=kernel // 2).squeeze(1)
    mean = pooled.mean(dim=0)                          # [T - W]
    keep = mean.topk(budget - window).indices.sort().values
    keep = torch.cat([keep, torch.arange(t - window, t, device=k.device)])
    return k[:, keep], v[:, keep]


def bench_compress():
    t, budget = 32768, 512
    q_window = torch.randn(N_Q, 8, D, device="cuda", dtype=torch.float16)
    k = torch.randn(N_KV, t, D, device="cuda", dtype=torch.float16)
    v = torch.randn(N_KV, t, D, device="cuda", dtype=torch.float16)
    heads = [3, 9, 17, 30]
    return [result(f"compress one layer: CompressKV, 4 retrieval heads, B={budget} T={t} (torch)",
                   {"T": t, "budget": budget, "heads": 4},
                   time_cuda(lambda: compress_layer(q_window, k, v, heads, budget)))]


def bench_hf_decode(context=32768, steps=16):
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.cache_utils import DynamicCache
    config = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072,
                         rope_theta=500000.0)
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).eval()
    torch.set_default_dtype(torch.float32)
    print(f"HF model: {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters, "
          f"attention {model.config._attn_implementation}", flush=True)
    out = []
    for ctx_len in (0, context):
        try:
            cache = DynamicCache(config=config)
        except TypeError:
            cache = DynamicCache()
        if ctx_len:
            for layer in range(config.num_hidden_layers):  # a filled cache stands in for the prompt
                kv = torch.randn(1, N_KV, ctx_len, D, device="cuda", dtype=torch.float16)
                cache.update(kv, kv.clone(), layer)
        token = torch.tensor([[1]], device="cuda")
        with torch.no_grad():
            for _ in range(3):  # warm-up steps
                logits = model(token, past_key_values=cache, use_cache=True).logits
                token = logits[:, -1:].argmax(-1)
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(steps):
                logits = model(token, past_key_values=cache, use_cache=True).logits
                token = logits[:, -1:].argmax(-1)
            end.record()
            end.synchronize()
        per_token_us = start.elapsed_time(end) * 1000.0 / steps
        r = result(f"HF transformers eager decode, Llama-3.1-8B shape fp16, context {ctx_len}",
                   {"context": ctx_len, "steps": steps}, (per_token_us, per_token_us, per_token_us))
        r["tok/s"] = 1e6 / per_token_us
        print(f"  {r['tok/s']:.1f} tok/s", flush=True)
        out.append(r)
        del cache
        torch.cuda.empty_cache()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    ap.add_argument("--skip-hf", action="store_true")
    args = ap.parse_args()
    report = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda,
              "results": []}
    for fn in (bench_copy, bench_prefill, bench_decode, bench_compress):
        report["results"] += fn()
        torch.cuda.empty_cache()
    if not args.skip_hf:
        try:
            report["results"] += bench_hf_decode()
        except Exception as e:  # a missing transformers install must not lose the other numbers
            print(f"HF decode failed: {e}", flush=True)
            report["hf_error"] = str(e)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
