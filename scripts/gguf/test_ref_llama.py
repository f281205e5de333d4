#!/usr/bin/python3
"""Checks of the generator and the reference forward pass against second formulations.

  /usr/bin/python3 -m unittest discover -s scripts/gguf -p 'test_*.py'

(tests/unit/gguf/generated_model_test.cc runs this too.) The reference is what the C++ runner
is judged by, so it is itself checked: RoPE against rotation by complex multiplication, the
whole forward pass against a token-by-token implementation with a KV cache, causality, and
quantized files against the f32 file made from the same seed.
"""

import io as stdio
import json
import os
import subprocess
import sys
import tempfile
import unittest
from contextlib import redirect_stdout

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gen_gguf  # noqa: E402
import gguf_io  # noqa: E402
import ref_llama  # noqa: E402
from ggml_quants import self_test  # noqa: E402


def generate(directory, arch, type_name, *extra):
    path = os.path.join(directory, f"{arch}-{type_name}-{'-'.join(extra) or 'd'}.gguf")
    gen_gguf.main(["--arch", arch, "--type", type_name, "--seed", "5", "--out", path, *extra])
    return path


def rope_complex(x, positions, base, n_rot, mode):
    """RoPE as complex multiplication: pair (a, b) is a + ib, times e^(i theta)."""
    half = n_rot // 2
    theta = np.outer(positions, base ** (-np.arange(half) * 2.0 / n_rot))[:, None, :]
    if mode == "normal":
        z = x[:, :, 0:n_rot:2] + 1j * x[:, :, 1:n_rot:2]
    else:
        z = x[:, :, :half] + 1j * x[:, :, half:n_rot]
    z = z * np.exp(1j * theta)
    out = x.copy()
    if mode == "normal":
        out[:, :, 0:n_rot:2], out[:, :, 1:n_rot:2] = z.real, z.imag
    else:
        out[:, :, :half], out[:, :, half:n_rot] = z.real, z.imag
    return out


def incremental_logits(m, tokens):
    """A second forward pass: one token at a time, keys and values cached, GQA by repeating the
    kv heads, RoPE by complex multiplication."""
    group = m.n_head // m.n_kv
    caches = [([], []) for _ in range(m.n_layer)]
    out = []
    for pos, tok in enumerate(tokens):
        x = m.w("token_embd.weight")[tok].copy()
        for i in range(m.n_layer):
            p = f"blk.{i}."

            def proj(name, v):
                y = m.w(p + name + ".weight") @ v
                return y + m.w(p + name + ".bias") if m.has(p + name + ".bias") else y

            h = x / np.sqrt(np.mean(x ** 2) + m.eps) * m.w(p + "attn_norm.weight")
            q = proj("attn_q", h).reshape(1, m.n_head, m.head_dim)
            k = proj("attn_k", h).reshape(1, m.n_kv, m.head_dim)
            v = proj("attn_v", h).reshape(m.n_kv, m.head_dim)
            q = rope_complex(q, np.array([pos]), m.base, m.n_rot, m.rope_mode)[0]
            k = rope_complex(k, np.array([pos]), m.base, m.n_rot, m.rope_mode)[0]
            caches[i][0].append(k)
            caches[i][1].append(v)
            keys = np.repeat(np.stack(caches[i][0]), group, axis=1)  # (pos+1, n_head, hd)
            values = np.repeat(np.stack(caches[i][1]), group, axis=1)
            att = np.einsum("hd,thd->ht", q, keys) / np.sqrt(m.head_dim)
            att = np.exp(att - att.max(axis=1, keepdims=True))
            att /= att.sum(axis=1, keepdims=True)
            x = x + proj("attn_output", np.einsum("ht,thd->hd", att, values).reshape(-1))
            h = x / np.sqrt(np.mean(x ** 2) + m.eps) * m.w(p + "ffn_norm.weight")
            g, u = proj("ffn_gate", h), proj("ffn_up", h)
            x = x + proj("ffn_down", g * (1 / (1 + np.exp(-g))) * u)
        x = x / np.sqrt(np.mean(x ** 2) + m.eps) * m.w("output_norm.weight")
        head = "output.weight" if m.has("output.weight") else "token_embd.weight"
        out.append(m.w(head) @ x)
    return np.array(out)


class ReferenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_quantizers_round_trip(self):
        self.assertTrue(self_test(seed=3))

    def test_rope_matches_complex_rotation_and_is_relative(self):
        rng = np.random.default_rng(0)
        for arch in ("llama", "qwen2"):
            m = ref_llama.Model(generate(self.dir, arch, "f32"))
            x = rng.standard_normal((5, 2, m.head_dim))
            pos = np.arange(5, dtype=np.float64) * 3
            np.testing.assert_allclose(m.rope(x.copy(), pos),
                                       rope_complex(x, pos, m.base, m.n_rot, m.rope_mode),
                                       atol=1e-12)
            # q(m) . k(n) depends only on m - n.
            q, k = rng.standard_normal((1, 1, m.head_dim)), rng.standard_normal((1, 1, m.head_dim))
            dots = [float(np.sum(m.rope(q.copy(), np.array([a + 4.0]))
                                 * m.rope(k.copy(), np.array([a]))))
                    for a in (0.0, 7.0, 100.0)]
            np.testing.assert_allclose(dots, dots[0], rtol=1e-9)

    def test_pairing_follows_the_architecture(self):
        self.assertEqual(ref_llama.Model(generate(self.dir, "llama", "f32")).rope_mode, "normal")
        self.assertEqual(ref_llama.Model(generate(self.dir, "qwen2", "f32")).rope_mode, "neox")

    def test_forward_matches_the_incremental_implementation(self):
        tokens = [1, 17, 200, 5, 44, 90]
        for arch, type_name in (("llama", "f32"), ("qwen2", "f32"), ("llama", "q4_k_m"),
                                ("qwen2", "q6_k")):
            m = ref_llama.Model(generate(self.dir, arch, type_name))
            np.testing.assert_allclose(m.forward(tokens), incremental_logits(m, tokens),
                                       rtol=1e-9, atol=1e-9, err_msg=f"{arch} {type_name}")

    def test_causal(self):
        m = ref_llama.Model(generate(self.dir, "qwen2", "f32"))
        a = m.forward([3, 4, 5, 6])
        b = m.forward([3, 4, 9, 250])
        np.testing.assert_allclose(a[:2], b[:2], rtol=1e-12)
        self.assertGreater(np.abs(a[2] - b[2]).max(), 1e-3)

    def test_tied_output_uses_the_embedding(self):
        m = ref_llama.Model(generate(self.dir, "qwen2", "f32", "--tied"))
        self.assertFalse(m.has("output.weight"))
        u = ref_llama.Model(generate(self.dir, "qwen2", "f32", "--untied"))
        self.assertTrue(u.has("output.weight"))
        self.assertGreater(np.abs(m.forward([1, 2]) - u.forward([1, 2])).max(), 1e-3)

    def test_quantized_files_track_the_f32_file(self):
        # The same seed draws the same float weights for every type, so a quantized file is the
        # f32 file quantized: its logits stay close, more so for the finer types. Bounds on the
        # RMS error relative to the logits' spread, about twice what these seeds give.
        tokens = [1, 40, 41, 42, 100, 7]
        for arch in ("llama", "qwen2"):
            exact = ref_llama.Model(generate(self.dir, arch, "f32")).forward(tokens)
            spread = exact.std()
            for type_name, bound in (("f16", 0.002), ("bf16", 0.012), ("q8_0", 0.04),
                                     ("q6_k", 0.14), ("q4_k", 0.55), ("q4_k_m", 0.5),
                                     ("q4_0", 0.65)):
                got = ref_llama.Model(generate(self.dir, arch, type_name)).forward(tokens)
                err = np.sqrt(np.mean((got - exact) ** 2)) / spread
                self.assertLess(err, bound, f"{arch} {type_name}: {err}")

    def test_float32_rounding_is_small(self):
        # What a float32 runner with exactly dequantized weights should reach: the same logits
        # within 1e-4 (measured: about 1e-5 for logits of magnitude up to ~10).
        rng = np.random.default_rng(2)
        for arch, type_name in (("llama", "f32"), ("qwen2", "q4_k_m")):
            path = generate(self.dir, arch, type_name)
            tokens = [int(t) for t in rng.integers(0, 290, size=32)]
            exact = ref_llama.Model(path).forward(tokens)
            single = ref_llama.Model(path, np.float32).forward(tokens)
            self.assertEqual(single.dtype, np.float32)
            self.assertLess(np.abs(exact - single).max(), 1e-4, f"{arch} {type_name}")

    def test_cli_json(self):
        path = generate(self.dir, "llama", "q8_0")
        out = stdio.StringIO()
        with redirect_stdout(out):
            ref_llama.main([path, "--tokens", "1,5,9", "--steps", "3", "--json"])
        r = json.loads(out.getvalue())
        self.assertEqual(r["prompt"], [1, 5, 9])
        self.assertEqual(len(r["prompt_logits"]), 3)
        self.assertEqual(len(r["greedy"]), 3)
        m = ref_llama.Model(path)
        logits = m.forward([1, 5, 9])
        self.assertEqual(r["greedy"][0], int(np.argmax(logits[-1])))
        self.assertEqual(r["steps"][0]["logits"], [float(v) for v in logits[-1]])
        seq = [1, 5, 9] + r["greedy"][:2]
        self.assertEqual(r["greedy"][2], int(np.argmax(m.forward(seq)[-1])))
        # And as a program, with the shebang's interpreter.
        proc = subprocess.run([os.path.join(HERE, "ref_llama.py"), path, "--tokens", "2",
                               "--steps", "1", "--json", "--last-only"],
                              capture_output=True, text=True, check=True)
        self.assertEqual(len(json.loads(proc.stdout)["prompt_logits"]), 1)

    def test_writer_and_reader_agree(self):
        w = gguf_io.Writer()
        w.add("a", gguf_io.INT8, -5)
        w.add("nested", gguf_io.ARRAY, [(gguf_io.STRING, ["x", "yé"]), (gguf_io.INT32, [1, -2])],
              gguf_io.ARRAY)
        w.add("f", gguf_io.FLOAT64, 0.1)
        data = np.arange(64, dtype=np.uint8)
        w.add_tensor("t", [8, 2], "f32", data)
        path = os.path.join(self.dir, "rw.gguf")
        w.write(path)
        r = gguf_io.Reader(path)
        self.assertEqual(r.metadata, {"a": -5, "nested": [["x", "yé"], [1, -2]], "f": 0.1})
        self.assertEqual(r.tensors["t"].ne, [8, 2])
        np.testing.assert_array_equal(r.tensors["t"].data, data)


if __name__ == "__main__":
    unittest.main()
