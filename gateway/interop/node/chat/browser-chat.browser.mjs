// Issue 3, acceptance test 5: two headless Chromium pages chat through the
// full server the way the original Angular frontend did. Each page uses the
// socket.io-client 2.5 browser bundle with default transports (what
// ngx-socket-io 3 does), loads the REST history, joins with `participants`
// and posts with `exchanges`; both pages must see both messages and the
// full participant list.
//
// The file name deliberately does not end in .test.mjs: TestChatScenarios
// globs chat/*.test.mjs and its server has no /__test/ routes. Run it
// through the Go driver: go test ./gateway/interop -run TestBrowserChat
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, LAUNCH_TIMEOUT_MS } from '../browser/chromium.mjs';
import { waitOnState } from './page-state.mjs';

const require = createRequire(import.meta.url);

const SERVER_URL = (() => {
  const value = process.env.SERVER_URL;
  if (!value) throw new Error('SERVER_URL is not set: run through the Go driver (go test ./gateway/interop -run TestBrowserChat)');
  return value.replace(/\/+$/, '');
})();

// Every wait on a page is bounded by this.
const WAIT_MS = 10000;
const TEST_TIMEOUT_MS = 90000;

function withDeadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function participant(roomId, username) {
  return { roomId, username, avatar: `http://127.0.0.1:4200/avatar/${username.toLowerCase()}.svg`, connected: true };
}

// openPage gives a user a page in its own browser context (own cookies,
// own Engine.IO session) and records what goes wrong in it.
async function openPage(browser, user, t) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`${user} page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${user} console error: ${msg.text()}`);
    if (msg.type() === 'error' || msg.type() === 'warning') t.diagnostic(`${user} console ${msg.type()}: ${msg.text()}`);
  });
  await page.goto(`${SERVER_URL}/__test/chat.html?user=${user}`, { timeout: WAIT_MS });
  return { user, context, page, problems };
}

// waitOn polls the page until predicate(window.chat.state, arg) holds.
const waitOn = (p, what, predicate, arg) => waitOnState(p, what, predicate, arg, WAIT_MS);

const stateOf = (p) => withDeadline(p.page.evaluate(() => window.chat.state), WAIT_MS, `${p.user} page state`);

test('two chromium pages chat with socket.io-client 2 (default transports) and the REST history', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run gateway/interop/setup.sh`);
  assert.match(require('sio2/package.json').version, /^2\.5\./, 'installed sio2 version');
  const bundle = await withDeadline(fetch(`${SERVER_URL}/__test/socket.io.js`), WAIT_MS, 'the client bundle');
  assert.equal(bundle.status, 200, 'GET /__test/socket.io.js');
  assert.match((await bundle.text()).slice(0, 200), /Socket\.IO v2\.5\.0/, 'served bundle banner');

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: LAUNCH_TIMEOUT_MS });
  const pages = [];
  try {
    const toto = await openPage(browser, 'Toto', t);
    pages.push(toto);
    const titi = await openPage(browser, 'Titi', t);
    pages.push(titi);
    const roomId = `browser-chat-${Date.now().toString(36)}-${process.pid}`;

    // The first page creates the room, as the original frontend's creator did.
    const created = await withDeadline(toto.page.evaluate((id) => window.chat.createRoom(id), roomId), WAIT_MS, 'POST /api/v1/rooms');
    assert.deepEqual(created, { status: 201, text: '' }, 'room creation');

    // Toto: history, then join.
    await withDeadline(toto.page.evaluate((id) => window.chat.enter(id), roomId), WAIT_MS, 'Toto to enter');
    await waitOn(toto, 'Toto to see himself join', (s) => s.participants.length >= 1);

    // Titi: history, then join; both see the full list.
    await withDeadline(titi.page.evaluate((id) => window.chat.enter(id), roomId), WAIT_MS, 'Titi to enter');
    const bothIn = [participant(roomId, 'Toto'), participant(roomId, 'Titi')];
    await waitOn(toto, 'Toto to see Titi join', (s) => s.participants.length >= 2);
    await waitOn(titi, 'Titi to see the full list', (s) => s.participants.length >= 1);

    // Both post, one after the other, and both see both messages in order.
    const m1 = { order: 1, username: 'Toto', content: 'hello from Toto', createdAt: '2021-03-01T10:00:00.000Z' };
    const m2 = { order: 2, username: 'Titi', content: 'hi Toto, Titi here', createdAt: '2021-03-01T10:00:05.000Z' };
    await toto.page.evaluate(({ content, createdAt }) => window.chat.send(content, createdAt), m1);
    for (const p of pages) await waitOn(p, 'message 1', (s) => s.messages.length >= 1);
    await titi.page.evaluate(({ content, createdAt }) => window.chat.send(content, createdAt), m2);
    for (const p of pages) await waitOn(p, 'message 2', (s) => s.messages.length >= 2);

    // Default transports: polling first, then the upgrade to WebSocket.
    for (const p of pages) {
      await withDeadline(
        p.page.waitForFunction(() => window.chat.transportName() === 'websocket', undefined, { timeout: WAIT_MS, polling: 20 }),
        WAIT_MS + 1000,
        `${p.user} to upgrade to websocket`,
      );
    }

    const totoState = await stateOf(toto);
    const titiState = await stateOf(titi);
    for (const [name, s] of [['Toto', totoState], ['Titi', titiState]]) {
      assert.equal(s.historyStatus, 200, `${name} history status`);
      assert.deepEqual(s.history, [], `${name} history before the first message`);
      assert.deepEqual(s.messages, [m1, m2], `${name} messages`);
      assert.deepEqual(s.participants.at(-1), bothIn, `${name} latest participant list`);
      assert.deepEqual(s.exceptions, [], `${name} exceptions`);
      assert.deepEqual(s.errors, [], `${name} socket errors`);
      assert.equal(s.connects, 1, `${name} connected once, never reconnected`);
    }
    // Exact participant sequences: Toto saw himself alone, then both; Titi
    // joined second and saw only the full list.
    assert.deepEqual(totoState.participants, [[participant(roomId, 'Toto')], bothIn], 'Toto participant events');
    assert.deepEqual(titiState.participants, [bothIn], 'Titi participant events');

    // The history the next visitor would load now holds both messages.
    const res = await withDeadline(fetch(`${SERVER_URL}/api/v1/rooms/${roomId}/messages?fromIndex=1&toIndex=20`), WAIT_MS, 'history after the chat');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), [m1, m2], 'history after the chat');

    for (const p of pages) assert.deepEqual(p.problems, [], `${p.user} page problems`);
  } finally {
    for (const p of pages) {
      await p.page.evaluate(() => window.chat.leave()).catch(() => {});
      await withDeadline(p.context.close(), LAUNCH_TIMEOUT_MS, `${p.user} context to close`).catch((err) => t.diagnostic(err.message));
    }
    await withDeadline(browser.close(), LAUNCH_TIMEOUT_MS, 'chromium to close');
  }
});
