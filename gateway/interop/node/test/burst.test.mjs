// Burst: many clients connecting at once, each emitting immediately on
// 'connect'. Catches lost sessions and lost packets under a thundering herd.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { REAP_MS, SIO_URL, generations, resetStats, stats, waitForSessions, withDeadline } from './lib.mjs';

const CLIENTS = 200;
const ROUNDS = 5;
const ROUND_DEADLINE_MS = 30000;
const DRAIN_DEADLINE_MS = REAP_MS;

// runRound connects CLIENTS clients of gen at once on default transports
// and resolves with what every client observed.
async function runRound(gen) {
  const clients = [];
  const trouble = []; // anything that must not happen during the round
  let closing = false;
  let acked = 0;
  let resolveAll;
  const allAcked = new Promise((resolve) => {
    resolveAll = resolve;
  });

  for (let i = 0; i < CLIENTS; i++) {
    const socket = gen.connect(SIO_URL, { forceNew: true, reconnection: false, timeout: ROUND_DEADLINE_MS });
    const client = { socket, connects: 0, ack: undefined };
    clients.push(client);
    socket.on('connect', () => {
      client.connects++;
      socket.emit('burst', i, (n) => {
        if (client.ack !== undefined) trouble.push(`client ${i}: second ack ${n}`);
        client.ack = n;
        acked++;
        if (acked === CLIENTS) resolveAll();
      });
    });
    for (const ev of ['disconnect', 'connect_error', 'connect_timeout', 'error']) {
      socket.on(ev, (detail) => {
        if (!closing) trouble.push(`client ${i}: ${ev} ${detail?.message ?? detail}`);
      });
    }
  }

  try {
    await withDeadline(allAcked, ROUND_DEADLINE_MS, `${CLIENTS} burst acks`).catch((err) => {
      throw new Error(`${err.message}; got ${acked} acks; trouble: ${trouble.slice(0, 10).join('; ') || 'none'}`);
    });
    const serverView = await stats();
    return { clients, trouble: [...trouble], serverView };
  } finally {
    closing = true;
    for (const { socket } of clients) socket.close();
  }
}

for (const gen of generations) {
  describe(`burst ${gen.key} (${gen.label})`, () => {
    test(
      `${CLIENTS} clients connect and emit at once, ${ROUNDS} rounds`,
      { timeout: ROUNDS * (ROUND_DEADLINE_MS + DRAIN_DEADLINE_MS + 5000) },
      async (t) => {
        for (let round = 1; round <= ROUNDS; round++) {
          await waitForSessions(0, DRAIN_DEADLINE_MS);
          await resetStats();
          const { clients, trouble, serverView } = await runRound(gen);

          assert.deepStrictEqual(trouble, [], `round ${round}: dropped sessions or errors`);
          assert.deepStrictEqual(
            clients.map((c) => c.connects),
            clients.map(() => 1),
            `round ${round}: every client connects exactly once`,
          );
          assert.deepStrictEqual(
            clients.map((c) => c.ack),
            clients.map((_, i) => i),
            `round ${round}: every burst acked with its own n`,
          );
          assert.equal(serverView.burst, CLIENTS, `round ${round}: burst emits counted by the server`);
          assert.equal(serverView.sessions, CLIENTS, `round ${round}: live sessions while all clients are connected`);

          // All sessions must go away once the clients close.
          await waitForSessions(0, DRAIN_DEADLINE_MS);
          t.diagnostic(`round ${round}: ${CLIENTS} connected, ${serverView.burst} bursts counted, drained`);
        }
      },
    );
  });
}
