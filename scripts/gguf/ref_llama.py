#!/usr/bin/python3
"""Reference forward pass for llama- and qwen2-architecture GGUF files, in numpy (float64).

  ref_llama.py model.gguf --tokens 1,5,9 --steps 8 --json

Prints the logits at every prompt position and the greedy continuation (with each step's logits,
top tokens and the margin between the best two), as JSON with --json. Written from the
architecture's definition, independent of the C++ runner:

  x = token_embd[token]                                   (row `token`, dequantized)
  per layer:
    h = rmsnorm(x) * attn_norm
    q, k, v = Wq h (+ bq), Wk h (+ bk), Wv h (+ bv)       (biases: qwen2)
    q, k = rope(q, pos), rope(k, pos)                     (per head, see below)
    head i attends with kv head i // (n_head / n_head_kv) (GQA), causal,
      softmax(q k^T / sqrt(head_dim)) v
    x = x + Wo concat(heads)
    h = rmsnorm(x) * ffn_norm
    x = x + Wdown (silu(Wgate h) * (Wup h))               (SwiGLU)
  logits = Wout (rmsnorm(x) * output_norm)                (Wout = token_embd when output.weight
                                                           is absent: tied embeddings)
  rmsnorm(x) = x / sqrt(mean(x^2) + eps), eps = {arch}.attention.layer_norm_rms_epsilon

RoPE: theta_i = pos * freq_scale * freq_base^(-2i / n_rot) for i < n_rot / 2 (divided by
rope_freqs.weight[i] when the file has that tensor), n_rot = {arch}.rope.dimension_count
(default head_dim), freq_scale = 1 / {arch}.rope.scaling.factor for linear scaling (else 1).
Pair (a, b) becomes (a cos - b sin, a sin + b cos). Which values pair up is the architecture's:
  llama: adjacent values (x[2i], x[2i+1])          ggml's "normal" mode
  qwen2: values half a rotation apart (x[i], x[i + n_rot/2])   ggml's "neox" mode
Dimensions past n_rot are left alone. A matrix tensor with ne = [n_in, n_out] is n_out rows of
n_in values; y = W x means y[o] = sum_i row_o[i] x[i].

Weights are dequantized exactly as the format defines (ggml_quants.py), then everything is
float64: a runner that computes in float32 differs from these logits by float32 rounding only.
"""

import argparse
import json
import sys

import numpy as np

from ggml_quants import dequantize
from gguf_io import Reader

ROPE_MODE = {"llama": "normal", "qwen2": "neox"}


