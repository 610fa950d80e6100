// Runs an official protocol suite's own page (test-suite/index.html, test
// cases untouched) in headless Debian chromium and prints mocha's counts in
// the shape mocha's spec reporter ends with ("N passing", "M failing").
// Called by run-suite.sh --browser; the server must already be listening on
// localhost:3000, where the suites send their requests.
//
//   node cmd/conformance/browser-suite.mjs <suite>/test-suite
//
// The page is served from its own loopback origin, so every request it makes
// to localhost:3000 is cross-origin and needs the server's CORS headers, as
// for any browser client. index.html loads mocha, chai and chai-string from
// unpkg.com; this machine has no such network, so those URLs are answered
// with the same versions from the suite's own node_modules. Mocha is started
// once the page's module script (test-suite.js) has run, not at its fixed
// point in the HTML, so a slow module load cannot give an empty run.
//
// Exit status: the number of failed tests, or 1 when the page did not
// report (an error is printed).
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const interopNode = path.join(here, '..', '..', 'gateway', 'interop', 'node');
// playwright-core and the chromium launch settings are the interop tests'
// own (make setup installs them), so the suites need nothing extra.
const { chromium } = createRequire(path.join(interopNode, 'package.json'))('playwright-core');
const { CHROMIUM, CHROMIUM_ARGS, LAUNCH_TIMEOUT_MS } = await import(path.join(interopNode, 'browser', 'chromium.mjs'));

// RUN_TIMEOUT_MS bounds one whole page run; the suites take 5 to 15 s.
const RUN_TIMEOUT_MS = 120000;

const suiteDir = path.resolve(process.argv[2] ?? '');
if (!existsSync(path.join(suiteDir, 'index.html'))) {
  console.error(`usage: node browser-suite.mjs <suite>/test-suite (no index.html in ${suiteDir})`);
  process.exit(1);
}
if (!existsSync(CHROMIUM)) {
  console.error(`${CHROMIUM} is missing: run make setup`);
  process.exit(1);
}

// The unpkg.com URLs of index.html, answered from the suite's node_modules
// (mocha 9, chai 4, chai-string 1: the versions its package-lock pins).
const CDN = {
  'https://unpkg.com/mocha@9/mocha.css': ['mocha/mocha.css', 'text/css'],
  'https://unpkg.com/mocha@9/mocha.js': ['mocha/mocha.js', 'text/javascript'],
  'https://unpkg.com/chai@4/chai.js': ['chai/chai.js', 'text/javascript'],
  'https://unpkg.com/chai-string@1/chai-string.js': ['chai-string/chai-string.js', 'text/javascript'],
};
// The page's own files, served from its own origin.
const PAGE_FILES = { '/index.html': 'text/html; charset=utf-8', '/test-suite.js': 'text/javascript; charset=utf-8' };

const pageServer = http.createServer(async (req, res) => {
  const urlPath = new URL(req.url, 'http://page').pathname;
  const type = PAGE_FILES[urlPath];
  const file = path.join(suiteDir, urlPath);
  if (!type || !(await stat(file).catch(() => null))) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
  createReadStream(file).pipe(res);
});
await new Promise((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
const pageURL = `http://127.0.0.1:${pageServer.address().port}/index.html`;

// Installed before any script of the page: when mocha.js defines the global
// `mocha`, its run() is wrapped to start after DOMContentLoaded (module
// scripts have run by then) and to report each result through the exposed
// binding. Nothing is added to the page's globals while tests run, so
// mocha.checkLeaks() sees what it would see without this runner.
const reporterHook = () => {
  let instance;
  Object.defineProperty(window, 'mocha', {
    configurable: true,
    get: () => instance,
    set(m) {
      // mocha.js assigns the global twice (its factory and its UMD wrapper).
      if (m === instance) return;
      instance = m;
      const run = m.run.bind(m);
      m.run = (fn) => {
        const start = () => {
          const runner = run(fn);
          const report = window.__conformanceReport;
          runner.on('pass', (t) => report({ kind: 'pass', title: t.fullTitle() }));
          runner.on('fail', (t, err) => report({ kind: 'fail', title: t.fullTitle(), message: String(err && err.message) }));
          runner.on('end', () => report({ kind: 'end', stats: { ...runner.stats } }));
        };
        if (document.readyState === 'loading') {
          document.addEventListener('DOMContentLoaded', start, { once: true });
        } else {
          start();
        }
      };
    },
  });
};

const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'conformance-chromium-'));
let context;
let exitCode = 1;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: LAUNCH_TIMEOUT_MS,
  });
  const failures = [];
  let passes = 0;
  let resolveEnd;
  const ended = new Promise((resolve) => { resolveEnd = resolve; });
  await context.exposeBinding('__conformanceReport', (_source, event) => {
    if (event.kind === 'pass') passes++;
    if (event.kind === 'fail') failures.push(event);
    if (event.kind === 'end') resolveEnd(event.stats);
  });
  await context.addInitScript(reporterHook);
  await context.route('https://unpkg.com/**', async (route) => {
    const entry = CDN[route.request().url()];
    if (!entry) {
      await route.abort();
      return;
    }
    const [file, contentType] = entry;
    await route.fulfill({ path: path.join(suiteDir, 'node_modules', file), contentType });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
  await page.goto(pageURL);
  let timer;
  const stats = await Promise.race([
    ended,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`the page did not finish within ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS); }),
  ]).finally(() => clearTimeout(timer));
  for (const [i, f] of failures.entries()) console.log(`  ${i + 1}) ${f.title}\n     ${f.message}`);
  console.log(`  ${passes} passing (${stats.duration} ms, chromium)`);
  if (failures.length > 0) console.log(`  ${failures.length} failing`);
  if (stats.passes !== passes || stats.failures !== failures.length) {
    throw new Error(`mocha's stats (${stats.passes} passes, ${stats.failures} failures) disagree with the reported events`);
  }
  exitCode = failures.length;
} catch (err) {
  console.error(`browser run failed: ${err.message}`);
  exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true });
  pageServer.closeAllConnections();
  pageServer.close();
}
process.exit(exitCode);
