// Replays the original server's WebSocket transcript
// (shared/reference/nest-ws-transcript.txt) step by step with each client
// generation, in the delivery and identity modes the Go driver started the
// server with. With bound identity (the default in room delivery) the one
// step that differs is 4: a socket that never joined cannot post.
//
// Every socket's events are asserted as an exact sequence. Sockets outside
// the room (OBS never joins, X sits in another room, D and F only misbehave)
// get the room's events in global mode, as with the original's io.emit, and
// nothing at all in room mode: each ends with a round trip and a check that
// no unexpected event is left.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BOUND, DISCONNECT, GLOBAL, Scope, createRoom, generations, join, participant, rest } from './lib.mjs';

const TEST_TIMEOUT_MS = 60000;

for (const gen of generations) {
  test(`${gen.key} (socket.io-client ${gen.version}): WebSocket transcript replay`, { timeout: TEST_TIMEOUT_MS }, async () => {
    const scope = new Scope();
    const room = scope.room();
    const missing = scope.room('missing-room');
    const open = (name, opts) => scope.open(gen, name, opts);
    try {
      // 1. setup
      await createRoom(room);
      const A = await open('A');
      const OBS = await open('OBS');
      const otherRoom = scope.room('other-room');
      await createRoom(otherRoom);
      const X = await open('X');
      join(X, otherRoom, 'Xavier');
      await X.expect(`participants/${otherRoom}`, [participant(otherRoom, 'Xavier', true)]);
      if (GLOBAL) await Promise.all([A, OBS].map((c) => c.expect(`participants/${otherRoom}`)));
      const outsiders = [OBS, X];
      // In global mode every outsider gets what the room gets.
      const outsidersGet = async (event, arg) => {
        if (GLOBAL) for (const c of outsiders) await c.expect(event, arg);
      };

      // 2. A joins the existing room
      let list = [participant(room, 'Toto', true)];
      join(A, room, 'Toto');
      await A.expect(`participants/${room}`, list);
      await outsidersGet(`participants/${room}`, list);

      // 3. exchanges with the client's extra fields: order 1, extras stripped,
      // createdAt echoed verbatim
      A.emit('exchanges', { roomId: room, username: 'Toto', content: 'hello from Toto', createdAt: '2021-03-01T10:00:00.000Z', avatar: 'x', socketId: 'forged', order: 99, extra: 'field' });
      const m1 = { order: 1, username: 'Toto', content: 'hello from Toto', createdAt: '2021-03-01T10:00:00.000Z' };
      await A.expect(room, m1);
      await outsidersGet(room, m1);

      // 4. a socket that never joined may post (no membership check); with
      // bound identity it is refused, to itself alone, and nothing is stored
      OBS.emit('exchanges', { roomId: room, username: 'Ghost', content: 'from a socket that never joined', createdAt: '2021-03-01T10:00:01.000Z' });
      const history = [m1];
      if (BOUND) {
        await OBS.expect('exception', { status: 'error', message: `This socket has not joined room '${room}'`, code: 'room.not-joined' });
      } else {
        const m2 = { order: 2, username: 'Ghost', content: 'from a socket that never joined', createdAt: '2021-03-01T10:00:01.000Z' };
        history.push(m2);
        await A.expect(room, m2);
        await outsidersGet(room, m2);
      }

      // 5. exchanges with an ack callback: stored and broadcast the same way,
      // and, as with the original, the callback is never called
      const ackA = A.emitExpectingNoAck('exchanges', { roomId: room, username: 'Toto', content: 'with ack', createdAt: '2021-03-01T10:00:02.000Z' });
      const m3 = { order: history.length + 1, username: 'Toto', content: 'with ack', createdAt: '2021-03-01T10:00:02.000Z' };
      history.push(m3);
      await A.expect(room, m3);
      await outsidersGet(room, m3);
      await A.ping();
      ackA.assertNotCalled();

      // 6. REST history
      assert.deepEqual(await rest('GET', `/api/v1/rooms/${room}/messages?fromIndex=1&toIndex=20`), { status: 200, text: JSON.stringify(history) });
      assert.deepEqual(await rest('GET', `/api/v1/rooms/${room}/messages?fromIndex=2&toIndex=2`), { status: 200, text: JSON.stringify([history[1]]) });

      // 7. participants for a missing room: exception, then server disconnect
      // (the original only disconnected). 7b: the same over WebSocket only.
      for (const [name, opts] of [['C', {}], ['C2', { transports: ['websocket'] }]]) {
        const C = await open(name, opts);
        join(C, missing, 'Intruder');
        await C.expect('exception', { status: 'error', message: 'The access is forbidden' });
        await C.expect(DISCONNECT, 'io server disconnect');
        assert.equal(C.socket.connected, false);
      }

      // 8. exchanges for a missing room: the sender alone is told; it stays
      // connected, with or without an ack callback
      const D = await open('D');
      D.emit('exchanges', { roomId: missing, username: 'Nobody', content: 'into the void', createdAt: '2021-03-01T10:00:03.000Z' });
      await D.expect('exception', { status: 'error', message: `Room with '${missing}' not found` });
      const ackD = D.emitExpectingNoAck('exchanges', { roomId: missing, username: 'Nobody', content: 'into the void 2', createdAt: '2021-03-01T10:00:04.000Z' });
      await D.expect('exception', { status: 'error', message: `Room with '${missing}' not found` });
      await D.ping();
      ackD.assertNotCalled();

      // 9. participants without a room id: refused like a missing room;
      // an unknown event is ignored and the socket stays connected
      const E = await open('E');
      E.emit('participants', { username: 'NoRoom' });
      await E.expect('exception', { status: 'error', message: 'The access is forbidden' });
      await E.expect(DISCONNECT, 'io server disconnect');
      const F = await open('F');
      F.emit('no-such-event', { a: 1 });
      await F.ping();
      outsiders.push(D, F);

      // 10. B joins as a second participant; then A closes its socket
      const B = await open('B');
      list = [participant(room, 'Toto', true), participant(room, 'Titi', true)];
      join(B, room, 'Titi');
      await B.expect(`participants/${room}`, list);
      await A.expect(`participants/${room}`, list);
      await outsidersGet(`participants/${room}`, list);
      A.close();
      await A.expect(DISCONNECT, 'io client disconnect');
      list = [participant(room, 'Toto', false), participant(room, 'Titi', true)];
      await B.expect(`participants/${room}`, list);
      await outsidersGet(`participants/${room}`, list);

      // 11. a new socket re-joins with the same username. The original
      // appended a second Toto entry (its entries were per socket); here a
      // room has one entry per username, so Toto's is connected again, in
      // its place (README, compatibility table).
      const A2 = await open('A2');
      list = [participant(room, 'Toto', true), participant(room, 'Titi', true)];
      join(A2, room, 'Toto');
      await A2.expect(`participants/${room}`, list);
      await B.expect(`participants/${room}`, list);
      await outsidersGet(`participants/${room}`, list);

      // 12. the room is deleted over REST: members are told with
      // closed/<roomId>; a post to it then fails for the sender alone
      assert.deepEqual(await rest('DELETE', `/api/v1/rooms/${room}`), { status: 204, text: '' });
      const closed = { roomId: room };
      await B.expect(`closed/${room}`, closed);
      await A2.expect(`closed/${room}`, closed);
      await outsidersGet(`closed/${room}`, closed);
      B.emit('exchanges', { roomId: room, username: 'Titi', content: 'after delete', createdAt: '2021-03-01T10:00:05.000Z' });
      await B.expect('exception', { status: 'error', message: `Room with '${room}' not found` });
      await B.ping();
      B.close();
      await B.expect(DISCONNECT, 'io client disconnect');

      // 13. the original's crash: the room is re-created under the same id,
      // then a socket that had joined the OLD room disconnects. The server
      // stays up, says nothing about it, and the new room starts clean.
      await createRoom(room);
      A2.close();
      await A2.expect(DISCONNECT, 'io client disconnect');
      assert.deepEqual(await rest('GET', `/api/v1/rooms/${room}/messages?fromIndex=1&toIndex=5`), { status: 200, text: '[]' });
      const N = await open('N');
      join(N, room, 'Nina');
      await N.expect(`participants/${room}`, [participant(room, 'Nina', true)]);
      await outsidersGet(`participants/${room}`, [participant(room, 'Nina', true)]);

      // Markers: once N has the second, every earlier event of the room
      // reached every socket it was sent to.
      for (const [i, content] of ['marker 1', 'marker 2'].entries()) {
        N.emit('exchanges', { roomId: room, username: 'Nina', content, createdAt: 't' });
        const m = { order: i + 1, username: 'Nina', content, createdAt: 't' };
        await N.expect(room, m);
        await outsidersGet(room, m);
      }
      for (const c of [...outsiders, N]) {
        await c.ping();
        c.assertNothingElse();
      }
      for (const c of [A, B, A2]) c.assertNothingElse();
    } finally {
      scope.closeAll();
    }
  });
}
