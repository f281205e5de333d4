// llama.cpp's speed on the files infergate-llm-bench uses, for the side-by-side issue 17 asks
// for: prompt processing (64 tokens) and generation at batch 1 and 4, through node-llama-cpp's
// prebuilt llama.cpp (3.21.1, the CPU build; the one tests/tokenize installs).
//
//   node bench/llm_llamacpp.mjs MODEL.gguf [threads]
//
// NODE_LLAMA_CPP=/path/to/node-llama-cpp/dist/index.js picks another copy. Prints wall-clock
// tokens/s and tokens per process CPU second (the VM is shared; with one thread CPU seconds are
// what the work cost).
import {fileURLToPath} from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const lib = process.env.NODE_LLAMA_CPP ||
    path.join(here, '..', 'tests', 'tokenize', 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
const {getLlama} = await import(lib);

const [modelPath, threadsArg] = process.argv.slice(2);
const threads = Number(threadsArg || 1);
const llama = await getLlama({gpu: false, build: 'never', logLevel: 'error', maxThreads: threads});
const model = await llama.loadModel({modelPath});
const prompt = Array.from({length: 64}, (_, i) => 100 + 37 * i);

function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// Times `body` (after `setup`, untimed) over `reps` repetitions and a warm-up.
async function measure(name, tokensPerRep, reps, setup, body) {
  let wall = 0, cpu = 0;
  for (let i = 0; i <= reps; ++i) {
    await setup();
    const t0 = performance.now(), c0 = cpuSeconds();
    await body();
    if (i > 0) {
      wall += (performance.now() - t0) / 1000;
      cpu += cpuSeconds() - c0;
    }
  }
  const n = tokensPerRep * reps;
  console.log(`${name.padEnd(28)} ${(n / wall).toFixed(1).padStart(8)} tok/s ` +
              `${(n / cpu).toFixed(1).padStart(8)} tok/cpu_s`);
}

{
  const ctx = await model.createContext({contextSize: 256, batchSize: 64, threads, sequences: 1});
  const seq = ctx.getSequence();
  await measure('prompt 64', 64, 5, () => seq.clearHistory(),
                () => seq.evaluateWithoutGeneratingNewTokens(prompt));
  // Generation at context 64 to 128, greedy.
  await measure('generate batch 1', 64, 2, async () => {
    await seq.clearHistory();
    await seq.evaluateWithoutGeneratingNewTokens(prompt);
  }, async () => {
    let n = 0;
    for await (const _ of seq.evaluate([7], {temperature: 0})) {
      if (++n >= 64) break;
    }
  });
  await ctx.dispose();
}
{
  const ctx = await model.createContext({contextSize: 1024, batchSize: 256, threads, sequences: 4});
  const seqs = Array.from({length: 4}, () => ctx.getSequence());
  await measure('generate batch 4', 4 * 64, 2, () => Promise.all(seqs.map(async (seq) => {
    await seq.clearHistory();
    await seq.evaluateWithoutGeneratingNewTokens(prompt);
  })), () => Promise.all(seqs.map(async (seq, i) => {
    let n = 0;
    for await (const _ of seq.evaluate([7 + i], {temperature: 0})) {
      if (++n >= 64) break;
    }
  })));
  await ctx.dispose();
}
await model.dispose();
