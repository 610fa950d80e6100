// Issue 11, item 3: the official Socket.IO Admin UI (@socket.io/admin-ui
// 0.5, its built dashboard from the npm package's ui/dist) works against
// this server. Headless Chromium loads the dashboard from its own loopback
// origin, logs in to the server's admin namespace, and must show what the
// chat clients (socket.io-client 2.5 and 4.8, in Node) do: the server, the
// sockets, the rooms with their members, one socket's details, the events,
// live changes, and a disconnection ordered from the dashboard.
//
// Run it through the Go driver (go test ./gateway/interop -run TestAdminUI),
// which starts the server with the admin namespace, serves ui/dist and sets
// SERVER_URL, UI_URL, ADMIN_USER, ADMIN_PASSWORD, ADMIN_MODE and NODE_ID.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import sio2 from 'sio2';
import { io as io4 } from 'socket.io-client';
import { CHROMIUM, CHROMIUM_ARGS, LAUNCH_TIMEOUT_MS } from '../browser/chromium.mjs';
import { ADMIN_PASSWORD, ADMIN_USER, DEVELOPMENT, MODE, NODE_ID, SERVER_URL, createRoom, env, withDeadline } from './lib.mjs';

const UI_URL = env('UI_URL');

const require = createRequire(import.meta.url);

// Every wait is bounded by this.
const WAIT_MS = 15000;
const TEST_TIMEOUT_MS = 120000;

// chatter is one chat client in Node: it connects, joins a room as the
// original frontend does and, with say, posts there.
async function chatter(gen, name, room, say) {
  const socket = gen === 'v2' ? sio2(SERVER_URL, { forceNew: true, reconnection: false }) : io4(SERVER_URL, { forceNew: true, reconnection: false });
  await withDeadline(new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once(gen === 'v2' ? 'error' : 'connect_error', reject);
  }), WAIT_MS, `${name} to connect`);
  const joined = withDeadline(new Promise((resolve) => socket.once(`participants/${room}`, resolve)), WAIT_MS, `${name} to join ${room}`);
  socket.emit('participants', { roomId: room, username: name, avatar: '' });
  await joined;
  if (say) {
    const ack = await withDeadline(new Promise((resolve) => socket.emit('chat', { roomId: room, content: say }, resolve)), WAIT_MS, `${name}'s post`);
    assert.equal(ack.content, say, `${name}'s post is acknowledged`);
  }
  return { name, socket, id: socket.id };
}

// openDashboard loads the dashboard in a fresh browser context whose only
// reachable hosts are the loopback ones (its fonts and icons come from
// CDNs this machine cannot reach: text is all the test reads).
async function openDashboard(browser, t) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  await context.route('**/*', (route) => {
    const host = new URL(route.request().url()).hostname;
    return host === '127.0.0.1' || host === 'localhost' ? route.continue() : route.abort();
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/ERR_FAILED|Failed to load resource/.test(msg.text())) problems.push(`console error: ${msg.text()}`);
  });
  await page.goto(`${UI_URL}/index.html`, { timeout: WAIT_MS });
  return { context, page, problems };
}

// login fills the dashboard's connection form and submits it.
async function login(page, password) {
  await page.getByLabel('Server URL').fill(SERVER_URL, { timeout: WAIT_MS });
  await page.getByLabel('Username').fill(ADMIN_USER);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Connect' }).click();
}

// store is the dashboard's own Vuex state, for failure messages only: the
// assertions read what the page shows.
const store = (page) => page.evaluate(() => {
  const s = document.querySelector('#app').__vue__.$store.state;
  return JSON.stringify({ connected: s.connection.connected, features: s.config.supportedFeatures, servers: s.servers.servers.map((x) => x.serverId),
    namespaces: s.main.namespaces.map((n) => ({ name: n.name, sockets: n.sockets.map((k) => k.id), rooms: n.rooms.map((r) => `${r.name}:${r.sockets.length}`) })) });
}).catch((err) => `unreadable (${err.message})`);

// shot saves a screenshot when ADMIN_UI_SCREENSHOTS names a directory
// (for a person to look at; nothing is asserted on it).
async function shot(page, name) {
  const dir = process.env.ADMIN_UI_SCREENSHOTS;
  if (dir) await page.screenshot({ path: `${dir}/${MODE}-${name}.png`, fullPage: true });
}

