// Issue 9, acceptance 1 to 3: pages of a socket.io-client 2.5 chat that
// behaves like the original Angular app (chat/chat.html: REST history,
// joins once with 'participants', never again, posts with 'exchanges',
// listens to '<roomId>' and 'participants/<roomId>') in Debian's chromium,
// while the server process under them is restarted or killed. The Go test
// (cmd/chatserver/reconnect_test.go) starts the processes and acts on them
// when asked (CONTROL_URL/<action>); SCENARIO picks what runs:
//   restart   two users (two browser contexts, two cookie jars) in one room;
//             the server is restarted (SIGTERM, same port, same SQLite file)
//   failover  the same on two nodes on Redis behind a sticky proxy; the
//             pages' node is killed (SIGKILL) and the proxy fails over
//   shared    two tabs sharing one cookie jar, in two rooms, reconnecting
//             in either order after a restart: neither ever receives an
//             event of the other's room
//
// The pages are served by a web server in front of the chat server (the
// Go test's pageFront, as the original app was deployed), which passes
// REST and Socket.IO through: one origin, since the REST API has no CORS.
//
// What the tests wait for, honestly: the pages' sockets reconnecting
// (socket.io-client's own 'connect' event, counted by the page's
// instrumentation; the app does not display it), never for the restore
// itself. Messages are typed as soon as the typing page's socket is back;
// a page whose rooms are not restored yet gets them from the restore's
// replay. In the failover scenario typing waits until BOTH sockets are back:
// a node killed with SIGKILL leaves no record of what it delivered, so a
// page is restored from the moment it reconnected (its claim), not before.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { io as io4 } from 'socket.io-client';
import { CHROMIUM, CHROMIUM_ARGS, LAUNCH_TIMEOUT_MS } from '../browser/chromium.mjs';
import { waitOnState } from '../chat/page-state.mjs';
import { Log, WAIT_MS, avatarOf, control, createRoom, once, requiredEnv, uniqueRoom, withDeadline } from './lib.mjs';

const require = createRequire(import.meta.url);

const SCENARIO = requiredEnv('SCENARIO');
const SERVER_URL = requiredEnv('SERVER_URL').replace(/\/+$/, '');
assert.ok(['restart', 'failover', 'shared'].includes(SCENARIO), `SCENARIO=${SCENARIO}`);

async function launch() {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run gateway/interop/setup.sh`);
  assert.match(require('sio2/package.json').version, /^2\.5\./, 'installed sio2 version');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: LAUNCH_TIMEOUT_MS });
}

// newContext is one browser profile: its own cookie jar.
const newContext = (browser) => browser.newContext();

async function openPage(context, user, t) {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`${user} page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') t.diagnostic(`${user} console ${msg.type()}: ${msg.text()}`);
  });
  await page.goto(`${SERVER_URL}/__test/chat.html?user=${user}`, { timeout: WAIT_MS });
  return { user, page, problems };
}

// waitOn polls the page until predicate(window.chat.state, arg) holds.
const waitOn = (p, what, predicate, arg) => waitOnState(p, what, predicate, arg, WAIT_MS);

// upgraded waits for the page's socket to run on WebSocket, as the
// original app's does once its polling handshake upgraded.
async function upgraded(p) {
  await withDeadline(
    p.page.waitForFunction(() => window.chat.transportName() === 'websocket', undefined, { timeout: WAIT_MS, polling: 20 }),
    WAIT_MS + 1000,
    `${p.user} to upgrade to websocket`,
  );
}

const stateOf = (p) => withDeadline(p.page.evaluate(() => window.chat.state), WAIT_MS, `${p.user} page state`);
const enter = (p, roomId) => withDeadline(p.page.evaluate((id) => window.chat.enter(id), roomId), WAIT_MS, `${p.user} to enter`);
const type = (p, content) => p.page.evaluate((c) => window.chat.send(c), content);
const roundTrip = (p) => withDeadline(p.page.evaluate(() => window.chat.roundTrip()), WAIT_MS, `${p.user} round trip`);

async function history(roomId) {
  const res = await withDeadline(fetch(`${SERVER_URL}/api/v1/rooms/${roomId}/messages?fromIndex=1&toIndex=1000`), WAIT_MS, 'the history');
  assert.equal(res.status, 200);
  return res.json();
}

