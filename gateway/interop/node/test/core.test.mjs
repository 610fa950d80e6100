// Core protocol checks for both client generations over every transport.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import {
  RESTART_WAIT_MS,
  SIO_URL,
  TEXT,
  WAIT_MS,
  assertSamePayload,
  bytes,
  collect,
  connect,
  emitWithAck,
  generations,
  restartServer,
  transportName,
  transports,
  waitEvent,
  waitForSessions,
  waitForUpgrade,
  withDeadline,
} from './lib.mjs';

const TEST_TIMEOUT_MS = 30000;

const JSON_ARGS = ['a', 1, 2.5, -7, 9007199254740991, true, false, null, { k: [1, { x: 'y' }], e: {} }, [[]], ''];

function nonAsciiPayload() {
  return {
    [`clé ${TEXT.emoji}`]: `valeur ${TEXT.cjk}`,
    ...TEXT,
    list: [TEXT.emoji, TEXT.cjk, TEXT.accents],
    // Long enough that a server counting bytes, runes and UTF-16 units
    // differently produces a visibly wrong frame length.
    long: TEXT.emoji.repeat(2000) + TEXT.cjk.repeat(1000) + TEXT.accents.repeat(1000),
  };
}

function binaryPayload() {
  return {
    a: { b: bytes(16, 1) },
    list: [bytes(3, 2), 'x'],
    empty: Buffer.alloc(0),
    big: bytes(200000, 3),
    text: `binary and text ${TEXT.emoji}`,
  };
}

// roundTrip sends args both ways: as an ack round trip and as an emit that
// the server emits back.
async function roundTrip(socket, args, label) {
  const acked = await emitWithAck(socket, 'echo-ack', ...args);
  assertSamePayload(acked, args, `${label}: echo-ack`);
  const back = collect(socket, 'echo-back', 1);
  socket.emit('echo-emit', ...args);
  const [echoed] = await back;
  assertSamePayload(echoed, args, `${label}: echo-emit -> echo-back`);
}

// askClient has the server emit 'question' with an ack; the client answers
// with `answer`, which the server then emits back as 'answer'.
async function askClient(socket, answer) {
  const question = waitEvent(socket, 'question');
  const answered = waitEvent(socket, 'answer');
  socket.emit('ask-client');
  const [q, ack] = await question;
  assert.deepStrictEqual(q, { q: 'ping?' });
  assert.equal(typeof ack, 'function', "'question' must come with an ack callback");
  ack(answer);
  const [got] = await answered;
  assertSamePayload(got, answer, 'answer relayed by the server');
}

