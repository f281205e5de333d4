// Runs one request with the official openai npm SDK and prints what the client saw as one JSON
// line prefixed with "SDKRESULT ". The assertions live in tests/integration/openai_sdk_test.cc.
//
//   node run.mjs CASE BASE_URL API_KEY [OPTIONS_JSON]
//
// CASE: chat | completions | responses | embeddings | put (a PUT /chat/completions).
// OPTIONS_JSON: {"model", "stream", "include_usage", "headers", "encoding_format", "input",
// "timeout_ms", "extra"}; a missing model is left out of the request; "extra" holds more
// request parameters (max_tokens, seed, logprobs, ...) for chat, completions and responses.
import OpenAI from 'openai';

const [kase, baseURL, apiKey, optionsJson] = process.argv.slice(2);
const o = JSON.parse(optionsJson || '{}');
const client = new OpenAI({
  baseURL,
  apiKey,
  maxRetries: 0,
  timeout: o.timeout_ms ?? 20000,
  defaultHeaders: o.headers ?? {},
});
const streamOptions = o.include_usage ? { stream_options: { include_usage: true } } : {};
const stream = o.stream ? { stream: true } : {};
const model = o.model !== undefined ? { model: o.model } : {};
const extra = o.extra ?? {};
const out = { ok: false };

async function run() {
  if (kase === 'chat') {
    const req = { ...model, messages: [{ role: 'user', content: 'Hello' }], ...stream, ...streamOptions, ...extra };
    const r = await client.chat.completions.create(req);
    if (!o.stream) {
      return {
        text: r.choices[0].message.content, usage: r.usage ?? null, model: r.model,
        finish_reason: r.choices[0].finish_reason, logprobs: r.choices[0].logprobs ?? null,
      };
    }
    const seen = { text: '', usage: null, chunks: 0, finish_reason: null, logprob_tokens: 0 };
    for await (const c of r) {
      seen.chunks++;
      seen.model = c.model;
      seen.text += c.choices[0]?.delta?.content ?? '';
      seen.logprob_tokens += c.choices[0]?.logprobs?.content?.length ?? 0;
      if (c.choices[0]?.finish_reason) seen.finish_reason = c.choices[0].finish_reason;
      if (c.usage) seen.usage = c.usage;
    }
    return seen;
  }
  if (kase === 'completions') {
    const r = await client.completions.create({ ...model, prompt: 'Hello', ...stream, ...streamOptions, ...extra });
    if (!o.stream) {
      return {
        text: r.choices[0].text, usage: r.usage ?? null, model: r.model,
        finish_reason: r.choices[0].finish_reason, logprobs: r.choices[0].logprobs ?? null,
      };
    }
    const seen = { text: '', usage: null, chunks: 0, finish_reason: null };
    for await (const c of r) {
      seen.chunks++;
      seen.model = c.model;
      seen.text += c.choices[0]?.text ?? '';
      if (c.choices[0]?.finish_reason) seen.finish_reason = c.choices[0].finish_reason;
      if (c.usage) seen.usage = c.usage;
    }
    return seen;
  }
  if (kase === 'responses') {
    const r = await client.responses.create({ ...model, input: 'Hello', ...stream, ...extra });
    const part = (resp) => resp.output?.[0]?.content?.[0];
    if (!o.stream) {
      return {
        text: r.output_text, usage: r.usage ?? null, model: r.model, status: r.status,
        incomplete_details: r.incomplete_details ?? null, logprobs: part(r)?.logprobs ?? null,
      };
    }
    const seen = { text: '', usage: null, chunks: 0, event_types: [], sequence: [], logprob_tokens: 0 };
    for await (const e of r) {
      seen.chunks++;
      seen.event_types.push(e.type);
      seen.sequence.push(e.sequence_number);
      if (e.type === 'response.output_text.delta') {
        seen.text += e.delta;
        seen.logprob_tokens += e.logprobs?.length ?? 0;
      }
      if (e.type === 'response.completed' || e.type === 'response.incomplete') {
        seen.usage = e.response.usage ?? null;
        seen.model = e.response.model;
        seen.final_text = e.response.output_text ?? null;
        seen.status = e.response.status;
        seen.incomplete_details = e.response.incomplete_details ?? null;
        seen.logprobs = part(e.response)?.logprobs ?? null;
      }
    }
    return seen;
  }
  if (kase === 'embeddings') {
    const fmt = o.encoding_format ? { encoding_format: o.encoding_format } : {};
    const r = await client.embeddings.create({ ...model, input: o.input ?? ['Hello', 'world'], ...fmt });
    return {
      model: r.model,
      usage: r.usage,
      count: r.data.length,
      indexes: r.data.map((d) => d.index),
      embeddings: r.data.map((d) => Array.from(d.embedding)),
    };
  }
  if (kase === 'put') {
    return { body: await client.put('/chat/completions', { body: { ...model, messages: [] } }) };
  }
  throw new Error(`unknown case ${kase}`);
}

try {
  Object.assign(out, await run(), { ok: true });
} catch (err) {
  Object.assign(out, {
    error_class: err.constructor.name,
    status: err.status ?? null,
    code: err.code ?? null,
    type: err.type ?? null,
    param: err.param ?? null,
    message: String(err.message).slice(0, 500),
  });
}
process.stdout.write(`SDKRESULT ${JSON.stringify(out)}\n`);