// Two users, one room, a server restart or a node kill: the pages come back
// by themselves and what is typed afterwards reaches both, in order, once.
async function twoUsersSurvive(t, action) {
  const browser = await launch();
  const contexts = [];
  try {
    const pages = [];
    for (const user of ['Toto', 'Titi']) {
      const context = await newContext(browser);
      contexts.push(context);
      pages.push(await openPage(context, user, t));
    }
    const [toto, titi] = pages;
    const room = uniqueRoom(`restore-${SCENARIO}`);
    const created = await withDeadline(toto.page.evaluate((id) => window.chat.createRoom(id), room), WAIT_MS, 'POST /api/v1/rooms');
    assert.deepEqual(created, { status: 201, text: '' }, 'room creation');
    await enter(toto, room);
    await waitOn(toto, 'Toto to see himself join', (s) => s.participants.length > 0);
    await enter(titi, room);
    for (const p of pages) {
      await waitOn(p, 'both users listed', (s) => {
        const l = s.participants.at(-1);
        return l && l.length === 2 && l.every((e) => e.connected);
      });
    }
    await type(toto, 'before, from Toto');
    for (const p of pages) await waitOn(p, 'message 1', (s) => s.messages.length === 1);
    await type(titi, 'before, from Titi');
    for (const p of pages) await waitOn(p, 'message 2', (s) => s.messages.length === 2);
    for (const p of pages) await upgraded(p);

    await control(action);

    if (SCENARIO === 'failover') {
      for (const p of pages) await waitOn(p, 'its socket to reconnect', (s) => s.connects === 2);
      await type(toto, 'after 1, from Toto');
      await type(titi, 'after 2, from Titi');
    } else {
      // Each types as soon as its own socket is back, whether or not the
      // other's is.
      await waitOn(toto, 'its socket to reconnect', (s) => s.connects === 2);
      await type(toto, 'after 1, from Toto');
      await waitOn(titi, 'its socket to reconnect', (s) => s.connects === 2);
      await type(titi, 'after 2, from Titi');
    }
    await type(toto, 'after 3, from Toto');
    await type(titi, 'after 4, from Titi');

    for (const p of pages) await waitOn(p, 'the 4 messages typed after', (s) => s.messages.length >= 6);
    // Everything any page was sent has arrived once the round trip is back.
    for (const p of pages) await roundTrip(p);
    const stored = await history(room);
    assert.equal(stored.length, 6, `stored history ${JSON.stringify(stored)}`);
    assert.deepEqual(stored.map((m) => m.order), [1, 2, 3, 4, 5, 6], 'gapless history');
    // Each author's messages in the order typed.
    const typed = {
      Toto: ['before, from Toto', 'after 1, from Toto', 'after 3, from Toto'],
      Titi: ['before, from Titi', 'after 2, from Titi', 'after 4, from Titi'],
    };
    for (const [user, contents] of Object.entries(typed)) {
      assert.deepEqual(stored.filter((m) => m.username === user).map((m) => m.content), contents, `${user}'s messages in the order typed`);
    }
    for (const p of pages) {
      const s = await stateOf(p);
      assert.deepEqual(s.messages, stored, `${p.user}: every message once, in order, without a reload`);
      assert.equal(s.connects, 2, `${p.user}: one reconnection`);
      assert.deepEqual(s.exceptions, [], `${p.user} exceptions`);
    }
    // The restore turns both entries connected again and sends the list,
    // as a join would; the original app shows it.
    for (const p of pages) await waitOn(p, 'both users listed again', (s) => {
      const l = s.participants.at(-1);
      return l && l.length === 2 && l.every((e) => e.connected);
    });
    for (const p of pages) assert.deepEqual(p.problems, [], `${p.user} page problems`);
  } finally {
    for (const c of contexts) await withDeadline(c.close(), LAUNCH_TIMEOUT_MS, 'a context to close').catch((err) => t.diagnostic(err.message));
    await withDeadline(browser.close(), LAUNCH_TIMEOUT_MS, 'chromium to close');
  }
}

// roomOf names the room an event is about.
function roomOf(event) {
  for (const prefix of ['participants/', 'closed/']) {
    if (event.startsWith(prefix)) return event.slice(prefix.length);
  }
  return event;
}

// A Node client in both rooms: it posts, and a marker it receives after a
// message proves the room's delivery of that message to every member is
// done (one room delivers in order, member after member).
async function witness(rooms) {
  const socket = io4(SERVER_URL, { forceNew: true, transports: ['websocket'] });
  const log = new Log('witness');
  socket.onAny((event, ...args) => log.push({ event, args }));
  await once(socket, 'connect', 'the witness to connect');
  for (const r of rooms) {
    socket.emit('participants', { roomId: r, username: 'Wit', avatar: avatarOf('Wit') });
    await log.until((es) => es.some((e) => e.event === `participants/${r}`), `its join of ${r}`);
  }
  return {
    socket,
    // post sends content then a marker to room and waits for the marker.
    async post(room, content) {
      for (const c of [content, `${content} (marker)`]) {
        const ack = await withDeadline(socket.emitWithAck('chat', { roomId: room, username: 'Wit', content: c }), WAIT_MS, `ack of ${c}`);
        assert.equal(typeof ack.order, 'number', JSON.stringify(ack));
      }
      await log.until((es) => es.some((e) => e.event === room && e.args[0].content === `${content} (marker)`), `the marker of ${content}`);
    },
  };
}

