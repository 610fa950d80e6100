// Helpers for the chat scenario tests: both client generations, a per-socket
// event log consumed in order, deadline-bounded waits and REST calls.
// Run through the Go driver (go test ./gateway/interop -run TestChat), which
// starts the full server and sets SERVER_URL and DELIVERY.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import sio2 from 'sio2';
import { io as io4 } from 'socket.io-client';

const require = createRequire(import.meta.url);

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through the Go driver (go test ./gateway/interop -run TestChat)`);
  return value;
}

export const SERVER_URL = requiredEnv('SERVER_URL').replace(/\/+$/, '');
export const DELIVERY = requiredEnv('DELIVERY');
if (DELIVERY !== 'room' && DELIVERY !== 'global') throw new Error(`DELIVERY=${DELIVERY}: want room or global`);
export const GLOBAL = DELIVERY === 'global';
export const IDENTITY = requiredEnv('IDENTITY');
if (IDENTITY !== 'bound' && IDENTITY !== 'open') throw new Error(`IDENTITY=${IDENTITY}: want bound or open`);
// BOUND: a socket posts only into rooms it joined, under the name it joined with.
export const BOUND = IDENTITY === 'bound';

// Every wait is bounded by this.
export const WAIT_MS = 5000;

export const generations = [
  {
    key: 'v2',
    version: require('sio2/package.json').version,
    connect: (opts) => sio2(SERVER_URL, { forceNew: true, ...opts }),
  },
  {
    key: 'v4',
    version: require('socket.io-client/package.json').version,
    connect: (opts) => io4(SERVER_URL, { forceNew: true, ...opts }),
  },
];
assert.match(generations[0].version, /^2\.5\./);
assert.match(generations[1].version, /^4\.8\./);

let counter = 0;
function uniqueRoom(prefix) {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${process.pid}-${counter}`;
}

// roomOf names the room an event is about, or null for events that are not
// about a room ('exception', 'messages' acks of direct messages...).
function roomOf(event) {
  for (const prefix of ['participants/', 'closed/']) {
    if (event.startsWith(prefix)) return event.slice(prefix.length);
  }
  return event.includes('-') ? event : null;
}

// Scope is one test's world: its rooms (unique ids) and its clients. In
// global delivery every socket hears about every room, including rooms of
// tests that ran before and whose sockets are still being cleaned up on the
// server; a scope's clients therefore ignore events about rooms the scope
// does not own. Assertions about the scope's own rooms stay exact.
export class Scope {
  constructor() {
    this.rooms = new Set();
    this.clients = [];
  }

  room(prefix = 'ws-room') {
    const id = uniqueRoom(prefix);
    this.rooms.add(id);
    return id;
  }

  async open(gen, name, opts) {
    const c = new Client(gen, name, opts, this);
    this.clients.push(c);
    await c.connected();
    return c;
  }

  owns(event) {
    const room = roomOf(event);
    return room === null || this.rooms.has(room);
  }

  closeAll() {
    for (const c of this.clients) c.close();
  }
}

export function withDeadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function rest(method, path, body) {
  const res = await withDeadline(
    fetch(SERVER_URL + path, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    WAIT_MS,
    `${method} ${path}`,
  );
  return { status: res.status, text: await res.text() };
}

export async function createRoom(roomId) {
  assert.deepEqual(await rest('POST', '/api/v1/rooms', { roomId, creatorUsername: 'bob' }), { status: 201, text: '' });
}

export const DISCONNECT = '<disconnect>';

// Client wraps one socket and records, in arrival order, every event the
// server sends it plus its disconnects, so a test can assert the exact
// sequence a socket saw and, at the end, that nothing else arrived.
export class Client {
  constructor(gen, name, opts, scope) {
    this.gen = gen;
    this.name = `${gen.key}:${name}`;
    this.log = [];
    this.waiter = null;
    this.socket = gen.connect(opts || {});
    const record = (event, args) => {
      if (scope.owns(event)) this.push({ event, arg: args[0] });
    };
    if (gen.key === 'v2') {
      // socket.io-client 2 has no onAny: observe its packet dispatch.
      const onevent = this.socket.onevent;
      this.socket.onevent = (packet) => {
        const [event, ...args] = packet.data || [];
        record(event, args);
        onevent.call(this.socket, packet);
      };
    } else {
      this.socket.onAny((event, ...args) => record(event, args));
    }
    this.socket.on('disconnect', (reason) => this.push({ event: DISCONNECT, arg: reason }));
  }

  push(entry) {
    this.log.push(entry);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w();
    }
  }

  connected() {
    if (this.socket.connected) return Promise.resolve();
    return withDeadline(
      new Promise((resolve, reject) => {
        this.socket.once('connect', resolve);
        this.socket.once('connect_error', (err) => reject(new Error(`${this.name}: connect_error ${err && err.message}`)));
      }),
      WAIT_MS,
      `${this.name} to connect`,
    );
  }

  // next consumes the next recorded event, waiting for it if need be.
  async next(ms = WAIT_MS) {
    const deadline = Date.now() + ms;
    while (this.log.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no event within ${ms}ms`);
      await withDeadline(new Promise((resolve) => { this.waiter = resolve; }), left, `an event on ${this.name}`).catch((err) => {
        this.waiter = null;
        throw err;
      });
    }
    return this.log.shift();
  }

  // expect asserts the next event's name and, when given, its argument.
  async expect(event, arg) {
    const got = await this.next();
    assert.equal(got.event, event, `${this.name}: got '${got.event}' ${JSON.stringify(got.arg)}, want '${event}'`);
    if (arg !== undefined) assert.deepEqual(got.arg, arg, `${this.name}: '${event}' payload`);
    return got.arg;
  }

  emit(event, payload) {
    this.socket.emit(event, payload);
  }

  // call emits with an acknowledgement and resolves with its first argument.
  call(event, payload) {
    return withDeadline(new Promise((resolve) => this.socket.emit(event, payload, resolve)), WAIT_MS, `${this.name} ack of '${event}'`);
  }

  // emitExpectingNoAck emits with an ack callback that must never run (the
  // original never acknowledged 'exchanges'). Check with assertNotCalled
  // after a ping(): an ack sent for this emit would arrive before the ping's.
  emitExpectingNoAck(event, payload) {
    const calls = [];
    this.socket.emit(event, payload, (...args) => calls.push(args));
    return {
      assertNotCalled: () => assert.deepEqual(calls, [], `${this.name}: '${event}' was acknowledged`),
    };
  }

  // ping is a round trip that changes nothing: an unsupported message type.
  // Its ack proves the socket is alive and, the server's queue for a socket
  // being FIFO, that everything sent to it before has arrived.
  async ping() {
    assert.equal(this.socket.connected, true, `${this.name} should still be connected`);
    const ack = await this.call('messages', { type: 'ping' });
    assert.deepEqual(ack, { code: 'messages.unsupported-type', message: "Unsupported message type 'ping'" }, `${this.name} ping ack`);
  }

  // assertNothingElse checks that no unconsumed event is left. Call it after
  // ping() so in-flight events have had their chance to arrive.
  assertNothingElse() {
    assert.deepEqual(this.log, [], `${this.name} received unexpected events`);
  }

  close() {
    this.socket.close();
  }
}

export function participant(roomId, username, connected) {
  return { roomId, username, avatar: `http://127.0.0.1:4200/avatar/${username.toLowerCase()}.svg`, connected };
}

export function join(client, roomId, username) {
  client.emit('participants', { roomId, username, avatar: participant(roomId, username, true).avatar });
}