// go navigates inside the dashboard (hash routing: no reload).
async function go(page, hash) {
  await page.evaluate((h) => { window.location.hash = h; }, hash);
}

// waitRows waits until the page's data table (in the card titled card, when
// given) shows exactly want: each row's non-empty cell texts as rendered
// (chips are upper-cased by their style), rows in any order.
async function waitRows(page, what, want, card) {
  const key = (cells) => cells.join(' | ');
  const wanted = want.map(key).sort();
  let last = [];
  try {
    await page.waitForFunction(({ w, card }) => {
      const scope = card
        ? [...document.querySelectorAll('.v-card')].find((c) => c.querySelector('.v-card__title')?.innerText.trim().startsWith(card))
        : document;
      if (!scope) return false;
      const rows = [...scope.querySelectorAll('.v-data-table tbody tr')]
        .filter((tr) => !tr.classList.contains('v-data-table__empty-wrapper'))
        .map((tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText.trim()).filter((x) => x !== '').join(' | '));
      window.__rows = rows;
      return JSON.stringify(rows.slice().sort()) === JSON.stringify(w);
    }, { w: wanted, card }, { timeout: WAIT_MS, polling: 50 });
  } catch (err) {
    last = await page.evaluate(() => window.__rows).catch(() => 'unreadable');
    throw new Error(`${what}: the table shows ${JSON.stringify(last)}, want ${JSON.stringify(wanted)}; dashboard state ${await store(page)}`);
  }
}

async function waitText(page, what, text) {
  try {
    await page.getByText(text, { exact: false }).first().waitFor({ timeout: WAIT_MS });
  } catch (err) {
    throw new Error(`${what}: "${text}" not shown (${err.message.split('\n')[0]}); dashboard state ${await store(page)}`);
  }
}

