// bench/h2_ttft.mjs: time to first token of streamed chat completions, one request at a time on
// one connection, over HTTP/2 cleartext (prior knowledge) or HTTP/1.1 keep-alive, with Node's
// built-in http2 and http modules (no dependencies). Used by bench/h2.sh; see bench/README.md.
//
//   node bench/h2_ttft.mjs --url http://127.0.0.1:8080/v1/chat/completions --proto h2 \
//     --requests 1000 --warmup 20 --body-file body.json --header 'x-mock-tokens: 4'
//
// Per request: the clock starts just before the request is handed to the connection and stops at
// the first response byte that completes an SSE `data:` line; the stream is then read to its end
// and must carry `data: [DONE]`. Prints one JSON object on stdout:
//   {"proto","requests","ok","errors","first_error","ttft_us":{"p50","p90","p99","max","mean"},
//    "wall_s"}
// Bounded: every request has --timeout-ms (default 5000) and the whole run --deadline-s (default
// 120); when the deadline passes the script prints what it has and exits.
import http from 'node:http';
import http2 from 'node:http2';
import fs from 'node:fs';

function parseArgs(argv) {
  const o = {url: '', proto: 'h2', requests: 1000, warmup: 20, timeoutMs: 5000, deadlineS: 120,
             body: '', headers: {}};
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    const need = () => { if (v === undefined) throw new Error(`${a} needs a value`); i++; return v; };
    switch (a) {
      case '--url': o.url = need(); break;
      case '--proto': o.proto = need(); break;
      case '--requests': o.requests = Number(need()); break;
      case '--warmup': o.warmup = Number(need()); break;
      case '--timeout-ms': o.timeoutMs = Number(need()); break;
      case '--deadline-s': o.deadlineS = Number(need()); break;
      case '--body-file': o.body = fs.readFileSync(need(), 'utf8').trim(); break;
      case '--header': {
        const h = need(), c = h.indexOf(':');
        if (c <= 0) throw new Error(`bad header ${h}`);
        o.headers[h.slice(0, c).trim().toLowerCase()] = h.slice(c + 1).trim();
        break;
      }
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!o.url || !o.body || !['h1', 'h2'].includes(o.proto)) {
    throw new Error('usage: --url URL --proto h1|h2 --body-file FILE [--requests N] [--warmup N] ' +
                    '[--timeout-ms MS] [--deadline-s S] [--header "k: v"]...');
  }
  if (!(o.requests >= 1 && o.requests <= 1e6 && o.warmup >= 0 && o.timeoutMs > 0 && o.deadlineS > 0)) {
    throw new Error('--requests 1..1e6, --warmup >= 0, --timeout-ms and --deadline-s > 0');
  }
  return o;
}

const opts = parseArgs(process.argv);
const url = new URL(opts.url);
const bodyBuf = Buffer.from(opts.body);
const now = () => process.hrtime.bigint();

// Watches the response text for the first complete `data:` line and for the [DONE] event.
class SseWatch {
  constructor() { this.text = ''; this.first = 0n; }
  push(chunk) {
    this.text += chunk.toString('latin1');
    if (this.first === 0n && /(^|\n)data:[^\n]*\n/.test(this.text)) this.first = now();
  }
  done() { return /(^|\n)data: \[DONE\]/.test(this.text); }
}

// ---- HTTP/2: one session, reopened after an error.
let session = null;
function h2Session() {
  if (session && !session.closed && !session.destroyed) return session;
  session = http2.connect(url.origin);
  session.on('error', () => {});  // reported through the stream
  return session;
}

