// Helpers of the Admin UI tests: the settings the Go driver passes,
// deadline-bounded waits, REST room creation.
// Run through the Go driver: go test ./gateway/interop -run TestAdminUI
import assert from 'node:assert/strict';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through the Go driver (go test ./gateway/interop -run TestAdminUI)`);
  return value.replace(/\/+$/, '');
}

export const SERVER_URL = env('SERVER_URL');
export const ADMIN_USER = env('ADMIN_USER');
export const ADMIN_PASSWORD = env('ADMIN_PASSWORD');
export const MODE = env('ADMIN_MODE');
export const NODE_ID = env('NODE_ID');
export const DEVELOPMENT = MODE === 'development';
export { env };

export function withDeadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function createRoom(roomId, waitMs) {
  const res = await withDeadline(fetch(`${SERVER_URL}/api/v1/rooms`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ roomId, creatorUsername: 'admin-test' }),
  }), waitMs, `create room ${roomId}`);
  assert.equal(res.status, 201, `create room ${roomId}`);
}
