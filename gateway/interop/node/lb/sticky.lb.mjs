// Issue 11, item 8: socket.io-client 2.5 and 4.8 on their default
// transports (long-polling, then the upgrade to WebSocket) through nginx
// running cmd/chatserver/deploy/nginx.conf, in front of two chatserver nodes on one Redis.
// Sticky balancing keeps every request of a session on its node; messages
// cross nodes; when node A is killed, its clients reconnect through nginx to
// node B and get their room back (2.x: from the io cookie, 4.x: connection
// state recovery).
//
// Run through the Go driver (go test ./cmd/chatserver -run TestStickyNginx),
// which starts Redis, the nodes and nginx, and sets LB_URL (nginx),
// CONTROL_URL (to ask which node holds a session, and to kill node A),
// ROOM, and SOURCES_A / SOURCES_B: loopback source addresses nginx sends to
// node A and node B.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, test } from 'node:test';
import sio2 from 'sio2';
import { io as io4 } from 'socket.io-client';
import { jar } from '../chat/cookie-jar.mjs';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through the Go driver (go test ./cmd/chatserver -run TestStickyNginx)`);
  return value.replace(/\/+$/, '');
}
const LB_URL = env('LB_URL');
const CONTROL_URL = env('CONTROL_URL');
const ROOM = env('ROOM');
const SOURCES_A = env('SOURCES_A').split(',');
const SOURCES_B = env('SOURCES_B').split(',');

const WAIT_MS = 15000;
// A 2.x client's room comes back once node A is declared dead (NODE_TTL)
// and the claim is retried (every second): well within this.
const RESTORE_MS = 40000;
const reconnect = { reconnectionDelay: 100, reconnectionDelayMax: 500 };

function withDeadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const clients = [];
after(() => {
  for (const c of clients) c.socket.close();
});

// Client is one chat user, its TCP connections from one source address (so
// nginx's hash of the address picks its node), recording what it receives.
class Client {
  constructor(gen, name, source) {
    this.gen = gen;
    this.name = name;
    this.messages = [];
    this.lists = [];
    this.changed = () => {};
    // The agent pins the source address of every request and WebSocket.
    const opts = { forceNew: true, agent: new http.Agent({ localAddress: source }), ...reconnect };
    this.socket = gen === 'v2' ? sio2(LB_URL, { ...opts, ...jar() }) : io4(LB_URL, opts);
    this.socket.on(ROOM, (m) => { this.messages.push(m); this.changed(); });
    this.socket.on(`participants/${ROOM}`, (l) => { this.lists.push(l); this.changed(); });
    clients.push(this);
  }

  get engine() {
    return this.socket.io.engine;
  }

  until(what, cond, ms = WAIT_MS) {
    return withDeadline(new Promise((resolve) => {
      const check = () => {
        if (cond()) {
          this.changed = () => {};
          resolve();
          return true;
        }
        return false;
      };
      if (!check()) this.changed = check;
    }), ms, `${this.name}: ${what}`);
  }

  connected() {
    if (this.socket.connected) return Promise.resolve();
    return withDeadline(new Promise((resolve) => this.socket.once('connect', resolve)), WAIT_MS, `${this.name} to connect`);
  }

  upgraded() {
    if (this.engine.transport.name === 'websocket') return Promise.resolve();
    return withDeadline(new Promise((resolve) => this.engine.once('upgrade', resolve)), WAIT_MS, `${this.name} to upgrade`);
  }

  orders() {
    return this.messages.map((m) => m.order);
  }
}

// node asks the Go driver which node holds an Engine.IO session.
async function node(client) {
  const res = await withDeadline(fetch(`${CONTROL_URL}/whois?sid=${encodeURIComponent(client.engine.id)}`), WAIT_MS, `whois ${client.name}`);
  assert.equal(res.status, 200, `whois ${client.name}`);
  return res.text();
}

async function post(client, content) {
  if (client.gen === 'v4') {
    const ack = await withDeadline(client.socket.timeout(WAIT_MS).emitWithAck('chat', { roomId: ROOM, content }), WAIT_MS + 1000, `${client.name}'s post`);
    assert.equal(ack.content, content, `${client.name}'s post is acknowledged: ${JSON.stringify(ack)}`);
    return ack.order;
  }
  // socket.io-client 2 as the original frontend posts: exchanges, no ack.
  client.socket.emit('exchanges', { roomId: ROOM, username: client.name, content, createdAt: new Date().toISOString() });
  return null;
}