function oneH2() {
  return new Promise((resolve) => {
    const s = h2Session();
    const w = new SseWatch();
    let status = 0, settled = false;
    const t0 = now();
    const req = s.request({':method': 'POST', ':path': url.pathname + url.search,
                           'content-type': 'application/json', 'content-length': bodyBuf.length,
                           ...opts.headers});
    const finish = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) { req.close(http2.constants.NGHTTP2_CANCEL); resolve({err}); return; }
      if (status !== 200) { resolve({err: `status ${status}`}); return; }
      if (w.first === 0n) { resolve({err: 'no data: event'}); return; }
      if (!w.done()) { resolve({err: 'no [DONE]'}); return; }
      resolve({ttft: Number(w.first - t0) / 1000});
    };
    const timer = setTimeout(() => finish(`timeout after ${opts.timeoutMs} ms`), opts.timeoutMs);
    req.on('response', (h) => { status = Number(h[':status']); });
    req.on('data', (c) => w.push(c));
    req.on('end', () => finish(null));
    req.on('error', (e) => finish(`stream error: ${e.code || e.message}`));
    req.on('close', () => finish(req.rstCode ? `reset ${req.rstCode}` : null));
    req.end(bodyBuf);
  });
}

// ---- HTTP/1.1: one keep-alive connection.
const agent = new http.Agent({keepAlive: true, maxSockets: 1});
function oneH1() {
  return new Promise((resolve) => {
    const w = new SseWatch();
    let settled = false, req = null;
    const finish = (r) => { if (!settled) { settled = true; clearTimeout(timer); resolve(r); } };
    const timer = setTimeout(() => { finish({err: `timeout after ${opts.timeoutMs} ms`}); req?.destroy(); },
                             opts.timeoutMs);
    const t0 = now();
    req = http.request({host: url.hostname, port: url.port, path: url.pathname + url.search,
                        method: 'POST', agent,
                        headers: {'content-type': 'application/json',
                                  'content-length': bodyBuf.length, ...opts.headers}}, (res) => {
      res.on('data', (c) => w.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) finish({err: `status ${res.statusCode}`});
        else if (w.first === 0n) finish({err: 'no data: event'});
        else if (!w.done()) finish({err: 'no [DONE]'});
        else finish({ttft: Number(w.first - t0) / 1000});
      });
      res.on('error', (e) => finish({err: `response error: ${e.code || e.message}`}));
    });
    req.on('error', (e) => finish({err: `request error: ${e.code || e.message}`}));
    req.end(bodyBuf);
  });
}

function pct(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main() {
  const one = opts.proto === 'h2' ? oneH2 : oneH1;
  const start = Date.now(), deadline = start + opts.deadlineS * 1000;
  const samples = [];
  let ok = 0, errors = 0, firstError = '', sent = 0, timedOut = false;
  for (let i = 0; i < opts.warmup + opts.requests; i++) {
    if (Date.now() > deadline) { timedOut = true; break; }
    const r = await one();
    if (i < opts.warmup) continue;
    sent++;
    if (r.err) { errors++; firstError ||= r.err; } else { ok++; samples.push(r.ttft); }
  }
  samples.sort((a, b) => a - b);
  const mean = samples.length ? samples.reduce((a, b) => a + b, 0) / samples.length : 0;
  const out = {proto: opts.proto, requests: sent, ok, errors,
               first_error: timedOut ? `deadline ${opts.deadlineS}s reached` + (firstError ? `; ${firstError}` : '') : firstError,
               ttft_us: {p50: pct(samples, 50), p90: pct(samples, 90), p99: pct(samples, 99),
                         max: samples.length ? samples[samples.length - 1] : 0, mean},
               wall_s: (Date.now() - start) / 1000};
  for (const k of Object.keys(out.ttft_us)) out.ttft_us[k] = Math.round(out.ttft_us[k] * 10) / 10;
  process.stdout.write(JSON.stringify(out) + '\n');
  if (session) session.close();
  agent.destroy();
  // Do not wait for sockets to linger: the figures are out.
  setTimeout(() => process.exit(0), 200).unref();
}

main().catch((e) => { process.stderr.write(`h2_ttft: ${e.stack || e}\n`); process.exit(1); });
