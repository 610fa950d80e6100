// Shared helpers for the interop tests: the two client generations, the
// transport matrix, deadline-bounded waits and the control-server API.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import sio2 from 'sio2';
import { io as io4, Manager as Manager4 } from 'socket.io-client';

const require = createRequire(import.meta.url);

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests through 'npm run test:ref' or the Go driver (go test ./gateway/interop)`);
  }
  return value.replace(/\/+$/, '');
}

export const SIO_URL = requiredEnv('SIO_URL');
export const CONTROL_URL = requiredEnv('CONTROL_URL');

// Every wait in these tests is bounded by one of these.
export const WAIT_MS = 5000;
export const RESTART_WAIT_MS = 15000;
// REAP_MS bounds a wait for sessions to drain when a client may have been
// torn down between two of its requests, so that only the server's
// heartbeat (5 s + 20 s in the harness, server_test.go) can end its session.
export const REAP_MS = 40000;

export const generations = [
  {
    key: 'v2',
    label: `socket.io-client ${require('sio2/package.json').version}`,
    expectedVersion: /^2\.5\.0$/,
    version: require('sio2/package.json').version,
    connect: (url, opts) => sio2(url, opts),
    newManager: (url, opts) => new sio2.Manager(url, opts),
  },
  {
    key: 'v4',
    label: `socket.io-client ${require('socket.io-client/package.json').version}`,
    expectedVersion: /^4\.8\.\d+$/,
    version: require('socket.io-client/package.json').version,
    connect: (url, opts) => io4(url, opts),
    newManager: (url, opts) => new Manager4(url, opts),
  },
];

export const transports = [
  // Both generations default to ['polling', 'websocket']: open over polling,
  // then probe and upgrade.
  { name: 'default', opts: {}, initial: 'polling', final: 'websocket' },
  { name: 'websocket-only', opts: { transports: ['websocket'] }, initial: 'websocket', final: 'websocket' },
  { name: 'polling-only', opts: { transports: ['polling'] }, initial: 'polling', final: 'polling' },
];

// withDeadline rejects with a descriptive error if promise has not settled
// within ms.
export function withDeadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// waitEvent resolves with the arguments of the next `event` on emitter and
// rejects if one of failOn fires first or the deadline passes. Works with
// both component-emitter (v2) and @socket.io/component-emitter (v4).
export function waitEvent(emitter, event, { failOn = [], ms = WAIT_MS } = {}) {
  const listeners = [];
  const cleanup = () => {
    for (const [ev, fn] of listeners) emitter.off(ev, fn);
  };
  const p = new Promise((resolve, reject) => {
    const ok = (...args) => resolve(args);
    emitter.on(event, ok);
    listeners.push([event, ok]);
    for (const ev of failOn) {
      const bad = (...args) => reject(new Error(`got '${ev}' while waiting for '${event}': ${describe(args)}`));
      emitter.on(ev, bad);
      listeners.push([ev, bad]);
    }
  });
  return withDeadline(p, ms, `'${event}'`).finally(cleanup);
}

function describe(args) {
  return args
    .map((a) => {
      if (!(a instanceof Error)) return JSON.stringify(a);
      // engine.io-client transport errors carry the cause in .description.
      const cause = a.description?.message ?? a.description;
      return cause === undefined ? a.message : `${a.message} (${cause})`;
    })
    .join(', ');
}

export function engineOf(socket) {
  return socket.io.engine;
}

export function transportName(socket) {
  return socket.io.engine.transport.name;
}

// connect opens a socket on nsp and waits for 'connect'. Reconnection is
// off by default so that a dropped connection surfaces as a failure instead
// of being silently papered over.
export async function connect(gen, transport, nsp = '/', extra = {}) {
  const socket = gen.connect(SIO_URL + nsp, {
    forceNew: true,
    reconnection: false,
    timeout: WAIT_MS,
    ...transport.opts,
    ...extra,
  });
  try {
    await waitEvent(socket, 'connect', { failOn: ['connect_error', 'error', 'connect_timeout'] });
  } catch (err) {
    socket.close();
    throw err;
  }
  return socket;
}

// waitForUpgrade resolves once the engine runs over WebSocket.
export async function waitForUpgrade(socket) {
  const engine = engineOf(socket);
  if (engine.transport.name === 'websocket') return;
  await waitEvent(engine, 'upgrade', { failOn: ['upgradeError', 'close'] });
  assert.equal(engine.transport.name, 'websocket');
}

// emitWithAck emits and resolves with the full list of ack arguments.
export function emitWithAck(socket, event, ...args) {
  const p = new Promise((resolve) => {
    socket.emit(event, ...args, (...ackArgs) => resolve(ackArgs));
  });
  return withDeadline(p, WAIT_MS, `ack of '${event}'`);
}

// collect resolves with the argument lists of the next `count` `event`s.
export function collect(socket, event, count, ms = WAIT_MS) {
  const got = [];
  let handler;
  const p = new Promise((resolve) => {
    handler = (...args) => {
      got.push(args);
      if (got.length === count) resolve(got);
    };
    socket.on(event, handler);
  });
  return withDeadline(p, ms, `${count} '${event}' events (got ${got.length})`).finally(() => socket.off(event, handler));
}

const isBinary = (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v);

// normalize maps every binary value, whatever its container type (Buffer,
// ArrayBuffer, typed array), to {$bin: hex} so payloads can be compared with
// deepStrictEqual. Anything that is not real binary (for example a
// {type: 'Buffer', data: [...]} object or a leftover attachment placeholder)
// stays as it is and fails the comparison.
export function normalize(v) {
  if (isBinary(v)) {
    const bytes = v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    return { $bin: Buffer.from(bytes).toString('hex') };
  }
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') {
    const out = {};
    for (const [k, val] of Object.entries(v)) out[k] = normalize(val);
    return out;
  }
  return v;
}

export function assertSamePayload(actual, expected, message) {
  assert.deepStrictEqual(normalize(actual), normalize(expected), message);
}

// bytes returns a deterministic buffer of n bytes that covers all byte values.
export function bytes(n, seed = 0) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

export const TEXT = {
  emoji: '🎉👍🏽',
  cjk: '中文字',
  accents: 'éàü',
  // Separators and digits that a sloppy length-prefixed payload parser
  // could mistake for framing, plus U+2028 and a tab.
  tricky: '12:34 5:6 \u2028 \t "quoted" \\ back 🎉',
};

// Control server API. Every call has a deadline.
async function control(method, urlPath, ms = WAIT_MS) {
  const res = await fetch(CONTROL_URL + urlPath, { method, signal: AbortSignal.timeout(ms) });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${urlPath} -> ${res.status}: ${body}`);
  return JSON.parse(body);
}

export const restartServer = () => control('POST', '/restart', RESTART_WAIT_MS);
export const stats = () => control('GET', '/stats');
export const resetStats = () => control('POST', '/reset-stats');

// waitForSessions polls /stats until the server reports n sessions. Polling
// a condition against a deadline, not sleeping for a guessed duration.
export async function waitForSessions(n, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await stats();
    if (last.sessions === n) return last;
    if (Date.now() > deadline) {
      throw new Error(`server still reports ${last.sessions} sessions after ${ms}ms, want ${n}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
