// Writes the reference vectors that tests/unit/tokenize/reference_test.cc checks the tokenizers
// against, into tests/tokenize/vectors/ (not committed: the vocabularies are megabytes).
//
// The vocabularies are real ones shipped by npm packages: Llama 2's SentencePiece vocabulary
// (llama-tokenizer-js) and Llama 3's byte-level BPE vocabulary with its merges
// (llama3-tokenizer-js). Expected ids come from llama.cpp itself (node-llama-cpp's prebuilt
// build, loading a GGUF file this script writes with the vocabulary and no weights, vocab-only)
// and, where they agree on the input, from the packages' own JavaScript tokenizers, a second
// implementation written independently of llama.cpp.
//
// Run: npm ci --prefix tests/tokenize && node tests/tokenize/make_vectors.mjs
// (make tokenize-vectors does both when node and npm are present).
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import llama2Js from 'llama-tokenizer-js';
import llama3Js from 'llama3-tokenizer-js';
import {getLlama} from 'node-llama-cpp';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(here, 'vectors');
fs.mkdirSync(outDir, {recursive: true});

// Inputs that stress the pre-tokenizers and the SentencePiece normalisation. JavaScript strings
// cannot carry bytes that are not UTF-8, so those cases are in the hand-built tests only.
const kTexts = [
  '', ' ', 'a', 'Hello world', ' Hello world', 'Hello world ', '  multiple   spaces  ', '\n',
  '   ', 'line1\nline2\n\nline3\r\nend', '\t tab\t', '12345', '3.14159 and 1,000,000 and 7',
  "I'm don't we'll they've she'd it's", "I'M DON'T WE'LL", "x'y 's", 'こんにちは世界',
  '中文测试，标点。', 'emoji 🙂👍🏽 and 🇩🇪 flags', 'café naïve résumé Ωμέγα', 'Привет мир',
  'hello!!!\n\n\nworld', 'function f(x) {\n    return x * 2;\n}\n',
  'https://example.com/path?q=1&r=2#frag', '\u00a0nbsp\u3000ideographic', 'ＡＢＣ fullwidth',
  '((word)) "quoted" [brackets]', 'tabs\t\tand\u2003em spaces', 'العربية', 'मराठी भाषा',
];

// And 200 random strings (a fixed seed, so the files are the same each run) built from pieces
// that meet the pre-tokenizers' edge cases: runs of spaces before words and at the end,
// newlines after punctuation, digit runs of every length, contractions in both cases, letters
// and numbers outside ASCII, Unicode spaces.
function randomTexts(count) {
  let seed = 0x5eed;
  const next = () => {  // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pieces = ['a', 'Zq', 'hello', 'é', 'ß', '中文', '🙂', ' ', '  ', '   ', '\n', '\n\n', '\r\n',
                  '\t', '0', '12', '345', '6789', "'s", "'LL", "'ve", "'", '!', '?!', '.', ',', '-',
                  '_', '(', ')', '"', '\u00a0', '\u3000', 'Ω', 'жи', 'اب', 'ि', '½', '٣', '<', '|>'];
  const out = [];
  for (let i = 0; i < count; i++) {
    let text = '';
    const n = 1 + Math.floor(next() * 12);
    for (let k = 0; k < n; k++) text += pieces[Math.floor(next() * pieces.length)];
    out.push(text);
  }
  return out;
}
kTexts.push(...randomTexts(200));

// Texts with special tokens written in them, tokenized with and without parse_special.
const kSpecialTexts = {
  llama2: ['<s>[INST] hi [/INST] ok</s>', 'a</s>b', '<unk>x'],
  llama3: [
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    'text<|eot_id|>more', '<|reserved_special_token_5|>x', '<|not_a_token|>',
  ],
};

