// Acknowledgements as Node socket.io gives them: a handler that never
// acknowledges sends no ACK, so socket.io-client 4.8's timeout().emit gets
// its timeout error. This server's 'exchanges' (the original never
// acknowledged it) and a Node socket.io 4.8 handler that never calls its ack
// (refserver.mjs, started here) are asked the same thing in the same test;
// handlers that do acknowledge answer on both, so the check can tell the
// two apart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { io as io4 } from 'socket.io-client';
import { startRefHarness } from '../refserver.mjs';
import { Scope, WAIT_MS, createRoom, generations, join, rest, withDeadline } from './lib.mjs';

// The client-side ack timeout under test, as a frontend would write it.
const ACK_TIMEOUT_MS = 300;

// emitOutcome emits with socket.timeout(ms) and resolves with what the
// callback got: the timeout error's message, or the ack's arguments.
function emitOutcome(socket, ms, event, ...args) {
  return withDeadline(
    new Promise((resolve) => {
      socket.timeout(ms).emit(event, ...args, (err, ...acked) => resolve(err ? { error: err.message } : { acked }));
    }),
    ms + WAIT_MS,
    `the callback of '${event}'`,
  );
}

function connect(url) {
  const socket = io4(url, { forceNew: true, reconnection: false });
  return withDeadline(
    new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', (err) => reject(new Error(`connect_error from ${url}: ${err.message}`)));
    }),
    WAIT_MS,
    `a connection to ${url}`,
  );
}

test(`v4 (socket.io-client ${generations[1].version}): timeout().emit to a handler that acknowledges nothing times out here as on Node socket.io 4.8`, { timeout: 30000 }, async () => {
  const scope = new Scope();
  const room = scope.room('ack-room');
  await createRoom(room);
  const ref = await startRefHarness();
  const sockets = [];
  try {
    // Joined first, so the post is accepted in both identity modes.
    const client = await scope.open(generations[1], 'ours');
    join(client, room, 'Toto');
    await client.expect(`participants/${room}`);
    const ours = client.socket;
    const node = await connect(ref.sioUrl);
    sockets.push(node);

    const payload = { roomId: room, username: 'Toto', content: 'no ack expected', createdAt: '2021-03-01T10:00:00.000Z' };
    const [fromOurs, fromNode] = await Promise.all([
      emitOutcome(ours, ACK_TIMEOUT_MS, 'exchanges', payload),
      emitOutcome(node, ACK_TIMEOUT_MS, 'exchanges', payload),
    ]);
    assert.deepEqual(fromNode, { error: 'operation has timed out' }, 'Node socket.io 4.8');
    assert.deepEqual(fromOurs, fromNode, 'this server, as Node socket.io 4.8');

    // The event itself did its work: stored (and broadcast) as ever.
    const history = await rest('GET', `/api/v1/rooms/${room}/messages?fromIndex=1&toIndex=20`);
    assert.deepEqual(history, { status: 200, text: JSON.stringify([{ order: 1, username: 'Toto', content: 'no ack expected', createdAt: '2021-03-01T10:00:00.000Z' }]) });

    // Handlers that acknowledge answer the same kind of emit on both.
    const [ackOurs, ackNode] = await Promise.all([
      emitOutcome(ours, WAIT_MS, 'chat', { roomId: room, content: 'acked' }),
      emitOutcome(node, WAIT_MS, 'echo-ack', 'acked'),
    ]);
    assert.equal(ackOurs.error, undefined, `chat: ${ackOurs.error}`);
    assert.equal(ackOurs.acked[0].order, 2);
    assert.deepEqual(ackNode, { acked: ['acked'] });
  } finally {
    for (const s of sockets) s.close();
    scope.closeAll();
    await ref.close();
  }
});