async function sharedJar(t, firstBack) {
  const browser = await launch();
  const witnesses = [];
  try {
    const context = await newContext(browser);
    const roomA = uniqueRoom('shared-a');
    const roomB = uniqueRoom('shared-b');
    for (const r of [roomA, roomB]) assert.equal(await createRoom(SERVER_URL, r), 201);
    const tabA = await openPage(context, 'Alice', t);
    await enter(tabA, roomA);
    await waitOn(tabA, 'its own entry', (s) => s.participants.length > 0);
    // The second tab opens with the first one's io cookie in the jar.
    const tabB = await openPage(context, 'Alice', t);
    tabB.user = 'Alice (tab B)';
    tabA.user = 'Alice (tab A)';
    await enter(tabB, roomB);
    await waitOn(tabB, 'its own entry', (s) => s.participants.length > 0);
    const jar = (await context.cookies(SERVER_URL)).filter((c) => c.name === 'io');
    assert.equal(jar.length, 1, `one io cookie shared by the tabs: ${JSON.stringify(jar)}`);

    const tabs = { [roomA]: tabA, [roomB]: tabB };
    const w1 = await witness([roomA, roomB]);
    witnesses.push(w1.socket);
    await w1.post(roomA, 'A before the restart');
    await w1.post(roomB, 'B before the restart');
    for (const p of [tabA, tabB]) {
      await roundTrip(p);
      await upgraded(p);
    }
    w1.socket.close();

    const [first, second] = firstBack === 'A' ? [tabA, tabB] : [tabB, tabA];
    // The second tab's reconnections are refused until the first is back.
    await second.page.route(`${SERVER_URL}/socket.io/**`, (route) => route.abort());
    await control('restart');
    await waitOn(first, 'its socket to reconnect', (s) => s.connects === 2);
    const w2 = await witness([roomA, roomB]);
    witnesses.push(w2.socket);
    await w2.post(roomA, 'A with one tab back');
    await w2.post(roomB, 'B with one tab back');
    await roundTrip(first);
    await second.page.unroute(`${SERVER_URL}/socket.io/**`);
    await waitOn(second, 'its socket to reconnect', (s) => s.connects === 2);
    await w2.post(roomA, 'A with both tabs back');
    await w2.post(roomB, 'B with both tabs back');
    for (const p of [tabA, tabB]) await roundTrip(p);

    for (const [room, tab] of Object.entries(tabs)) {
      const s = await stateOf(tab);
      const foreign = s.events.filter(([event]) => roomOf(event) !== room && event !== 'exception');
      assert.deepEqual(foreign, [], `${tab.user} (room ${room}) received events of another room`);
      // Its own room's traffic before the restart reached it.
      assert.ok(s.messages.some((m) => m.content.endsWith('before the restart')), `${tab.user} got its room before the restart`);
      const after = s.messages.filter((m) => !m.content.endsWith('before the restart') && !m.content.endsWith('before the restart (marker)'));
      t.diagnostic(`${tab.user}: ${s.events.length} events in all, ${after.length} messages of its own room after the restart`);
      assert.deepEqual(s.exceptions, [], `${tab.user} exceptions`);
      assert.deepEqual(tab.problems, [], `${tab.user} page problems`);
    }
  } finally {
    for (const w of witnesses) w.close();
    await withDeadline(browser.close(), LAUNCH_TIMEOUT_MS, 'chromium to close');
  }
}

if (SCENARIO === 'restart') {
  test('two users: the server restarts on its SQLite file; the pages come back and go on chatting', { timeout: 180000 }, (t) => twoUsersSurvive(t, 'restart'));
} else if (SCENARIO === 'failover') {
  test("two users: their node is killed; the pages come back on the other node and go on chatting", { timeout: 180000 }, (t) => twoUsersSurvive(t, 'kill'));
} else {
  for (const firstBack of ['A', 'B']) {
    test(`one cookie jar, two tabs in two rooms, tab ${firstBack} back first: no tab gets the other's room`, { timeout: 180000 }, (t) => sharedJar(t, firstBack));
  }
}
