// End-to-end: `tandem serve` on the shipped model driven by the official
// openai npm client. Chat and completions, streaming and not, stop strings,
// seeds, n, logprobs, usage, error statuses, and an aborted stream followed
// by a healthy request.
//   node tests/server/e2e_openai.mjs TANDEM_BINARY MODEL_DIR
import assert from 'node:assert/strict';
import { test, after, before } from 'node:test';
import { OpenAI, startServer, metrics, waitFor } from './serve_util.mjs';

const [tandem, modelDir] = process.argv.slice(2);
if (!tandem || !modelDir) {
  console.error('usage: e2e_openai.mjs TANDEM_BINARY MODEL_DIR');
  process.exit(2);
}
const MODEL = 'tiny-kjv';
let srv, client;

before(async () => {
  srv = await startServer(tandem, ['-m', modelDir, '--model-name', MODEL, '--threads', '2']);
  client = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 120000 });
});
after(async () => {
  const code = await srv.stop();
  assert.equal(code, 0, 'the server exits cleanly on SIGTERM');
});

test('models.list names the served model', async () => {
  const page = await client.models.list();
  assert.deepEqual(page.data.map((m) => m.id), [MODEL]);
});

test('completions, not streamed', async () => {
  const r = await client.completions.create({ model: MODEL, prompt: 'In the beginning God', max_tokens: 10, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices.length, 1);
  assert.ok(r.choices[0].text.length > 0);
  assert.ok(['length', 'stop'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 3);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 10);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('chat, not streamed, and streamed with usage give the same greedy text', async () => {
  const req = { model: MODEL, messages: [{ role: 'system', content: 'Answer from the scriptures.' },
    { role: 'user', content: 'Who led the children of Israel out of Egypt?' }], max_tokens: 16, temperature: 0 };
  const r = await client.chat.completions.create(req);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  const text = r.choices[0].message.content;
  assert.ok(text.length > 0);
  const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
  let streamed = '', usage = null, finish = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      streamed += c.delta?.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(chunks > 3);
  assert.equal(streamed, text);
  assert.equal(finish, r.choices[0].finish_reason);
  assert.deepEqual(usage.completion_tokens, r.usage.completion_tokens);
  assert.deepEqual(usage.prompt_tokens, r.usage.prompt_tokens);
});

test('completions streamed', async () => {
  const stream = await client.completions.create({ model: MODEL, prompt: 'And the earth was', max_tokens: 12, temperature: 0,
    stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  const plain = await client.completions.create({ model: MODEL, prompt: 'And the earth was', max_tokens: 12, temperature: 0 });
  assert.equal(text, plain.choices[0].text);
});

test('stop strings end the text before them (string and list)', async () => {
  const base = { model: MODEL, prompt: 'And God said, Let there be', max_tokens: 30, temperature: 0 };
  const free = (await client.completions.create(base)).choices[0].text;
  assert.ok(free.length > 10, free);
  const stop = free.slice(4, 8);
  const one = await client.completions.create({ ...base, stop });
  assert.equal(one.choices[0].finish_reason, 'stop');
  assert.equal(one.choices[0].text, free.slice(0, free.indexOf(stop)));
  const list = await client.completions.create({ ...base, stop: ['@@never@@', stop] });
  assert.equal(list.choices[0].text, one.choices[0].text);
});

test('seeds: same seed same text, other seed other text; n choices differ', async () => {
  const req = { model: MODEL, prompt: 'Blessed are the', max_tokens: 24, temperature: 1.0, seed: 42 };
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  const c = await client.completions.create({ ...req, seed: 43 });
  assert.equal(a.choices[0].text, b.choices[0].text);
  assert.notEqual(a.choices[0].text, c.choices[0].text);
  const n = await client.completions.create({ ...req, n: 3 });
  assert.equal(n.choices.length, 3);
  assert.equal(n.choices[0].text, a.choices[0].text, 'choice 0 is the seed\'s first stream');
  assert.notEqual(n.choices[1].text, n.choices[0].text);
  assert.equal(n.usage.completion_tokens, n.choices.length * 24);
});

test('logprobs on chat and completions', async () => {
  const chat = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Amen' }],
    max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 3 });
  const content = chat.choices[0].logprobs.content;
  assert.equal(content.length, chat.usage.completion_tokens);
  for (const t of content) {
    assert.equal(t.top_logprobs.length, 3);
    assert.equal(t.top_logprobs[0].token, t.token, 'greedy picks the most likely token');
    assert.ok(t.logprob <= 0);
  }
  const comp = await client.completions.create({ model: MODEL, prompt: 'Amen', max_tokens: 5, temperature: 0, logprobs: 2 });
  assert.equal(comp.choices[0].logprobs.tokens.length, comp.usage.completion_tokens);
  assert.equal(Object.keys(comp.choices[0].logprobs.top_logprobs[0]).length, 2);
});

test('error statuses are OpenAI errors', async () => {
  const expectError = async (promise, Cls, status, param, code) => {
    await assert.rejects(promise, (e) => {
      assert.ok(e instanceof Cls, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, status);
      if (param !== undefined) assert.equal(e.param, param);
      if (code !== undefined) assert.equal(e.code, code);
      assert.ok(e.error?.message?.length > 0);
      return true;
    });
  };
  await expectError(client.completions.create({ model: 'no-such-model', prompt: 'x' }), OpenAI.NotFoundError, 404,
    'model', 'model_not_found');
  await expectError(client.completions.create({ model: MODEL, prompt: 'x', temperature: 5 }), OpenAI.BadRequestError, 400,
    'temperature');
  await expectError(client.completions.create({ model: MODEL, prompt: 'x', max_tokens: -1 }), OpenAI.BadRequestError, 400,
    'max_tokens');
  await expectError(client.chat.completions.create({ model: MODEL, messages: [] }), OpenAI.BadRequestError, 400, 'messages');
  await expectError(client.completions.create({ model: MODEL, prompt: 'the '.repeat(600) }), OpenAI.BadRequestError, 400,
    'prompt', 'context_length_exceeded');
  await expectError(client.completions.create({ model: MODEL, prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }),
    OpenAI.BadRequestError, 400, 'stop');
});

test('an aborted stream frees its sequence; a healthy request follows', async () => {
  const before = await metrics(srv.url);
  const stream = await client.completions.create({ model: MODEL, prompt: 'And it came to pass', max_tokens: 240,
    temperature: 0.8, seed: 1, stream: true, ignore_eos: true });
  let chunks = 0;
  for await (const chunk of stream) {
    if (chunk.choices[0]?.text) chunks++;
    if (chunks === 5) {
      stream.controller.abort();
      break;
    }
  }
  assert.equal(chunks, 5);
  await waitFor(async () => {
    const m = await metrics(srv.url);
    return m.tandem_requests_cancelled_by_disconnect_total === before.tandem_requests_cancelled_by_disconnect_total + 1 &&
      m.tandem_kv_blocks_used === 0 && m.tandem_sequences_running === 0;
  }, 30000, 'the aborted sequence to be cancelled and its blocks freed');
  const m = await metrics(srv.url);
  assert.ok(m.tandem_generation_tokens_total - before.tandem_generation_tokens_total < 240, 'generation stopped early');
  const ok = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Peace' }], max_tokens: 8 });
  assert.ok(ok.choices[0].message.content.length > 0);
});
