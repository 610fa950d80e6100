// Helpers of the reconnection acceptance scripts. They run under the Go
// tests of cmd/chatserver (reconnect_test.go), which start real server
// processes, a proxy, and a control server that restarts, kills, cuts and
// moves on request: CONTROL_URL/<action>.
import assert from 'node:assert/strict';

export function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through the Go test (go test ./cmd/chatserver -run 'Reconnect|Recovery')`);
  return value;
}

// Every wait is bounded by this: generous, the machine is shared and
// reconnections back off for seconds.
export const WAIT_MS = 30000;

export function withDeadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// control asks the Go test to act on the processes (restart, kill, cut,
// resume, move) and resolves once it is done.
export async function control(action) {
  const res = await withDeadline(fetch(`${requiredEnv('CONTROL_URL')}/${action}`, { method: 'POST' }), 2 * WAIT_MS, `control ${action}`);
  const text = await res.text();
  assert.equal(res.status, 200, `control ${action}: ${text}`);
  return text;
}

// createRoom creates a room over REST and returns the status: 201, or 409
// when it exists.
export async function createRoom(base, roomId) {
  const res = await withDeadline(
    fetch(`${base}/api/v1/rooms`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ roomId, creatorUsername: 'bob' }),
    }),
    WAIT_MS,
    `POST /api/v1/rooms on ${base}`,
  );
  await res.text();
  assert.ok(res.status === 201 || res.status === 409, `create ${roomId}: status ${res.status}`);
  return res.status;
}

export function uniqueRoom(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${process.pid}`;
}

export function avatarOf(name) {
  return `http://127.0.0.1:4200/avatar/${name.toLowerCase()}.svg`;
}

// Log records what a client saw, in order, and wakes waiters on each entry.
export class Log {
  constructor(name) {
    this.name = name;
    this.entries = [];
    this.waiters = new Set();
  }

  push(entry) {
    this.entries.push(entry);
    for (const w of [...this.waiters]) w();
  }

  // until resolves once predicate(entries) holds, checked on every entry.
  until(predicate, what, ms = WAIT_MS) {
    if (predicate(this.entries)) return Promise.resolve();
    let wake;
    return withDeadline(
      new Promise((resolve) => {
        wake = () => {
          if (predicate(this.entries)) resolve();
        };
        this.waiters.add(wake);
      }),
      ms,
      `${this.name}: ${what}`,
    ).finally(() => this.waiters.delete(wake));
  }
}

// once resolves with the arguments of emitter's next event.
export function once(emitter, event, what, ms = WAIT_MS) {
  return withDeadline(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), ms, what);
}
