#!/usr/bin/python3
"""Writes a small llama- or qwen2-architecture GGUF v3 file with seeded random weights.

  gen_gguf.py --arch llama --type q4_k_m --seed 1 --out model.gguf [--sidecar]

The metadata is what llama.cpp's converter writes for these architectures ({arch}.* hyper-
parameters, tokenizer.ggml.*, tokenizer.chat_template), the tensor names are the real ones and
the shapes are in ggml order (ne[0] the contiguous dimension: a matrix mapping n_in to n_out is
ne = [n_in, n_out], row o holding the n_in weights of output o).

RoPE pairing is part of the architecture, not of the file: for `llama` the runner must rotate
adjacent pairs (x[2i], x[2i+1]) of each head (ggml's "normal" mode; llama.cpp's converter
permutes the Hugging Face Q/K rows so that this holds), for `qwen2` pairs half a head apart
(x[i], x[i + n_rot/2]) (ggml's "neox" mode; no permutation). The weights here are random, so no
permutation is applied: the file simply means what the architecture says, and ref_llama.py
computes exactly that.

--type picks the type of every 2-D weight (norms and biases stay f32, as in real files);
q4_k_m mixes q4_k with q6_k for output.weight and, on even layers, attn_v and ffn_down, as
llama.cpp's Q4_K_M does. --sidecar also writes MODEL.deq.f32 (every tensor dequantized from the
bytes written, float32, concatenated) and MODEL.deq.txt ("name type n_values offset" per line,
offset in floats into the .f32 file), for tests that check a dequantizer bit for bit.
"""

import argparse
import sys

import numpy as np

import gguf_io as io
from ggml_quants import GGML_TYPES, QUANTIZERS, dequantize

FILE_TYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "q4_k": 14, "q4_k_m": 15, "q6_k": 18,
             "bf16": 32}

LLAMA_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{{ '<<SYS>>\\n' + message['content'] + '\\n<</SYS>>\\n\\n' }}"
    "{% elif message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + ' ' + eos_token }}"
    "{% endif %}{% endfor %}")
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

# Token types (llama.cpp's llama_token_type).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def spm_vocab(pad):
    """A SentencePiece-style vocabulary: <unk> <s> </s>, the 256 byte tokens, then pieces (and
    `pad` more made-up ones, for a realistic output-layer size)."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [UNKNOWN, CONTROL, CONTROL] + [BYTE] * 256
    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces = ["▁"] + ["▁" + c for c in letters] + list(letters)
    pieces += ["▁the", "▁and", "er", "in", "on", "▁to", "▁of", "▁is", "▁héllo", "▁日本"]
    pieces += [f"▁w{i}" for i in range(pad)]
    tokens += pieces
    types += [NORMAL] * len(pieces)
    scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))]
    return tokens, scores, types


def byte_to_unicode():
    """GPT-2's reversible byte -> printable character table for byte-level BPE."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def bpe_vocab(pad):
    """A byte-level BPE vocabulary: the 256 byte characters, tokens made by merges (in rank
    order, each merging two existing tokens), `pad` made-up tokens no merge produces (for a
    realistic output-layer size), then Qwen2's special tokens."""
    chars = byte_to_unicode()
    tokens = [chars[b] for b in range(256)]
    space = chars[ord(" ")]  # "Ġ"
    newline = chars[ord("\n")]  # "Ċ"
    pairs = [(space, "t"), ("h", "e"), (space + "t", "he"), ("i", "n"), (space, "a"),
             ("e", "r"), ("o", "n"), (space, "s"), ("r", "e"), ("a", "t"), (space, "w"),
             (space + "a", "n"), (space + "an", "d"), ("o", "r"), ("e", "n"), (space, "o"),
             (space + "o", "f"), ("i", "s"), (space, "i"), (space + "i", "s"), ("in", "g"),
             (space, "c"), ("a", "l"), (space, "h"), (space + "h", "e"), ("l", "l"),
             ("he", "ll"), (space + "w", "or"), (space + "wor", "l"), (space + "worl", "d"),
             (newline, newline), (space, space), (chars[0xE4], chars[0xBD]), ("1", "2")]
    merges = []
    for a, b in pairs:
        assert a in tokens and b in tokens and a + b not in tokens, (a, b)
        merges.append(f"{a} {b}")
        tokens.append(a + b)
    tokens += [f"{space}w{i}" for i in range(pad)]
    types = [NORMAL] * len(tokens)
    tokens += ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    types += [CONTROL] * 3
    return tokens, types, merges


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", choices=["llama", "qwen2"], default="llama")
    p.add_argument("--type", choices=sorted(FILE_TYPE), default="f32")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--n-embd", type=int, default=256)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-head-kv", type=int, default=2)
    p.add_argument("--n-ff", type=int, default=512)
    p.add_argument("--context", type=int, default=512)
    p.add_argument("--rope-base", type=float, default=10000.0)
    p.add_argument("--eps", type=float, default=1e-5)
    p.add_argument("--vocab-pad", type=int, default=0,
                   help="extra made-up tokens (e.g. 31700 for a 32000-token llama vocabulary)")
    tie = p.add_mutually_exclusive_group()
    tie.add_argument("--tied", dest="tied", action="store_true", default=None,
                     help="no output.weight: the output reuses token_embd.weight")
    tie.add_argument("--untied", dest="tied", action="store_false")
    p.add_argument("--sidecar", action="store_true")
    args = p.parse_args(argv)
    if args.tied is None:
        args.tied = args.arch == "qwen2"  # as Qwen2.5-0.5B; llama files carry output.weight
    if args.n_embd % args.n_head or args.n_head % args.n_head_kv:
        p.error("n_embd must divide by n_head, and n_head by n_head_kv")
    return args