// GGUF version 3 with metadata only (no tensors), enough for llama.cpp's vocab-only load.
function writeGguf(file, kv) {
  const parts = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  const str = (s) => { const b = Buffer.from(s, 'utf8'); return Buffer.concat([u64(b.length), b]); };
  const T = {u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9};
  const value = (type, v) => {
    switch (type) {
      case 'u32': return u32(v);
      case 'i32': { const b = Buffer.alloc(4); b.writeInt32LE(v); return b; }
      case 'f32': { const b = Buffer.alloc(4); b.writeFloatLE(v); return b; }
      case 'bool': return Buffer.from([v ? 1 : 0]);
      case 'str': return str(v);
    }
    throw new Error(type);
  };
  parts.push(Buffer.from('GGUF'), u32(3), u64(0), u64(kv.length));
  for (const [key, type, v] of kv) {
    parts.push(str(key));
    if (type.startsWith('arr:')) {
      const elem = type.slice(4);
      parts.push(u32(T.arr), u32(T[elem]), u64(v.length));
      for (const e of v) parts.push(value(elem, e));
    } else {
      parts.push(u32(T[type]), value(type, v));
    }
  }
  let buf = Buffer.concat(parts);
  const pad = (32 - (buf.length % 32)) % 32;  // general.alignment: data starts aligned
  fs.writeFileSync(file, Buffer.concat([buf, Buffer.alloc(pad)]));
}

function hparams(name) {
  return [
    ['general.architecture', 'str', 'llama'], ['general.name', 'str', name],
    ['llama.context_length', 'u32', 4096], ['llama.embedding_length', 'u32', 64],
    ['llama.block_count', 'u32', 1], ['llama.feed_forward_length', 'u32', 128],
    ['llama.attention.head_count', 'u32', 4], ['llama.attention.head_count_kv', 'u32', 4],
    ['llama.rope.dimension_count', 'u32', 16],
    ['llama.attention.layer_norm_rms_epsilon', 'f32', 1e-5],
  ];
}

// Llama 2: tokens from the package; token types as Llama 2's tokenizer.model has them. The
// package carries the merges of the Hugging Face conversion, not SentencePiece scores. That
// conversion ordered the merges by the score of the merged piece, so a piece's score is taken as
// minus the rank of the merge that makes it (pieces no merge makes get the lowest score).
function llama2Vocab() {
  const tokens = llama2Js.vocabById.slice();
  const types = tokens.map((t, i) => (i === 0 ? 2 : i <= 2 ? 3 : i <= 258 ? 6 : 1));
  const scores = tokens.map((t, i) => (i <= 258 ? 0 : -1e9));
  let rank = 0;
  for (const m of llama2Js.merges.keys()) {
    const id = llama2Js.vocabByString.get(m.replace(' ', ''));
    if (id !== undefined && scores[id] === -1e9) scores[id] = -rank;
    rank++;
  }
  return {model: 'llama', pre: 'default', tokens, types, scores, merges: [], bos: 1, eos: 2, unk: 0,
          addBos: true};
}

function llama3Vocab(pre) {
  const tokens = llama3Js.vocabById.slice();
  const types = tokens.map((t, i) => (i >= 128000 ? 3 : 1));
  const merges = [...llama3Js.merges.keys()];
  return {model: 'gpt2', pre, tokens, types, scores: null, merges, bos: 128000, eos: 128001,
          unk: -1, addBos: true};
}

function ggufKv(v, name) {
  const kv = hparams(name);
  kv.push(['tokenizer.ggml.model', 'str', v.model], ['tokenizer.ggml.pre', 'str', v.pre],
          ['tokenizer.ggml.tokens', 'arr:str', v.tokens],
          ['tokenizer.ggml.token_type', 'arr:i32', v.types],
          ['tokenizer.ggml.bos_token_id', 'u32', v.bos],
          ['tokenizer.ggml.eos_token_id', 'u32', v.eos],
          ['tokenizer.ggml.add_bos_token', 'bool', v.addBos],
          ['tokenizer.ggml.add_eos_token', 'bool', false]);
  if (v.scores) kv.push(['tokenizer.ggml.scores', 'arr:f32', v.scores]);
  if (v.merges.length) kv.push(['tokenizer.ggml.merges', 'arr:str', v.merges]);
  if (v.unk >= 0) kv.push(['tokenizer.ggml.unknown_token_id', 'u32', v.unk]);
  return kv;
}

