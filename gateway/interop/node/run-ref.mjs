// Runs the interop tests against the reference socket.io 4.8 server
// (refserver.mjs) instead of the Go engine.
//
//   node run-ref.mjs              Node client tests (test/*.test.mjs)
//   node run-ref.mjs --browser    browser tests (browser/browser.test.mjs)
//   node run-ref.mjs --all        both
//
// Extra arguments after `--` go to `node --test` (for example
// -- --test-name-pattern=v2).
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRefHarness } from './refserver.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const dashdash = argv.indexOf('--');
const ownArgs = dashdash === -1 ? argv : argv.slice(0, dashdash);
const passThrough = dashdash === -1 ? [] : argv.slice(dashdash + 1);

const nodeTests = readdirSync(path.join(here, 'test'))
  .filter((f) => f.endsWith('.test.mjs'))
  .sort()
  .map((f) => path.join('test', f));
const browserTests = [path.join('browser', 'browser.test.mjs')];

let files = nodeTests;
if (ownArgs.includes('--browser')) files = browserTests;
if (ownArgs.includes('--all')) files = [...nodeTests, ...browserTests];

const harness = await startRefHarness();
console.log(`reference server: SIO_URL=${harness.sioUrl} CONTROL_URL=${harness.controlUrl}`);

// One test file at a time: they share the server, its counters and restarts.
const child = spawn(process.execPath, ['--test', '--test-concurrency=1', ...passThrough, ...files], {
  cwd: here,
  stdio: 'inherit',
  env: { ...process.env, SIO_URL: harness.sioUrl, CONTROL_URL: harness.controlUrl },
});
const forward = (sig) => child.kill(sig);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
const code = await new Promise((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))));
await harness.close();
process.exit(code);
