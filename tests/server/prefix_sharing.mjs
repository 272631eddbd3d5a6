// Prefix sharing through HTTP: 32 concurrent chat requests sharing a
// ~1,000-token system prompt hold about one copy of its KV blocks (peak
// blocks used, from /metrics), and later requests are served the prefix from
// the cache (usage.prompt_tokens_details.cached_tokens). TTFTs are printed,
// not asserted (shared CPUs).
//   node tests/server/prefix_sharing.mjs TANDEM_BINARY MODEL.gguf
// MODEL: a model with a context over 1,100 tokens; the test uses
// tests/server/make_long_context_model.py's random llama (byte vocabulary:
// one token per character).
import assert from 'node:assert/strict';
import { test, after, before } from 'node:test';
import { OpenAI, startServer, metrics } from './serve_util.mjs';

const [tandem, model] = process.argv.slice(2);
const BLOCK = 16;
let srv, client;

before(async () => {
  srv = await startServer(tandem, ['-m', model, '--model-name', 'm', '--block-size', String(BLOCK),
    '--kv-tokens', '65536', '--threads', '2']);
  client = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 300000 });
});
after(async () => { await srv.stop(); });

// 1,000 characters of instructions, one token each in the byte vocabulary
// (no spaces: its SentencePiece-style "\u2581" would take three byte tokens).
const SYSTEM = ('You-are-a-careful-assistant.Answer-briefly,cite-chapter-and-verse,and-never-invent-facts.')
  .repeat(12).slice(0, 1000);

async function ask(i) {
  const t0 = performance.now();
  const stream = await client.chat.completions.create({ model: 'm',
    messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: `Question-number-${i}?` }],
    max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true }, ignore_eos: true });
  let ttft = null, usage = null;
  for await (const chunk of stream) {
    if (ttft === null && chunk.choices[0]?.delta?.content) ttft = performance.now() - t0;
    if (chunk.usage) usage = chunk.usage;
  }
  return { ttft, usage };
}

test('32 requests with a shared 1,000-token system prompt hold about one copy of it', async () => {
  const m0 = await metrics(srv.url);
  assert.equal(m0.tandem_kv_blocks_used_peak, 0);
  const results = await Promise.all(Array.from({ length: 32 }, (_, i) => ask(i)));
  const prompt = results[0].usage.prompt_tokens;
  assert.ok(prompt >= 1000 && prompt < 1100, `prompt has ${prompt} tokens`);
  const m = await metrics(srv.url);
  const prefixBlocks = Math.floor(1000 / BLOCK);  // full blocks of the shared system prompt
  // Per request, private blocks: the partial block where the prompts diverge,
  // the question, and 8 generated tokens: at most 3 blocks.
  const bound = prefixBlocks + 1 + 32 * 3;
  const oneCopyEach = 32 * Math.ceil((prompt + 8) / BLOCK);
  console.log(`# peak KV blocks used ${m.tandem_kv_blocks_used_peak} (one copy of the prefix + private blocks <= ${bound};` +
    ` 32 private copies would be ${oneCopyEach}); prefix-cache hit rate ${m.tandem_prefix_cache_hit_rate.toFixed(3)}`);
  assert.ok(m.tandem_kv_blocks_used_peak <= bound, `peak ${m.tandem_kv_blocks_used_peak} > ${bound}`);
  const cached = results.map((r) => r.usage.prompt_tokens_details.cached_tokens);
  const served = cached.filter((c) => c >= (prefixBlocks - 1) * BLOCK).length;
  assert.ok(served >= 31, `only ${served} of 32 requests were served the prefix from the cache: ${cached}`);
  assert.ok(m.tandem_prefix_cache_hit_tokens_total >= 31 * (prefixBlocks - 1) * BLOCK);
  // Prompt tokens actually computed: about one prefix plus 32 suffixes, not 32 prompts.
  const computed = m.tandem_prompt_tokens_computed_total - m0.tandem_prompt_tokens_computed_total;
  console.log(`# prompt tokens computed ${computed} for 32 prompts of ${prompt} (${32 * prompt} without sharing)`);
  assert.ok(computed < 32 * prompt / 4, `computed ${computed}`);
});

test('TTFT of a cold prompt vs one whose prefix is cached (printed)', async () => {
  // A fresh system prompt (cold), then the same one with another question (warm).
  const cold = SYSTEM.split('').reverse().join('');
  const once = async (sys, q) => {
    const t0 = performance.now();
    const s = await client.chat.completions.create({ model: 'm', messages: [{ role: 'system', content: sys },
      { role: 'user', content: q }], max_tokens: 2, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let ttft = null, usage = null;
    for await (const c of s) {
      if (ttft === null && c.choices.length) ttft = performance.now() - t0;
      if (c.usage) usage = c.usage;
    }
    return { ttft, cached: usage.prompt_tokens_details.cached_tokens };
  };
  const a = await once(cold, 'first?');
  const b = await once(cold, 'second?');
  assert.equal(a.cached, 0);
  assert.ok(b.cached >= 960, `cached ${b.cached}`);
  console.log(`# TTFT cold ${a.ttft.toFixed(1)} ms (0 cached tokens), warm ${b.ttft.toFixed(1)} ms (${b.cached} cached)`);
});