for (const gen of generations) {
  describe(`${gen.key} (${gen.label})`, () => {
    test('runs the pinned client version', () => {
      assert.match(gen.version, gen.expectedVersion);
    });

    for (const transport of transports) {
      describe(`transport ${transport.name}`, () => {
        const opened = [];
        const open = async (nsp, extra) => {
          const socket = await connect(gen, transport, nsp, extra);
          opened.push(socket);
          return socket;
        };

        afterEach(async () => {
          for (const s of opened.splice(0)) s.close();
          // Every session the test opened must be gone server-side too.
          await waitForSessions(0);
        });

        test('connects over the expected transport', { timeout: TEST_TIMEOUT_MS }, async () => {
          const upgrades = [];
          const socket = gen.connect(SIO_URL, { forceNew: true, reconnection: false, timeout: WAIT_MS, ...transport.opts });
          opened.push(socket);
          // The engine picks its first transport synchronously on open.
          assert.equal(transportName(socket), transport.initial, 'first transport');
          socket.io.engine.on('upgrade', (t) => upgrades.push(t.name));
          await waitEvent(socket, 'connect', { failOn: ['connect_error', 'error'] });
          assert.equal(socket.connected, true);
          if (transport.final === 'websocket') {
            await waitForUpgrade(socket);
          }
          // A round trip after the upgrade (or on the only transport).
          assert.deepStrictEqual(await emitWithAck(socket, 'echo-ack', 'after'), ['after']);
          assert.equal(transportName(socket), transport.final, 'final transport');
          if (transport.name === 'default') {
            assert.deepStrictEqual(upgrades, ['websocket']);
          } else {
            assert.deepStrictEqual(upgrades, [], 'no upgrade expected');
          }
        });

        test('emit without ack reaches the server and events come back in order', { timeout: TEST_TIMEOUT_MS }, async () => {
          const socket = await open('/');
          const back = collect(socket, 'echo-back', 1);
          socket.emit('echo-emit', ...JSON_ARGS);
          assertSamePayload((await back)[0], JSON_ARGS);

          // Many emits in a row get batched into shared polling payloads.
          const count = 25;
          const many = collect(socket, 'echo-back', count);
          for (let i = 0; i < count; i++) socket.emit('echo-emit', i, `n°${i} ${TEXT.emoji}`);
          const got = await many;
          assert.deepStrictEqual(
            got,
            Array.from({ length: count }, (_, i) => [i, `n°${i} ${TEXT.emoji}`]),
          );
        });

        test('emit with ack returns the same arguments', { timeout: TEST_TIMEOUT_MS }, async () => {
          const socket = await open('/');
          assert.deepStrictEqual(await emitWithAck(socket, 'echo-ack'), [], 'no arguments');
          assert.deepStrictEqual(await emitWithAck(socket, 'echo-ack', 'one'), ['one']);
          assert.deepStrictEqual(await emitWithAck(socket, 'echo-ack', ...JSON_ARGS), JSON_ARGS);
          // Acks of concurrent emits must not be crossed.
          const results = await Promise.all(
            Array.from({ length: 20 }, (_, i) => emitWithAck(socket, 'echo-ack', i, { i })),
          );
          assert.deepStrictEqual(results, Array.from({ length: 20 }, (_, i) => [i, { i }]));
        });

        test('server emit with ack is answered by the client', { timeout: TEST_TIMEOUT_MS }, async () => {
          const socket = await open('/');
          await askClient(socket, 'pong');
          await askClient(socket, { nested: ['pong', 1, null] });
        });

        test('binary nested in objects travels both directions', { timeout: TEST_TIMEOUT_MS }, async () => {
          const socket = await open('/');
          const args = [binaryPayload(), bytes(5, 9), 'plain'];
          // On the default transport this first round usually runs before
          // or during the upgrade, when packets are buffered.
          await roundTrip(socket, args, 'binary');
          await askClient(socket, { text: `pong ${TEXT.accents}`, bin: bytes(8, 4), list: [bytes(2, 5)] });
          if (transport.name === 'default') {
            await waitForUpgrade(socket);
            await roundTrip(socket, args, 'binary after upgrade');
          }
        });

        test('non-ASCII text travels both directions', { timeout: TEST_TIMEOUT_MS }, async () => {
          const socket = await open('/');
          const args = [nonAsciiPayload(), TEXT.emoji, TEXT.cjk, TEXT.accents, TEXT.tricky];
          await roundTrip(socket, args, 'non-ASCII');
          await askClient(socket, `réponse ${TEXT.emoji} ${TEXT.cjk}`);
          // Several non-ASCII packets in one polling payload.
          const count = 10;
          const many = collect(socket, 'echo-back', count);
          for (let i = 0; i < count; i++) socket.emit('echo-emit', `${i}:${TEXT.emoji.repeat(i)}${TEXT.cjk}`);
          assert.deepStrictEqual(
            await many,
            Array.from({ length: count }, (_, i) => [`${i}:${TEXT.emoji.repeat(i)}${TEXT.cjk}`]),
          );
          if (transport.name === 'default') {
            await waitForUpgrade(socket);
            await roundTrip(socket, args, 'non-ASCII after upgrade');
          }
        });

        test('custom namespace works alone and multiplexed with /', { timeout: TEST_TIMEOUT_MS }, async () => {
          const alone = await open('/custom');
          assert.equal(alone.nsp, '/custom');
          await roundTrip(alone, ['custom', { bin: bytes(4, 6) }], '/custom');
          alone.close();

          // Two namespaces over one Engine.IO session.
          const manager = gen.newManager(SIO_URL, { reconnection: false, timeout: WAIT_MS, ...transport.opts });
          const root = manager.socket('/');
          const custom = manager.socket('/custom');
          opened.push(root, custom);
          await Promise.all([
            waitEvent(root, 'connect', { failOn: ['connect_error', 'error'] }),
            waitEvent(custom, 'connect', { failOn: ['connect_error', 'error'] }),
          ]);
          assert.equal(root.io.engine, custom.io.engine, 'one engine for both namespaces');
          // Each namespace only sees its own events.
          const strayOnRoot = [];
          root.on('echo-back', (...a) => strayOnRoot.push(a));
          await roundTrip(custom, ['to custom', TEXT.emoji], '/custom multiplexed');
          assert.deepStrictEqual(strayOnRoot, [], '/ received an event meant for /custom');
          root.off('echo-back');
          await roundTrip(root, ['to root'], '/ multiplexed');
          // Leaving one namespace keeps the other one working.
          custom.close();
          await roundTrip(root, ['root still works'], '/ after /custom left');
        });

        test('an unknown namespace is refused', { timeout: TEST_TIMEOUT_MS }, async () => {
          const socket = gen.connect(`${SIO_URL}/no-such-namespace`, {
            forceNew: true,
            reconnection: false,
            timeout: WAIT_MS,
            ...transport.opts,
          });
          opened.push(socket);
          if (gen.key === 'v2') {
            // socket.io-client 2 reports a namespace refusal as an 'error'
            // event carrying the ERROR packet's data. socket.io 2 servers send
            // the bare string; socket.io 4 servers (allowEIO3) send
            // {message}. Both are what real v2 clients see in the wild.
            const [err] = await waitEvent(socket, 'error', { failOn: ['connect'] });
            const message = typeof err === 'string' ? err : err?.message;
            assert.equal(message, 'Invalid namespace', `error payload: ${JSON.stringify(err)}`);
            assert.ok(
              typeof err === 'string' || (Object.keys(err).length === 1 && typeof err.message === 'string'),
              `unexpected error shape ${JSON.stringify(err)}`,
            );
          } else {
            // socket.io-client 4 turns CONNECT_ERROR {message} into an Error.
            const [err] = await waitEvent(socket, 'connect_error', { failOn: ['connect'] });
            assert.ok(err instanceof Error, 'connect_error carries an Error');
            assert.equal(err.message, 'Invalid namespace');
            assert.equal(err.data, undefined);
          }
          assert.equal(socket.connected, false);
        });

        test('server-side disconnect', { timeout: TEST_TIMEOUT_MS }, async () => {
          const socket = await open('/');
          const disconnected = waitEvent(socket, 'disconnect');
          socket.emit('disconnect-me');
          const [reason] = await disconnected;
          assert.equal(reason, 'io server disconnect');
          assert.equal(socket.connected, false);
          await waitForSessions(0);
        });

        test('reconnects after a server restart', { timeout: TEST_TIMEOUT_MS + RESTART_WAIT_MS }, async () => {
          const socket = await open('/', {
            reconnection: true,
            reconnectionDelay: 50,
            reconnectionDelayMax: 250,
            randomizationFactor: 0,
          });
          if (transport.name === 'default') await waitForUpgrade(socket);
          await waitForSessions(1);
          const reconnected = new Promise((resolve) => {
            socket.once('disconnect', (reason) => {
              socket.once('connect', () => resolve(reason));
            });
          });
          await restartServer();
          const reason = await withDeadline(reconnected, RESTART_WAIT_MS, 'disconnect and reconnect');
          assert.ok(['transport close', 'transport error'].includes(reason), `disconnect reason ${reason}`);
          assert.equal(socket.connected, true);
          assert.deepStrictEqual(await emitWithAck(socket, 'echo-ack', 'after restart', TEXT.emoji), [
            'after restart',
            TEXT.emoji,
          ]);
          // Exactly one session: the dropped one was not kept alive.
          await waitForSessions(1);
          if (transport.name === 'default') {
            await waitForUpgrade(socket);
            await roundTrip(socket, ['upgraded again', bytes(3, 1)], 'after restart and upgrade');
          }
        });
      });
    }
  });
}
