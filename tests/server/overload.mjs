// Slow test: 2,000 concurrent slow streaming connections, then a burst of
// 10x the admission capacity (the queue limit) on top: no crash, every
// admitted request (HTTP 200) streams to its end, refusals are 429/503 with
// Retry-After and come at once, and RSS returns near its baseline.
//   node tests/server/overload.mjs TANDEM_BINARY MODEL_DIR
import assert from 'node:assert/strict';
import http from 'node:http';
import { test, after, before } from 'node:test';
import { startServer, metrics, waitFor, rssKiB } from './serve_util.mjs';

const [tandem, model] = process.argv.slice(2);
const STREAMS = 2000;
const QUEUE = 256;             // --max-queue: the admission capacity the burst is sized against
const BURST = 10 * QUEUE;
const STREAM_TOKENS = 24;
let srv;
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

before(async () => {
  // All 2,000 streams decode in every step (--max-batch), so each one is slow
  // (a token per step of ~2,000 sequences) and all are open at once.
  srv = await startServer(tandem, ['-m', model, '--model-name', 'm', '--max-queue', String(QUEUE),
    '--max-batch', '2048', '--max-step-tokens', '4096', '--max-chunk', '64', '--kv-tokens', '131072',
    '--threads', '2']);
});
after(async () => {
  const code = await srv.stop();
  assert.equal(code, 0);
});

// One request; resolves {status, retryAfter, body, events, error}. `slow`:
// the client pauses its socket between chunks (a slow reader).
function request(body, { slow = false } = {}) {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = http.request(srv.url + '/v1/completions', {
      method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
        if (slow) {
          res.pause();
          setTimeout(() => res.resume(), 20 + Math.random() * 80);
        }
      });
      res.on('end', () => resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'], body: text }));
      res.on('error', (e) => resolve({ status: res.statusCode, error: String(e), body: text }));
    });
    req.on('error', (e) => resolve({ status: 0, error: String(e) }));
    req.end(data);
  });
}

function streamTokens(body) {
  let tokens = null, done = false;
  for (const ev of body.split('\n\n')) {
    if (!ev.startsWith('data: ')) continue;
    const d = ev.slice(6);
    if (d === '[DONE]') { done = true; continue; }
    const j = JSON.parse(d);
    if (j.error) throw new Error('stream error: ' + d);
    if (j.usage) tokens = j.usage.completion_tokens;
  }
  return { tokens, done };
}

test('2,000 slow streams, then a 10x burst: nothing admitted is lost, RSS comes back', async () => {
  // Warm up, then the baseline.
  const warm = await request({ model: 'm', prompt: 'And', max_tokens: 4 });
  assert.equal(warm.status, 200);
  const rss0 = await rssKiB(srv.proc.pid);

  // Phase 1: 2,000 streams. A refused one retries after Retry-After, as a client should.
  let retries = 0;
  const streamOne = async (i) => {
    for (;;) {
      const r = await request({ model: 'm', prompt: `And it came to pass in the ${i} day`, max_tokens: STREAM_TOKENS,
        stream: true, stream_options: { include_usage: true }, ignore_eos: true, temperature: 0.7, seed: i }, { slow: true });
      if (r.status === 429 || r.status === 503) {
        retries++;
        await new Promise((res) => setTimeout(res, 1000 * Number(r.retryAfter ?? 1)));
        continue;
      }
      return r;
    }
  };
  const streams = [];
  for (let i = 0; i < STREAMS; i++) {
    streams.push(streamOne(i));
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 20));
  }
  await waitFor(async () => (await metrics(srv.url)).tandem_http_connections_open >= STREAMS * 0.9, 120000,
    '2,000 connections to be open');
  let mPeak = await metrics(srv.url);
  console.log(`# phase 1: ${mPeak.tandem_http_connections_open} connections open, ` +
    `${mPeak.tandem_sequences_running} running, ${mPeak.tandem_queue_depth} queued`);

  // Phase 2: the burst, without retries; refusals must come at once.
  const t0 = performance.now();
  const burst = await Promise.all(Array.from({ length: BURST }, (_, i) =>
    request({ model: 'm', prompt: `Burst ${i}`, max_tokens: 4 }).then((r) => ({ ...r, ms: performance.now() - t0 }))));
  const refused = burst.filter((r) => r.status === 429 || r.status === 503);
  const admitted = burst.filter((r) => r.status === 200);
  const other = burst.filter((r) => r.status !== 200 && r.status !== 429 && r.status !== 503);
  assert.equal(other.length, 0, `unexpected answers: ${JSON.stringify(other.slice(0, 3))}`);
  assert.ok(refused.length > 0, 'the burst exceeds the queue: some requests are refused');
  for (const r of refused) {
    assert.ok(Number(r.retryAfter) >= 1, 'Retry-After on every refusal');
    assert.equal(JSON.parse(r.body).error.code, r.status === 429 ? 'queue_full' : 'overloaded');
  }
  for (const r of admitted) assert.equal(JSON.parse(r.body).usage.completion_tokens, 4);
  const slowestRefusal = Math.max(...refused.map((r) => r.ms));
  console.log(`# burst of ${BURST}: ${admitted.length} admitted, ${refused.length} refused ` +
    `(${refused.filter((r) => r.status === 429).length} x 429, ${refused.filter((r) => r.status === 503).length} x 503)`);

  // Every stream, admitted at first or on retry, ends with all its tokens.
  const results = await Promise.all(streams);
  let complete = 0;
  for (const r of results) {
    assert.equal(r.status, 200, r.error);
    assert.ok(!r.error, r.error);
    const { tokens, done } = streamTokens(r.body);
    assert.ok(done, 'stream ends with [DONE]');
    assert.equal(tokens, STREAM_TOKENS);
    complete++;
  }
  assert.equal(complete, STREAMS);
  mPeak = await metrics(srv.url);
  assert.equal(mPeak.tandem_http_connections_dropped_total, 0, 'slow (but reading) clients are not dropped');
  const rssPeak = await rssKiB(srv.proc.pid);
  await waitFor(async () => {
    const m = await metrics(srv.url);
    return m.tandem_kv_blocks_used === 0 && m.tandem_http_requests_in_progress === 0 && m.tandem_queue_depth === 0;
  }, 60000, 'the server to be idle');
  await new Promise((r) => setTimeout(r, 2000));
  const rss1 = await rssKiB(srv.proc.pid);
  console.log(`# ${STREAMS} streams complete (${retries} retries after 429/503); slowest refusal ${slowestRefusal.toFixed(0)} ms ` +
    `after the burst began; RSS baseline ${(rss0 / 1024).toFixed(1)} MiB, after ${(rssPeak / 1024).toFixed(1)} MiB, ` +
    `idle again ${(rss1 / 1024).toFixed(1)} MiB`);
  assert.ok(rss1 <= rss0 * 1.25 + 64 * 1024, `RSS ${rss1} KiB vs baseline ${rss0} KiB`);
  const health = await fetch(srv.url + '/health');
  assert.equal(health.status, 200);
});
