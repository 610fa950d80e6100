// Acceptance 4: a socket.io-client 2.x client whose transport is cut
// reconnects and, without re-sending 'participants' (the original Angular
// frontend never does), keeps receiving its room's messages. The server
// restores its room memberships from the io cookie naming the cut session.
//
// A browser keeps that cookie by itself; cookie-jar.mjs plays one for
// Node's socket.io-client 2.x.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jar } from './cookie-jar.mjs';
import { DISCONNECT, GLOBAL, Scope, WAIT_MS, createRoom, generations, join, participant, withDeadline } from './lib.mjs';

const v2 = generations.find((g) => g.key === 'v2');
const reconnectOpts = { reconnectionDelay: 50, reconnectionDelayMax: 100 };

// cutTransport destroys the client's TCP connection under its WebSocket: no
// close frame, no Engine.IO close packet, as when a network drops.
async function cutTransport(client) {
  const engine = client.socket.io.engine;
  if (engine.transport.name !== 'websocket') {
    await withDeadline(new Promise((resolve) => engine.once('upgrade', resolve)), WAIT_MS, `${client.name} to upgrade to websocket`);
  }
  const sid = engine.id;
  const reconnected = new Promise((resolve) => client.socket.once('reconnect', resolve));
  engine.transport.ws._socket.destroy();
  await client.expect(DISCONNECT, 'transport close');
  await withDeadline(reconnected, WAIT_MS, `${client.name} to reconnect`);
  assert.notEqual(client.socket.io.engine.id, sid, 'a new session after the reconnection');
  return sid;
}

for (const withCookie of [true, false]) {
  const receives = withCookie || GLOBAL;
  const title = withCookie
    ? 'v2: after its transport is cut, a reconnected client still receives its room (io cookie)'
    : `v2: control, without the cookie the reconnected client ${receives ? 'still receives (global delivery)' : 'is no longer in the room'}`;
  test(title, { timeout: 30000 }, async () => {
    const scope = new Scope();
    const room = scope.room('reconnect-room');
    await createRoom(room);
    try {
      const B = await scope.open(v2, 'B');
      join(B, room, 'Titi');
      await B.expect(`participants/${room}`);
      const A = await scope.open(v2, 'A', { ...reconnectOpts, ...(withCookie ? jar() : {}) });
      join(A, room, 'Toto');
      const joined = [participant(room, 'Titi', true), participant(room, 'Toto', true)];
      await A.expect(`participants/${room}`, joined);
      await B.expect(`participants/${room}`, joined);
      if (withCookie) assert.match(A.socket.io.engine.extraHeaders.Cookie, /^io=.+/, 'the jar holds the io cookie');

      const oldSid = await cutTransport(A);
      if (withCookie) assert.equal(A.socket.io.engine.extraHeaders.Cookie.startsWith('io='), true);
      // The cut is noticed: Toto is disconnected. With the cookie, the
      // reconnected socket takes Toto's entry back, connected again (the
      // two lists may reach B as one); without it, Toto stays away.
      const left = [participant(room, 'Titi', true), participant(room, 'Toto', false)];
      const final = withCookie && !GLOBAL ? joined : left;
      for (;;) {
        const got = await B.next();
        assert.equal(got.event, `participants/${room}`, `B: got '${got.event}', want the list`);
        if (JSON.stringify(got.arg) === JSON.stringify(final)) break;
        assert.deepEqual(got.arg, left, 'B: the only list before the last is the departure');
      }
      // Nothing is re-sent by A: B posts, and A must (or must not) get it.
      const msgs = [];
      for (const content of ['are you still there?', 'marker']) {
        B.emit('exchanges', { roomId: room, username: 'Titi', content, createdAt: 't' });
        const m = { order: msgs.length + 1, username: 'Titi', content, createdAt: 't' };
        msgs.push(m);
        await B.expect(room, m);
      }
      const got = [];
      if (receives) {
        while (got.filter((e) => e.event === room).length < msgs.length) got.push(await A.next());
      }
      // B has the marker, so every earlier event has been sent to A; the
      // round trip lets it arrive.
      await A.ping();
      got.push(...A.log.splice(0));
      // Lists A's new socket got: the restore's (as a join would send it)
      // and, in global delivery, whichever the order of the cut and the
      // reconnection made it see.
      const lists = got.filter((e) => e.event === `participants/${room}`);
      if (withCookie && !GLOBAL) assert.deepEqual(lists.at(-1)?.arg, joined, 'the restored socket gets the list');
      assert.deepEqual(got.filter((e) => e.event !== `participants/${room}`), receives ? msgs.map((m) => ({ event: room, arg: m })) : []);
      await B.ping();
      B.assertNothingElse();
      assert.equal(typeof oldSid, 'string');
    } finally {
      scope.closeAll();
    }
  });
}
