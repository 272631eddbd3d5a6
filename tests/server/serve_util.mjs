// Helpers for the end-to-end tests: start `tandem serve` on a free port, read
// /metrics, load the official openai client from tools/node_modules.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const sourceDir = path.resolve(here, '..', '..');
const require = createRequire(path.join(sourceDir, 'tools', 'package.json'));
export const OpenAI = require('openai');

// Starts the server; resolves to {url, port, proc, stderr(), stop()}.
export function startServer(tandem, args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(tandem, ['serve', '--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => reject(new Error('server did not start in time:\n' + err)), 120000);
    proc.stderr.on('data', (d) => {
      err += d.toString();
      const m = err.match(/listening on http:\/\/([^:\s]+):(\d+)/);
      if (m && !proc.started) {
        proc.started = true;
        clearTimeout(timer);
        const port = Number(m[2]);
        resolve({
          port,
          url: `http://127.0.0.1:${port}`,
          proc,
          stderr: () => err,
          stop: () => new Promise((res) => {
            if (proc.exitCode !== null) return res(proc.exitCode);
            proc.on('exit', (code, sig) => res(code ?? sig));
            proc.kill('SIGTERM');
          }),
        });
      }
    });
    proc.on('exit', (code) => {
      if (!proc.started) {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}:\n${err}`));
      }
    });
  });
}

// Prometheus text -> {name or name{labels}: value}.
export async function metrics(url) {
  const res = await fetch(url + '/metrics');
  const text = await res.text();
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

export async function waitFor(cond, ms = 30000, what = 'condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('timed out waiting for ' + what);
}

// RSS of a process in KiB (Linux).
export async function rssKiB(pid) {
  const fs = await import('node:fs/promises');
  const s = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(s.match(/VmRSS:\s+(\d+)/)[1]);
}