def tensor_type(args, name, layer):
    if args.type != "q4_k_m":
        return args.type
    if name == "output.weight":
        return "q6_k"
    if layer is not None and layer % 2 == 0 and name.split(".")[2] in ("attn_v", "ffn_down"):
        return "q6_k"
    return "q4_k"


def build(args):
    rng = np.random.default_rng(args.seed)
    n_embd, n_ff, n_head, n_kv = args.n_embd, args.n_ff, args.n_head, args.n_head_kv
    head_dim = n_embd // n_head
    if args.arch == "llama":
        tokens, scores, token_types = spm_vocab(args.vocab_pad)
        merges = None
    else:
        tokens, token_types, merges = bpe_vocab(args.vocab_pad)
        scores = None
    n_vocab = len(tokens)

    w = io.Writer()
    a = args.arch
    w.add("general.architecture", io.STRING, a)
    w.add("general.name", io.STRING, f"infergate-test-{a}-{args.type}")
    w.add("general.alignment", io.UINT32, 32)
    w.add("general.file_type", io.UINT32, FILE_TYPE[args.type])
    w.add("general.quantization_version", io.UINT32, 2)
    w.add(f"{a}.context_length", io.UINT32, args.context)
    w.add(f"{a}.embedding_length", io.UINT32, n_embd)
    w.add(f"{a}.block_count", io.UINT32, args.n_layer)
    w.add(f"{a}.feed_forward_length", io.UINT32, n_ff)
    w.add(f"{a}.attention.head_count", io.UINT32, n_head)
    w.add(f"{a}.attention.head_count_kv", io.UINT32, n_kv)
    w.add(f"{a}.attention.layer_norm_rms_epsilon", io.FLOAT32, args.eps)
    w.add(f"{a}.rope.freq_base", io.FLOAT32, args.rope_base)
    w.add(f"{a}.rope.dimension_count", io.UINT32, head_dim)
    w.add(f"{a}.vocab_size", io.UINT32, n_vocab)
    if a == "llama":
        w.add("tokenizer.ggml.model", io.STRING, "llama")
        w.add("tokenizer.ggml.pre", io.STRING, "default")
        w.add("tokenizer.ggml.tokens", io.ARRAY, tokens, io.STRING)
        w.add("tokenizer.ggml.scores", io.ARRAY, scores, io.FLOAT32)
        w.add("tokenizer.ggml.token_type", io.ARRAY, token_types, io.INT32)
        w.add("tokenizer.ggml.bos_token_id", io.UINT32, 1)
        w.add("tokenizer.ggml.eos_token_id", io.UINT32, 2)
        w.add("tokenizer.ggml.unknown_token_id", io.UINT32, 0)
        w.add("tokenizer.ggml.add_bos_token", io.BOOL, True)
        w.add("tokenizer.ggml.add_eos_token", io.BOOL, False)
        w.add("tokenizer.chat_template", io.STRING, LLAMA_TEMPLATE)
    else:
        w.add("tokenizer.ggml.model", io.STRING, "gpt2")
        w.add("tokenizer.ggml.pre", io.STRING, "qwen2")
        w.add("tokenizer.ggml.tokens", io.ARRAY, tokens, io.STRING)
        w.add("tokenizer.ggml.token_type", io.ARRAY, token_types, io.INT32)
        w.add("tokenizer.ggml.merges", io.ARRAY, merges, io.STRING)
        w.add("tokenizer.ggml.eos_token_id", io.UINT32, tokens.index("<|im_end|>"))
        w.add("tokenizer.ggml.padding_token_id", io.UINT32, tokens.index("<|endoftext|>"))
        w.add("tokenizer.ggml.bos_token_id", io.UINT32, tokens.index("<|endoftext|>"))
        w.add("tokenizer.ggml.add_bos_token", io.BOOL, False)
        w.add("tokenizer.chat_template", io.STRING, CHATML_TEMPLATE)

    def matrix(name, n_in, n_out, layer=None, scale=None):
        t = tensor_type(args, name, layer)
        block = GGML_TYPES[t][1]
        if n_in % block:
            sys.exit(f"gen_gguf: {name} has rows of {n_in}, not a multiple of the {t} block "
                     f"of {block}; pick dimensions that are")
        values = rng.standard_normal((n_out, n_in)).astype(np.float32)
        values *= np.float32(scale if scale is not None else 1.0 / np.sqrt(n_in))
        w.add_tensor(name, [n_in, n_out], t, QUANTIZERS[t](values))

    def vector(name, n, mean, spread):
        values = (mean + spread * rng.standard_normal(n)).astype(np.float32)
        w.add_tensor(name, [n], "f32", QUANTIZERS["f32"](values))

    # Scaled like output.weight so that tied files (the embedding as output) give logits of the
    # same spread as untied ones, a few units, rather than saturated softmaxes.
    matrix("token_embd.weight", n_embd, n_vocab, scale=2.0 / np.sqrt(n_embd))
    for i in range(args.n_layer):
        blk = f"blk.{i}"
        vector(f"{blk}.attn_norm.weight", n_embd, 1.0, 0.1)
        matrix(f"{blk}.attn_q.weight", n_embd, n_head * head_dim, i)
        if a == "qwen2":
            vector(f"{blk}.attn_q.bias", n_head * head_dim, 0.0, 0.1)
        matrix(f"{blk}.attn_k.weight", n_embd, n_kv * head_dim, i)
        if a == "qwen2":
            vector(f"{blk}.attn_k.bias", n_kv * head_dim, 0.0, 0.1)
        matrix(f"{blk}.attn_v.weight", n_embd, n_kv * head_dim, i)
        if a == "qwen2":
            vector(f"{blk}.attn_v.bias", n_kv * head_dim, 0.0, 0.1)
        matrix(f"{blk}.attn_output.weight", n_head * head_dim, n_embd, i)
        vector(f"{blk}.ffn_norm.weight", n_embd, 1.0, 0.1)
        matrix(f"{blk}.ffn_gate.weight", n_embd, n_ff, i)
        matrix(f"{blk}.ffn_up.weight", n_embd, n_ff, i)
        matrix(f"{blk}.ffn_down.weight", n_ff, n_embd, i)
    vector("output_norm.weight", n_embd, 1.0, 0.1)
    if not args.tied:
        matrix("output.weight", n_embd, n_vocab, scale=2.0 / np.sqrt(n_embd))
    return w


def write_sidecar(w, path):
    offset = 0
    with open(path + ".deq.f32", "wb") as data, open(path + ".deq.txt", "w") as index:
        for name, ne, type_name, raw in w.tensors:
            n = int(np.prod(ne))
            data.write(dequantize(type_name, raw, n).astype("<f4").tobytes())
            index.write(f"{name} {type_name} {n} {offset}\n")
            offset += n


def main(argv):
    args = parse_args(argv)
    w = build(args)
    w.write(args.out)
    if args.sidecar:
        write_sidecar(w, args.out)


if __name__ == "__main__":
    main(sys.argv[1:])
