#!/usr/bin/python3
"""PyTorch eager as a second reference for the llm forward pass (issue 17): the same three
measurements as infergate-llm-bench and bench/llm_llamacpp.mjs on the same GGUF files.

  bench/llm_torch.py MODEL.gguf [threads]      # prompt 64, generation batch 1 and 4
  bench/llm_torch.py --check                   # logits against scripts/gguf/ref_llama.py

Debian's python3-torch (1.13) and python3-numpy, run with /usr/bin/python3. The file is read
and dequantized by the project's own scripts/gguf/ code (gguf_io.Reader and
ggml_quants.dequantize, through ref_llama.Model for the hyperparameters). PyTorch eager has no
GGUF quantized types, so every weight becomes a float32 tensor and every matmul is a float32
GEMM: a Q8_0 and a Q4_K file give the same work (and nearly the same speed), 4 bytes per weight
read, against the 1.06 and 0.56 bytes of the quantized runners.

The pass is written from the architecture (scripts/gguf/README.md): RMSNorm, RoPE with the
file's base (llama: adjacent pairs; qwen2: pairs half a rotation apart, plus the q/k/v biases),
grouped-query attention, SwiGLU, tied or untied output. Keys and values go into preallocated
tensors (layer, sequence, kv head, position, head_dim); the sequences of one batch share a
length. Everything runs under torch.inference_mode() with torch.set_num_threads(threads).

Workloads, as infergate-llm-bench: a 64-token prompt (100 + 37 i) in one forward, logits of
its last position only; generation of one token per sequence per forward at context 64 to 192
(the cache refilled with a 64-token prompt, untimed, before each repetition), batch 1 and 4,
logits for every token. Each measurement has a warm-up repetition. Prints wall-clock tokens/s
and tokens per CPU second of the whole process (time.process_time()), like llm_llamacpp.mjs.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts",
                                "gguf"))

import gen_gguf  # noqa: E402
import ref_llama  # noqa: E402

# Debian's torch does its float32 GEMMs through whatever libblas.so.3 the system alternative
# points at; with only libblas3 (the reference BLAS, what installing python3-torch brings)
# that is ~4 GFLOPS. With libopenblas0-pthread installed, the script re-executes itself with
# OpenBLAS first on the library path (OPENBLAS_NUM_THREADS = threads), whatever the system
# alternative says; LLM_TORCH_BLAS=system keeps the system's.
OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-pthread"


def prefer_openblas(threads):
    path = os.environ.get("LD_LIBRARY_PATH", "")
    if (os.environ.get("LLM_TORCH_BLAS", "openblas") != "openblas" or not os.path.isdir(OPENBLAS)
            or path.split(":")[0] == OPENBLAS):
        return
    env = dict(os.environ, LD_LIBRARY_PATH=":".join(filter(None, (OPENBLAS, path))),
               OPENBLAS_NUM_THREADS=str(threads))
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def blas_in_use():
    """The BLAS library this process has mapped."""
    with open("/proc/self/maps") as maps:
        libs = {line.split()[-1] for line in maps if "blas" in line.rsplit("/", 1)[-1]}
    return ", ".join(sorted(libs)) or "none mapped"


class Cache:
    """Keys and values of up to `batch` sequences of up to `context` positions."""

    def __init__(self, model, batch, context):
        shape = (model.n_layer, batch, model.n_kv, context, model.head_dim)
        self.k = torch.zeros(shape)
        self.v = torch.zeros(shape)
        self.length = 0

    def clear(self):
        self.length = 0


class TorchLlama:
    def __init__(self, path, max_context=256):
        ref = ref_llama.Model(path, np.float32)
        for key in ("arch", "n_embd", "n_layer", "n_head", "n_kv", "head_dim", "n_rot", "eps",
                    "rope_mode"):
            setattr(self, key, getattr(ref, key))
        self.group = self.n_head // self.n_kv

        def weight(name):
            return torch.from_numpy(np.ascontiguousarray(ref.weight(name)))

        def optional(name):
            return weight(name) if ref.has(name) else None

        self.token_embd = weight("token_embd.weight")
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            layer = {n: weight(p + n + ".weight") for n in (
                "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
                "ffn_up", "ffn_down")}
            for n in ("attn_q", "attn_k", "attn_v"):
                layer[n + ".bias"] = optional(p + n + ".bias")
            self.layers.append(layer)
        self.output_norm = weight("output_norm.weight")
        self.output = optional("output.weight")
        if self.output is None:
            self.output = self.token_embd  # tied embeddings
        # RoPE angles in float64 (as the reference), stored as float32 cos/sin per position.
        half = self.n_rot // 2
        inv_freq = ref.base ** (-2.0 * np.arange(half) / self.n_rot)
        theta = np.outer(np.arange(max_context) * ref.freq_scale, inv_freq)
        if ref.freq_factors is not None:
            theta = theta / ref.freq_factors[:half].astype(np.float64)
        self.cos = torch.from_numpy(np.cos(theta).astype(np.float32))
        self.sin = torch.from_numpy(np.sin(theta).astype(np.float32))
        self.n_vocab = self.token_embd.shape[0]
        self.n_params = sum(t.numel() for t in self.tensors())
        self.types = sorted({t.type_name for t in ref.tensors.values()})

    def tensors(self):
        out = [self.token_embd, self.output_norm]
        if self.output is not self.token_embd:
            out.append(self.output)
        for layer in self.layers:
            out += [t for t in layer.values() if t is not None]
        return out

    def rmsnorm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x, start):
        """x: (B, heads, T, head_dim) at positions start..start+T-1; a rotated copy."""
        T, half = x.shape[2], self.n_rot // 2
        cos, sin = self.cos[start:start + T], self.sin[start:start + T]  # (T, half)
        if self.rope_mode == "normal":  # (x[2i], x[2i+1])
            pairs = x[..., :self.n_rot].unflatten(-1, (half, 2))
            a, b = pairs[..., 0], pairs[..., 1]
            rotated = torch.stack((a * cos - b * sin, a * sin + b * cos), -1).flatten(-2)
        else:  # (x[i], x[i + n_rot/2])
            a, b = x[..., :half], x[..., half:self.n_rot]
            rotated = torch.cat((a * cos - b * sin, a * sin + b * cos), -1)
        if self.n_rot == self.head_dim:
            return rotated
        return torch.cat((rotated, x[..., self.n_rot:]), -1)

    def forward(self, tokens, cache, last_only=False):
        """tokens: (B, T) int64, appended to the B first sequences of `cache` (all at
        cache.length). Logits (B, T, n_vocab), or (B, 1, n_vocab) with last_only."""
        B, T = tokens.shape
        start, end = cache.length, cache.length + T
        if end > cache.k.shape[3] or B > cache.k.shape[1]:
            raise ValueError(f"cache too small for {B} x {end}")
        x = self.token_embd[tokens]
        mask = None
        if T > 1:  # causal: query t (at start + t) sees keys 0..start + t
            mask = torch.full((T, end), float("-inf")).triu(start + 1).repeat(self.group, 1)
        scale = 1.0 / float(self.head_dim) ** 0.5
        for i, w in enumerate(self.layers):
            h = self.rmsnorm(x, w["attn_norm"])
            q = F.linear(h, w["attn_q"], w["attn_q.bias"])
            k = F.linear(h, w["attn_k"], w["attn_k.bias"])
            v = F.linear(h, w["attn_v"], w["attn_v.bias"])
            q = self.rope(q.view(B, T, self.n_head, self.head_dim).transpose(1, 2), start)
            k = self.rope(k.view(B, T, self.n_kv, self.head_dim).transpose(1, 2), start)
            cache.k[i, :B, :, start:end] = k
            cache.v[i, :B, :, start:end] = v.view(B, T, self.n_kv, self.head_dim).transpose(1, 2)
            keys, values = cache.k[i, :B, :, :end], cache.v[i, :B, :, :end]
            # The `group` query heads of one kv head as one (group * T)-row matrix.
            q = q.reshape(B, self.n_kv, self.group * T, self.head_dim)
            scores = torch.matmul(q, keys.transpose(-1, -2)) * scale
            if mask is not None:
                scores = scores + mask
            heads = torch.matmul(torch.softmax(scores, -1), values)
            heads = heads.view(B, self.n_head, T, self.head_dim).transpose(1, 2)
            x = x + F.linear(heads.reshape(B, T, self.n_embd), w["attn_output"])
            h = self.rmsnorm(x, w["ffn_norm"])
            x = x + F.linear(F.silu(F.linear(h, w["ffn_gate"])) * F.linear(h, w["ffn_up"]),
                             w["ffn_down"])
        cache.length = end
        if last_only:
            x = x[:, -1:]
        return F.linear(self.rmsnorm(x, self.output_norm), self.output)


def check():
    """Logits of a small generated f32 llama and qwen2 against ref_llama.py (float64): a prompt
    in one pass, the same tokens one at a time through the cache, and a batch of two."""
    tokens = [1, 5, 9, 200, 17, 3, 42, 99, 281, 0]
    other = [270, 2, 77, 8, 150, 61, 12, 250, 33, 5]
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ("llama", "qwen2"):
            path = os.path.join(tmp, f"{arch}.gguf")
            gen_gguf.main(["--arch", arch, "--type", "f32", "--seed", "3", "--out", path])
            ref = ref_llama.Model(path)
            want = [ref.forward(tokens), ref.forward(other)]
            m = TorchLlama(path, 64)
            got = {}
            cache = Cache(m, 2, 64)
            got["prompt"] = [m.forward(torch.tensor([tokens]), cache)[0]]
            cache.clear()
            steps = [m.forward(torch.tensor([tokens[:4]]), cache)[0]]
            steps += [m.forward(torch.tensor([[t]]), cache)[0] for t in tokens[4:]]
            got["one at a time"] = [torch.cat(steps)]
            cache.clear()
            both = m.forward(torch.tensor([tokens[:6], other[:6]]), cache)
            both = torch.cat((both, m.forward(torch.tensor([tokens[6:], other[6:]]), cache)), 1)
            got["batch of 2"] = [both[0], both[1]]
            for what, logits in got.items():
                diff = max(float(np.abs(g.double().numpy() - w).max())
                           for g, w in zip(logits, want))
                spread = float(np.abs(want[0]).max())
                worst = max(worst, diff)
                print(f"{arch:6} {what:14} max |torch - ref| {diff:.2e} "
                      f"(logits up to {spread:.1f})")
    ok = worst < 1e-4
    print(f"check {'passed' if ok else 'FAILED'}: worst {worst:.2e}, tolerance 1e-04")
    return 0 if ok else 1


def measure(name, tokens_per_rep, reps, setup, body):
    """Times `body` (after the untimed `setup`) over `reps` repetitions after one warm-up."""
    wall = cpu = 0.0
    for i in range(reps + 1):
        setup()
        t0, c0 = time.perf_counter(), time.process_time()
        body()
        if i > 0:
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
    n = tokens_per_rep * reps
    print(f"{name:<28} {n / wall:8.1f} tok/s {n / cpu:8.1f} tok/cpu_s", flush=True)


def bench(path, threads):
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    m = TorchLlama(path)
    print(f"# torch {torch.__version__} eager, {threads} thread(s): {os.path.basename(path)} "
          f"({'/'.join(m.types)}) dequantized to float32, {m.n_params / 1e6:.0f}M parameters, "
          f"loaded in {time.perf_counter() - t0:.1f} s; BLAS {blas_in_use()}", flush=True)

    prompt = torch.tensor([[100 + 37 * i for i in range(64)]])
    cache = Cache(m, 1, 128)
    measure("prompt 64", 64, 5, cache.clear, lambda: m.forward(prompt, cache, last_only=True))

    for batch in (1, 4):
        cache = Cache(m, batch, 192)
        fill = torch.full((batch, 64), 7, dtype=torch.long)

        def setup():
            cache.clear()
            m.forward(fill, cache, last_only=True)

        def generate():
            for _ in range(128):  # context 64 to 192
                step = torch.tensor([[1000 + b + cache.length] for b in range(batch)])
                m.forward(step, cache)

        measure(f"generate batch {batch}", batch * 128, 2, setup, generate)


def main(argv):
    p = argparse.ArgumentParser(description="PyTorch eager tokens/s on a GGUF llama.")
    p.add_argument("model", nargs="?")
    p.add_argument("threads", nargs="?", type=int, default=1)
    p.add_argument("--check", action="store_true",
                   help="compare logits with ref_llama.py on small generated models")
    args = p.parse_args(argv)
    if args.model is None and not args.check:
        p.error("a model file (or --check) is required")
    if args.threads < 1:
        p.error("threads must be at least 1")
    prefer_openblas(args.threads)
    with torch.inference_mode():
        if args.check:
            return check()
        bench(args.model, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
