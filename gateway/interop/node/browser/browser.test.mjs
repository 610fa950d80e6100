// Real browser (Debian chromium through playwright-core) running both
// client bundles over every transport. The page comes from the control
// server, a different origin than the Socket.IO server, so polling uses
// credentialed CORS, and socket.io-client 2 uses XHR2 binary payloads for
// Engine.IO v3 polling, which the Node clients never do.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, LAUNCH_TIMEOUT_MS } from './chromium.mjs';
import { CONTROL_URL, REAP_MS, SIO_URL, waitForSessions, withDeadline } from '../test/lib.mjs';

const PAGE_TIMEOUT_MS = 45000;
const SESSION_REAP_MS = REAP_MS;

const GENERATIONS = [
  { gen: 2, version: /^2\.5\.0$/ },
  { gen: 4, version: /^4\.8\.\d+$/ },
];
const TRANSPORTS = [
  { name: 'polling-only', initial: 'polling', final: 'polling', upgrades: [] },
  { name: 'default', initial: 'polling', final: 'websocket', upgrades: ['websocket'] },
  { name: 'websocket-only', initial: 'websocket', final: 'websocket', upgrades: [] },
];

// bundleVersion reads the version from the banner of the bundle the
// control server hands to the page.
async function bundleVersion(gen) {
  const res = await fetch(`${CONTROL_URL}/bundles/sio${gen}.js`, { signal: AbortSignal.timeout(PAGE_TIMEOUT_MS) });
  assert.equal(res.status, 200, `GET /bundles/sio${gen}.js`);
  const banner = (await res.text()).slice(0, 200);
  return banner.match(/Socket\.IO v(\S+)/)?.[1] ?? `no version banner in ${JSON.stringify(banner)}`;
}

describe('browser (chromium)', () => {
  let context;
  let userDataDir;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run gateway/interop/setup.sh`);
    userDataDir = await mkdtemp(path.join(os.tmpdir(), 'interop-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: LAUNCH_TIMEOUT_MS,
    });
  });

  after(async () => {
    if (context) await withDeadline(context.close(), LAUNCH_TIMEOUT_MS, 'chromium to close');
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  for (const { gen, version } of GENERATIONS) {
    for (const transport of TRANSPORTS) {
      test(`socket.io-client ${gen}.x over ${transport.name}`, { timeout: PAGE_TIMEOUT_MS + SESSION_REAP_MS + 10000 }, async (t) => {
        const page = await context.newPage();
        const pageErrors = [];
        const polls = []; // Engine.IO polling requests, to prove which framing was used
        page.on('requestfinished', (req) => {
          if (!req.url().includes('/socket.io/') || !req.url().includes('transport=polling')) return;
          // A poll can finish as the test closes its page; reading its
          // response then rejects ("Target page, context or browser has
          // been closed"), after the assertions that use polls, and an
          // unhandled rejection would fail the whole file (seen once
          // beside another make test). Such a poll is not recorded.
          req.response().then(
            (res) => polls.push({
              method: req.method(),
              requestType: req.headers()['content-type'] ?? null,
              responseType: res?.headers()['content-type'] ?? null,
            }),
            () => {},
          );
        });
        page.on('pageerror', (err) => pageErrors.push(err.message));
        const consoleErrors = [];
        page.on('console', (msg) => {
          if (msg.type() === 'error') consoleErrors.push(msg.text());
          if (msg.type() === 'error' || msg.type() === 'warning') t.diagnostic(`console ${msg.type()}: ${msg.text()}`);
        });
        try {
          assert.match(await bundleVersion(gen), version, 'served bundle version');
          await page.goto(`${CONTROL_URL}/browser/page.html`, { timeout: PAGE_TIMEOUT_MS });
          await withDeadline(page.evaluate((g) => window.loadClient(g), gen), PAGE_TIMEOUT_MS, 'client bundle to load');

          const pageOrigin = new URL(CONTROL_URL).origin;
          assert.notEqual(pageOrigin, new URL(SIO_URL).origin, 'the checks must run cross-origin');

          const result = await withDeadline(
            page.evaluate((args) => window.runChecks(args), { gen, sioUrl: SIO_URL, transport: transport.name }),
            PAGE_TIMEOUT_MS,
            'browser checks',
          );
          for (const check of result.checks) {
            assert.deepStrictEqual(check.received, check.expected, check.name);
          }
          const wantChecks = transport.name === 'default' ? 16 : 12;
          assert.equal(result.checks.length, wantChecks, 'number of checks run');
          assert.equal(result.transports.initial, transport.initial, 'first transport');
          assert.equal(result.transports.final, transport.final, 'final transport');
          assert.deepStrictEqual(result.upgrades, transport.upgrades, 'upgrades');
          if (transport.final === 'websocket') {
            // The client's close must end in a clean WebSocket closing
            // handshake (one Close frame each way).
            assert.deepStrictEqual(result.wsClose, { code: 1005, wasClean: true, error: false }, 'WebSocket close');
          } else {
            assert.equal(result.wsClose, null);
          }
          assert.deepStrictEqual(pageErrors, [], 'uncaught errors in the page');
          assert.deepStrictEqual(consoleErrors, [], 'errors in the browser console');
          if (gen === 2 && transport.name === 'polling-only') {
            // Browsers support XHR2, so socket.io-client 2 frames Engine.IO
            // v3 payloads that carry binary as binary in both directions.
            assert.ok(
              polls.some((p) => p.method === 'POST' && p.requestType === 'application/octet-stream'),
              `no binary-framed POST among ${JSON.stringify(polls)}`,
            );
            assert.ok(
              polls.some((p) => p.method === 'GET' && /^application\/octet-stream/.test(p.responseType ?? '')),
              `no binary-framed GET response among ${JSON.stringify(polls)}`,
            );
          }
          t.diagnostic(`${polls.length} polling requests, ${polls.filter((p) => /octet-stream/.test(`${p.requestType} ${p.responseType}`)).length} binary-framed`);
        } finally {
          await page.close();
        }
        // A page closed while its close packet was in flight leaves a
        // session the server's heartbeat reaps (REAP_MS), unless the page
        // had a poll pending, whose abort ends the session at once.
        await waitForSessions(0, SESSION_REAP_MS);
      });
    }
  }
});