test(`the Socket.IO Admin UI shows this server (${MODE} mode)`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run gateway/interop/setup.sh`);
  assert.match(require('@socket.io/admin-ui/package.json').version, /^0\.5\./, 'installed @socket.io/admin-ui version');

  const lobby = `lobby-${process.pid}`;
  const support = `support-${process.pid}`;
  await createRoom(lobby, WAIT_MS);
  await createRoom(support, WAIT_MS);
  const alice = await chatter('v4', 'alice', lobby, 'hello from alice');
  const bob = await chatter('v2', 'bob', lobby);
  const carol = await chatter('v4', 'carol', support, 'hi support');
  const people = [alice, bob, carol];

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: LAUNCH_TIMEOUT_MS });
  let dash;
  try {
    dash = await openDashboard(browser, t);
    const { page } = dash;

    // A wrong password is refused with the dashboard's own message.
    await login(page, `${ADMIN_PASSWORD}-wrong`);
    await waitText(page, 'a wrong password', 'Invalid credentials');

    await login(page, ADMIN_PASSWORD);
    await page.getByRole('dialog').waitFor({ state: 'hidden', timeout: WAIT_MS });

    // The dashboard: the "/" namespace with the three chat sockets (the
    // dashboard's own socket is in "/admin").
    await waitRows(page, 'the namespaces on the dashboard', [['/', '3'], ['/admin', '1']], 'Namespaces');
    await shot(page, 'dashboard');

    // The Servers page: this node, healthy.
    await go(page, '#/servers/');
    await waitText(page, 'the servers page', NODE_ID);

    const nav = await page.locator('.v-navigation-drawer .v-list-item__title').allInnerTexts();
    assert.deepEqual(nav, DEVELOPMENT ? ['Dashboard', 'Sockets', 'Rooms', 'Clients', 'Events', 'Servers'] : ['Dashboard', 'Servers'],
      `the navigation of ${MODE} mode`);
    if (DEVELOPMENT) await developmentPages(page, people);
    assert.deepEqual(dash.problems, [], 'the dashboard had no page error');
  } finally {
    if (dash) await dash.context.close();
    await browser.close();
    for (const p of people) p.socket.close();
  }
});

// developmentPages checks the pages only development mode feeds.
async function developmentPages(page, people) {
  const [alice, bob, carol] = people;
  const lobby = `lobby-${process.pid}`;
  const support = `support-${process.pid}`;
  {

    // Sockets: one row per chat socket: id, address, transport (every
    // client has moved to WebSocket by now).
    await go(page, '#/sockets/');
    await waitRows(page, 'the sockets page', people.map((p) => [p.id, '127.0.0.1', 'WebSocket']));

    // Rooms: the chat rooms with their member counts (private rooms hidden).
    await go(page, '#/rooms/');
    await waitRows(page, 'the rooms page', [[lobby, 'PUBLIC', '2'], [support, 'PUBLIC', '1']]);
    await shot(page, 'rooms');

    // One room: its members.
    await go(page, `#/n/${encodeURIComponent('/')}/rooms/${lobby}`);
    await waitText(page, 'the lobby page', lobby);
    await waitRows(page, 'the lobby\'s sockets', [alice, bob].map((p) => [p.id, '127.0.0.1', 'WebSocket']), 'Sockets');

    // One socket: its details and its rooms.
    await go(page, '#/sockets/');
    await waitRows(page, 'the sockets page again', people.map((p) => [p.id, '127.0.0.1', 'WebSocket']));
    await go(page, `#/n/${encodeURIComponent('/')}/sockets/${alice.id}`);
    await waitText(page, 'alice\'s details', alice.socket.io.engine.id.slice(0, 12));
    await waitText(page, 'alice\'s data', `"${lobby}": "alice"`);
    await waitRows(page, 'alice\'s rooms', [[alice.id], [lobby]], 'Rooms');
    await shot(page, 'socket');

    // Events: what alice sends while the dashboard is open.
    await go(page, '#/events/');
    const ack = await withDeadline(new Promise((resolve) => alice.socket.emit('chat', { roomId: lobby, content: 'seen by the admin' }, resolve)), WAIT_MS, 'alice\'s second post');
    assert.equal(ack.content, 'seen by the admin');
    try {
      await page.locator('.v-data-table tbody tr', { hasText: alice.id }).filter({ hasText: /Event received/i }).filter({ hasText: /Event name\W*chat/ })
        .first().waitFor({ timeout: WAIT_MS });
    } catch (err) {
      throw new Error(`the events page shows no "chat" received from alice: ${err.message.split('\n')[0]}; rows ${JSON.stringify(await page.locator('.v-data-table tbody tr').allInnerTexts())}`);
    }

    // Live: dave joins the lobby, and the rooms page follows.
    await go(page, '#/rooms/');
    const dave = await chatter('v4', 'dave', lobby);
    people.push(dave);
    await waitRows(page, 'the rooms page after dave joined', [[lobby, 'PUBLIC', '3'], [support, 'PUBLIC', '1']]);
    const daveLeft = new Promise((resolve) => dave.socket.once('disconnect', resolve));
    dave.socket.close();
    await withDeadline(daveLeft, WAIT_MS, 'dave to disconnect');
    people.pop();
    await waitRows(page, 'the rooms page after dave left', [[lobby, 'PUBLIC', '2'], [support, 'PUBLIC', '1']]);

    // A disconnection ordered from the dashboard: bob's logout button.
    await go(page, '#/sockets/');
    await waitRows(page, 'the sockets page before the disconnection', people.map((p) => [p.id, '127.0.0.1', 'WebSocket']));
    const bobGone = withDeadline(new Promise((resolve) => bob.socket.once('disconnect', resolve)), WAIT_MS, 'bob to be disconnected');
    await page.locator('.v-data-table tbody tr', { hasText: bob.id }).locator('button').click();
    assert.equal(await bobGone, 'io server disconnect', 'bob is disconnected by the server');
    // The click also reached the row, which opens the socket's page (the
    // dashboard does that on its own); bob shows there as disconnected.
    await waitText(page, 'bob\'s page after the disconnection', 'Disconnected');
    await go(page, '#/sockets/');
    await waitRows(page, 'the sockets page after the disconnection', [alice, carol].map((p) => [p.id, '127.0.0.1', 'WebSocket']));

    // A reload logs in again with the session the server gave: no form.
    await page.reload({ timeout: WAIT_MS });
    await go(page, '#/sockets/');
    await waitRows(page, 'the sockets page after a reload', [alice, carol].map((p) => [p.id, '127.0.0.1', 'WebSocket']));
    assert.equal(await page.getByRole('dialog').isVisible(), false, 'no login form after the reload');
  }
}