const hex = (s) => Buffer.from(s, 'utf8').toString('hex');

// The vector file: the vocabulary, then one line per case (hex text, so any byte is safe).
function vectorFile(v, cases, source) {
  const lines = [`# ${source}`, `model ${v.model}`, `pre ${v.pre}`, `bos ${v.bos}`, `eos ${v.eos}`,
                 `unk ${v.unk}`, `add_bos ${v.addBos ? 1 : 0}`];
  v.tokens.forEach((t, i) => lines.push(`token ${v.types[i]} ${v.scores ? v.scores[i] : 0} ${hex(t)}`));
  for (const m of v.merges) lines.push(`merge ${hex(m)}`);
  for (const c of cases) {
    lines.push(`case ${c.special ? 1 : 0} ${hex(c.text) || '-'} ${hex(c.decoded) || '-'} ${c.ids.join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

const nlcVersion = JSON.parse(
    fs.readFileSync(path.join(here, 'node_modules/node-llama-cpp/package.json'), 'utf8')).version;
// build: 'never': the prebuilt binary or nothing (no compiler download). A vocab-only load
// still logs "missing tensor 'token_embd.weight'" from a first attempt; the load then succeeds.
const llama = await getLlama({gpu: false, build: 'never', logLevel: 'error'});

async function reference(name, v, jsEncode, specialTexts) {
  const gguf = path.join(outDir, `${name}.gguf`);
  writeGguf(gguf, ggufKv(v, name));
  const model = await llama.loadModel({modelPath: gguf, vocabOnly: true});
  const cases = [];
  let jsAgree = 0, jsCompared = 0;
  const jsDisagree = [];
  const inputs = [...kTexts.map((t) => [t, false]), ...specialTexts.flatMap((t) => [[t, false], [t, true]])];
  for (const [text, special] of inputs) {
    const ids = Array.from(model.tokenize(text, special));
    const decoded = model.detokenize(ids, special);
    cases.push({text, special, ids, decoded});
    const js = jsEncode ? jsEncode(text, special) : null;
    if (js) {
      jsCompared++;
      if (JSON.stringify(js) === JSON.stringify(ids)) jsAgree++;
      else jsDisagree.push({text, js, llamacpp: ids});
    }
  }
  const source = `${name}: ids from the llama.cpp in node-llama-cpp ${nlcVersion} (prebuilt, ` +
      `vocab-only GGUF), ${inputs.length} cases; ` +
      (jsCompared ? `the package's JS tokenizer agreed on ${jsAgree} of ${jsCompared}` : 'no JS reference');
  fs.writeFileSync(path.join(outDir, `${name}.vectors`), vectorFile(v, cases, source));
  fs.unlinkSync(gguf);
  await model.dispose();
  console.log(source);
  for (const d of jsDisagree) console.log('  JS differs:', JSON.stringify(d));
}

await reference('llama2-spm', llama2Vocab(),
                (text, special) => (special ? null : llama2Js.encode(text, false, true)),
                kSpecialTexts.llama2);
const never = /(?!)/g;
await reference('llama3-bpe', llama3Vocab('llama-bpe'),
                (text, special) => llama3Js.encode(text, {bos: false, eos: false,
                                                          ...(special ? {} : {specialTokenRegex: never})}),
                kSpecialTexts.llama3);
// The same vocabulary under the Qwen2 and GPT-2 pre-tokenizers: llama.cpp alone as reference.
await reference('llama3-vocab-qwen2-pre', llama3Vocab('qwen2'), null, kSpecialTexts.llama3);
await reference('llama3-vocab-gpt2-pre', llama3Vocab('gpt-2'), null, kSpecialTexts.llama3);