class Model:
    def __init__(self, path, dtype=np.float64):
        self.dtype = dtype  # float32 only to estimate what a float32 runner's rounding costs
        r = Reader(path)
        self.meta = r.metadata
        self.tensors = r.tensors
        a = self.arch = self.meta["general.architecture"]
        if a not in ROPE_MODE:
            sys.exit(f"ref_llama: architecture {a!r} is not llama or qwen2")
        self.n_embd = self.meta[f"{a}.embedding_length"]
        self.n_layer = self.meta[f"{a}.block_count"]
        self.n_head = self.meta[f"{a}.attention.head_count"]
        self.n_kv = self.meta.get(f"{a}.attention.head_count_kv", self.n_head)
        self.head_dim = self.n_embd // self.n_head
        self.n_rot = self.meta.get(f"{a}.rope.dimension_count", self.head_dim)
        self.eps = float(self.meta[f"{a}.attention.layer_norm_rms_epsilon"])
        self.base = float(self.meta.get(f"{a}.rope.freq_base", 10000.0))
        self.freq_scale = 1.0
        if self.meta.get(f"{a}.rope.scaling.type") == "linear":
            self.freq_scale = 1.0 / float(self.meta[f"{a}.rope.scaling.factor"])
        elif f"{a}.rope.scale_linear" in self.meta:
            self.freq_scale = 1.0 / float(self.meta[f"{a}.rope.scale_linear"])
        self.rope_mode = ROPE_MODE[a]
        self.freq_factors = self.weight("rope_freqs.weight") if "rope_freqs.weight" in \
            self.tensors else None
        self.cache = {}

    def weight(self, name):
        """The tensor in self.dtype, shaped (ne[1], ne[0]) for matrices."""
        t = self.tensors[name]
        values = dequantize(t.type_name, t.data, t.n).astype(self.dtype)
        return values.reshape(list(reversed(t.ne))) if len(t.ne) > 1 else values

    def w(self, name):
        if name not in self.cache:
            self.cache[name] = self.weight(name)
        return self.cache[name]

    def has(self, name):
        return name in self.tensors

    def rmsnorm(self, x, weight):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * weight

    def rope(self, x, positions):
        """x: (T, heads, head_dim), rotated in place by position."""
        half = self.n_rot // 2
        inv_freq = self.base ** (-2.0 * np.arange(half) / self.n_rot)
        theta = np.outer(positions * self.freq_scale, inv_freq)  # (T, half)
        if self.freq_factors is not None:
            theta = theta / self.freq_factors[:half]
        cos, sin = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
        if self.rope_mode == "normal":
            a, b = x[:, :, 0:self.n_rot:2].copy(), x[:, :, 1:self.n_rot:2].copy()
            x[:, :, 0:self.n_rot:2] = a * cos - b * sin
            x[:, :, 1:self.n_rot:2] = a * sin + b * cos
        else:
            a, b = x[:, :, :half].copy(), x[:, :, half:self.n_rot].copy()
            x[:, :, :half] = a * cos - b * sin
            x[:, :, half:self.n_rot] = a * sin + b * cos
        return x

    def linear(self, name, x):
        y = x @ self.w(name + ".weight").T
        if self.has(name + ".bias"):
            y = y + self.w(name + ".bias")
        return y

    def forward(self, tokens):
        """Logits (T, n_vocab) for every position of `tokens`."""
        n_vocab = self.tensors["token_embd.weight"].ne[1]
        for t in tokens:
            if not 0 <= t < n_vocab:
                sys.exit(f"ref_llama: token {t} is outside the vocabulary of {n_vocab}")
        T = len(tokens)
        pos = np.arange(T, dtype=self.dtype)
        x = self.w("token_embd.weight")[tokens]
        group = self.n_head // self.n_kv
        mask = np.triu(np.full((T, T), -np.inf, dtype=self.dtype), k=1)
        for i in range(self.n_layer):
            p = f"blk.{i}."
            h = self.rmsnorm(x, self.w(p + "attn_norm.weight"))
            q = self.linear(p + "attn_q", h).reshape(T, self.n_head, self.head_dim)
            k = self.linear(p + "attn_k", h).reshape(T, self.n_kv, self.head_dim)
            v = self.linear(p + "attn_v", h).reshape(T, self.n_kv, self.head_dim)
            q, k = self.rope(q, pos), self.rope(k, pos)
            heads = np.empty((T, self.n_head, self.head_dim), dtype=self.dtype)
            for hd in range(self.n_head):
                kv = hd // group
                scores = q[:, hd, :] @ k[:, kv, :].T / np.sqrt(self.head_dim) + mask
                scores = np.exp(scores - scores.max(axis=1, keepdims=True))
                heads[:, hd, :] = (scores / scores.sum(axis=1, keepdims=True)) @ v[:, kv, :]
            x = x + self.linear(p + "attn_output", heads.reshape(T, -1))
            h = self.rmsnorm(x, self.w(p + "ffn_norm.weight"))
            gate = self.linear(p + "ffn_gate", h)
            up = self.linear(p + "ffn_up", h)
            x = x + self.linear(p + "ffn_down", gate / (1.0 + np.exp(-gate)) * up)
        x = self.rmsnorm(x, self.w("output_norm.weight"))
        out = "output.weight" if self.has("output.weight") else "token_embd.weight"
        return x @ self.w(out).T


def top(logits, k):
    order = np.argsort(-logits, kind="stable")[:k]
    return [[int(i), float(logits[i])] for i in order]


def main(argv):
    p = argparse.ArgumentParser(description="Reference logits and greedy continuation.")
    p.add_argument("model")
    p.add_argument("--tokens", required=True, help="comma-separated token ids")
    p.add_argument("--steps", type=int, default=8, help="greedy tokens to generate")
    p.add_argument("--top", type=int, default=5, help="top tokens listed per step")
    p.add_argument("--last-only", action="store_true",
                   help="prompt logits of the last position only (large vocabularies)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--float32", action="store_true",
                   help="compute in float32 instead (to see the rounding a float32 runner has)")
    args = p.parse_args(argv)
    tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    if not tokens:
        p.error("--tokens needs at least one id")
    m = Model(args.model, np.float32 if args.float32 else np.float64)
    prompt_logits = m.forward(tokens)
    seq = list(tokens)
    steps = []
    logits = prompt_logits[-1]
    for _ in range(args.steps):
        best = top(logits, max(2, args.top))
        nxt = best[0][0]
        steps.append({"token": nxt, "margin": best[0][1] - best[1][1], "top": best[:args.top],
                      "logits": [float(v) for v in logits]})
        seq.append(nxt)
        logits = m.forward(seq)[-1]
    result = {
        "model": args.model,
        "architecture": m.arch,
        "rope": m.rope_mode,
        "dtype": np.dtype(m.dtype).name,
        "prompt": tokens,
        "prompt_logits": [[float(v) for v in row]
                          for row in (prompt_logits[-1:] if args.last_only else prompt_logits)],
        "greedy": [s["token"] for s in steps],
        "steps": steps,
    }
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"{m.arch} ({m.rope_mode} rope), prompt {tokens}")
        print(f"greedy: {result['greedy']}")
        for s in steps:
            print(f"  {s['token']:6d}  margin {s['margin']:.4f}  top {s['top']}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except BrokenPipeError:  # piped into head
        sys.stderr.close()