const connectedNames = (list) => list.filter((p) => p.connected).map((p) => p.username).sort();

test('socket.io-client 2 and 4 through nginx: sticky sessions on two nodes, messages across them, and a node killed', { timeout: 120000 }, async () => {
  const a2 = new Client('v2', 'a2', SOURCES_A[0]);
  const a4 = new Client('v4', 'a4', SOURCES_A[1]);
  const b2 = new Client('v2', 'b2', SOURCES_B[0]);
  const b4 = new Client('v4', 'b4', SOURCES_B[1]);
  const all = [a2, a4, b2, b4];
  for (const c of all) await c.connected();
  for (const c of all) c.socket.emit('participants', { roomId: ROOM, username: c.name, avatar: '' });
  for (const c of all) await c.until('everyone in the list', () => connectedNames(c.lists.at(-1) ?? []).join() === 'a2,a4,b2,b4');

  // Every client went from polling to WebSocket through nginx, and sits on
  // the node its address hashes to.
  for (const c of all) await c.upgraded();
  for (const c of [a2, a4]) assert.equal(await node(c), 'a', `${c.name}'s session`);
  for (const c of [b2, b4]) assert.equal(await node(c), 'b', `${c.name}'s session`);

  // Messages cross nodes: each posts once, everyone gets 1..4 in order.
  for (const c of all) await post(c, `hello from ${c.name}`);
  for (const c of all) await c.until('the four messages', () => c.messages.length >= 4);
  for (const c of all) assert.deepEqual(c.orders(), [1, 2, 3, 4], `${c.name}'s orders`);
  for (const c of all) assert.deepEqual(c.messages.map((m) => m.content).sort(), all.map((x) => `hello from ${x.name}`).sort());

  // Node A dies (kill -9). Its clients see their transport close and
  // reconnect through nginx, which now sends them to node B.
  const a4Back = withDeadline(new Promise((resolve) => a4.socket.io.once('reconnect', resolve)), WAIT_MS, 'a4 to reconnect');
  const a2Back = withDeadline(new Promise((resolve) => a2.socket.once('reconnect', resolve)), WAIT_MS, 'a2 to reconnect');
  const killed = await withDeadline(fetch(`${CONTROL_URL}/kill-a`, { method: 'POST' }), WAIT_MS, 'node A to be killed');
  assert.equal(killed.status, 204);
  const during = await post(b4, 'while node A is down');
  assert.equal(during, 5);
  await a4Back;
  await a2Back;
  await a4.connected();
  assert.equal(a4.socket.recovered, true, 'a4 recovered its socket (connection state recovery)');
  assert.equal(await node(a4), 'b', 'a4 now on node B');
  assert.equal(await node(a2), 'b', 'a2 now on node B');

  // After the reconnection: a4 has what it missed, then the next, exactly
  // once; a2 (which re-sends nothing, as the original frontend) gets its
  // room back once node A is declared dead, and with it this message.
  const order = await post(b4, 'after the failover');
  assert.equal(order, 6);
  await a4.until('messages 5 and 6', () => a4.messages.length >= 6);
  assert.deepEqual(a4.orders(), [1, 2, 3, 4, 5, 6], 'a4: every message once, in order, across the failover');
  await a2.until('the message after its reconnection', () => a2.orders().includes(6), RESTORE_MS);
  const a2Orders = a2.orders();
  assert.deepEqual(a2Orders.slice(0, 4), [1, 2, 3, 4]);
  assert.deepEqual(a2Orders, [...new Set(a2Orders)].sort((x, y) => x - y), `a2: no message twice or out of order (${a2Orders})`);
  for (const c of [b2, b4]) await c.until('all six', () => c.messages.length >= 6);
  for (const c of [b2, b4]) assert.deepEqual(c.orders(), [1, 2, 3, 4, 5, 6], `${c.name}'s orders`);

  // Both of node A's users are back, connected, in node B's list.
  await b4.until('a2 and a4 connected again', () => connectedNames(b4.lists.at(-1) ?? []).join() === 'a2,a4,b2,b4', RESTORE_MS);
});
