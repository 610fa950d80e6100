// Issue 9, acceptance 4: connection state recovery with socket.io-client
// 4.8. The client's transport is cut by a proxy (no close frame, no
// goodbye: the TCP connection just ends) while another client posts 100
// messages; when the proxy lets it through again the client reconnects by
// itself and must get socket.recovered === true, the same socket id, the
// 100 messages in order exactly once, then live traffic.
//
// The Go test (cmd/chatserver/reconnect_test.go) runs it once per case:
//   CASE=blip     the transport is cut and comes back
//   CASE=restart  the server is restarted meanwhile (SQLite, same port)
//   CASE=cluster  the client comes back on the other node (Redis)
//   CASE=expired  it comes back after the server's recovery window
// against TARGET=go (chatserver processes) and TARGET=node (refchat.mjs,
// socket.io 4.8 with connectionStateRecovery in one process). Node keeps
// recovery state in its memory: after its restart the client is NOT
// recovered, and the test asserts exactly that.
//
// It also checks the wire against Node: the CONNECT reply is {sid, pid};
// room events carry the offset as their last argument, which listeners get
// as an extra argument; a socket.io-client 2.x in the same room gets no
// offset from the Go server (its wire is unchanged).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import sio2 from 'sio2';
import { io as io4 } from 'socket.io-client';
import { Log, WAIT_MS, avatarOf, control, createRoom, once, requiredEnv, uniqueRoom, withDeadline } from './lib.mjs';

const require = createRequire(import.meta.url);
assert.match(require('socket.io-client/package.json').version, /^4\.8\./);
assert.match(require('sio2/package.json').version, /^2\.5\./);

const TARGET = requiredEnv('TARGET');
const CASE = requiredEnv('CASE');
const CLIENT_URL = requiredEnv('CLIENT_URL'); // through the proxy
const POSTER_URL = requiredEnv('POSTER_URL'); // direct
const MISSED = 100;
const POSTERS = 4;
assert.ok(['go', 'node'].includes(TARGET), `TARGET=${TARGET}`);
assert.ok(['blip', 'restart', 'cluster', 'expired'].includes(CASE), `CASE=${CASE}`);

// What the reference does is part of the contract: Node recovers from its
// own memory only, so a restart loses the session.
const expectRecovered = CASE !== 'expired' && !(TARGET === 'node' && CASE === 'restart');

// Participant lists of room, newest last, as a client saw them.
function lists(log, room) {
  return log.entries.filter((e) => e.event === `participants/${room}`).map((e) => e.args[0]);
}

function entryOf(list, username) {
  return (list || []).find((p) => p.username === username);
}

test(`${TARGET}: socket.io-client 4.8 ${expectRecovered ? 'recovers' : 'does not recover'} its socket after a cut (${CASE})`, { timeout: 180000 }, async (t) => {
  const room = uniqueRoom(`recovery-${CASE}`);
  assert.equal(await createRoom(POSTER_URL, room), 201);
  const sockets = [];
  try {
    // A 2.x client in the room, on the poster's server: every event packet
    // it gets, as decoded from the wire.
    const v2 = sio2(POSTER_URL, { forceNew: true, transports: ['websocket'] });
    sockets.push(v2);
    const v2Log = new Log('2.x observer');
    const onevent = v2.onevent;
    v2.onevent = function (packet) {
      v2Log.push({ event: packet.data[0], args: packet.data.slice(1) });
      return onevent.call(this, packet);
    };
    await once(v2, 'connect', '2.x observer to connect');
    v2.emit('participants', { roomId: room, username: 'Obs', avatar: avatarOf('Obs') });
    await v2Log.until((es) => es.some((e) => e.event === `participants/${room}`), 'its own join');

    // The others: posters in the room, taking turns (each stays far below
    // any per-socket event rate); the first one also watches the room.
    const posters = [];
    for (let i = 0; i < POSTERS; i++) {
      const socket = io4(POSTER_URL, { forceNew: true, transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 250 });
      sockets.push(socket);
      const p = { socket, name: `Paul${i}`, log: new Log(`poster ${i}`), connects: new Log(`poster ${i} connections`) };
      socket.onAny((event, ...args) => p.log.push({ event, args }));
      socket.on('connect', () => p.connects.push(socket.id));
      posters.push(p);
    }
    // join sends 'participants' and waits for the poster's own entry.
    const join = async (p) => {
      const seen = p.log.entries.length;
      p.socket.emit('participants', { roomId: room, username: p.name, avatar: avatarOf(p.name) });
      await p.log.until((es) => es.slice(seen).some((e) => e.event === `participants/${room}` && entryOf(e.args[0], p.name)?.connected), `${p.name}'s join`);
    };
    for (const p of posters) {
      await p.connects.until((es) => es.length === 1, 'to connect');
      await join(p);
    }
    const posterLog = posters[0].log;
    const acks = [];
    let turn = 0;
    const post = async (content) => {
      const p = posters[turn++ % POSTERS];
      const ack = await withDeadline(p.socket.emitWithAck('chat', { roomId: room, username: p.name, content }), WAIT_MS, `ack of '${content}'`);
      assert.equal(typeof ack.order, 'number', `chat ack ${JSON.stringify(ack)}`);
      acks.push(ack);
      return ack;
    };

    // The client, through the proxy, default transports (polling, then
    // the upgrade), reconnecting by itself.
    const client = io4(CLIENT_URL, { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 250, randomizationFactor: 0 });
    sockets.push(client);
    const connects = []; // CONNECT replies, as decoded from the wire
    client.io.on('packet', (packet) => {
      if (packet.type === 0) connects.push({ ...packet.data });
    });
    const log = new Log('client');
    client.onAny((event, ...args) => log.push({ event, args }));
    const listenerCalls = [];
    client.on(room, (...args) => listenerCalls.push(args));
    // Connections and disconnections, in order.
    const life = new Log('client connections');
    client.on('connect', () => life.push({ connect: client.id }));
    client.on('disconnect', (reason) => life.push({ disconnect: reason }));
    const count = (kind) => life.entries.filter((e) => kind in e).length;
    await life.until(() => count('connect') === 1, 'to connect');

    assert.deepEqual(Object.keys(connects[0]).sort(), ['pid', 'sid'], `CONNECT reply ${JSON.stringify(connects[0])}`);
    assert.equal(connects[0].sid, client.id);
    assert.equal(typeof connects[0].pid, 'string');
    assert.equal(client.recovered, false, 'a first connection is not a recovery');
    const sid0 = client.id;
    const pid0 = connects[0].pid;

    client.emit('participants', { roomId: room, username: 'Toto', avatar: avatarOf('Toto') });
    await log.until(() => entryOf(lists(log, room).at(-1), 'Toto')?.connected === true, 'its own entry');
    await posterLog.until(() => entryOf(lists(posterLog, room).at(-1), 'Toto')?.connected === true, 'Toto joining');
    for (const n of [1, 2, 3]) await post(`before ${n}`);
    const roomEvents = () => log.entries.filter((e) => e.event === room);
    await log.until(() => roomEvents().length === 3, 'the 3 messages before the cut');

    // Offsets: the last argument of room events, a string, which listeners
    // receive after the message.
    for (const e of roomEvents()) {
      assert.equal(e.args.length, 2, `room event args ${JSON.stringify(e.args)}`);
      assert.equal(typeof e.args[1], 'string', 'the offset');
    }
    assert.deepEqual(listenerCalls.map((args) => args.length), [2, 2, 2], 'a listener gets (message, offset)');
    assert.deepEqual(listenerCalls.map((args) => args[0]), acks, 'the listener got the messages');

    // Cut the transport once it is a WebSocket (a polling cut is only
    // noticed by the heartbeat): the server notices at once.
    if (client.io.engine.transport.name !== 'websocket') {
      await once(client.io.engine, 'upgrade', 'the upgrade to websocket');
    }
    await control('cut');
    await life.until(() => count('disconnect') === 1, 'the disconnect');
    const reason = life.entries.find((e) => 'disconnect' in e).disconnect;
    assert.ok(['transport close', 'transport error'].includes(reason), `disconnect reason ${reason}`);
    // The server noticed: Toto's entry is disconnected.
    await posterLog.until(() => entryOf(lists(posterLog, room).at(-1), 'Toto')?.connected === false, 'Toto disconnected');

    const before = acks.length;
    if (CASE === 'blip' || CASE === 'cluster') {
      for (let i = 1; i <= MISSED; i++) await post(`missed ${i}`);
      if (CASE === 'cluster') await control('move');
    } else if (CASE === 'restart') {
      for (let i = 1; i <= MISSED / 2; i++) await post(`missed ${i}`);
      await control('restart');
      // The Go server keeps its rooms; Node loses everything.
      assert.equal(await createRoom(POSTER_URL, room), TARGET === 'go' ? 409 : 201, 'the room after the restart');
      for (const p of posters) {
        await p.connects.until((es) => es.length === 2, `${p.name} to reconnect`);
        await join(p);
      }
      for (let i = MISSED / 2 + 1; i <= MISSED; i++) await post(`missed ${i}`);
    } else {
      // The recovery window is time itself: let it pass (twice over) since
      // the server recorded the departure.
      const windowMs = Number(requiredEnv('WINDOW_MS'));
      await new Promise((resolve) => setTimeout(resolve, 2 * windowMs));
    }
    const missed = acks.slice(before);
    await control('resume');
    await life.until(() => count('connect') === 2, 'the reconnection');
    const again = connects.at(-1);
    t.diagnostic(`reconnected: recovered ${client.recovered}, id ${client.id} (was ${sid0}), CONNECT ${JSON.stringify(again)}`);
    assert.deepEqual(Object.keys(again).sort(), ['pid', 'sid'], 'CONNECT reply of the reconnection');

    if (!expectRecovered) {
      assert.equal(client.recovered, false, 'recovered');
      assert.notEqual(client.id, sid0, 'a new socket id');
      assert.notEqual(again.pid, pid0, 'a new private id');
      // A fresh socket is in no room: the poster's next message, which the
      // poster gets, does not reach it.
      const seen = log.entries.length;
      const after = await post('after');
      await posterLog.until((es) => es.some((e) => e.event === room && e.args[0].order === after.order), 'its own message');
      const ping = await withDeadline(client.emitWithAck('messages', { type: 'ping' }), WAIT_MS, 'the ping ack');
      assert.equal(ping.code, 'messages.unsupported-type');
      assert.deepEqual(log.entries.slice(seen).filter((e) => e.event === room), [], 'room messages on the fresh socket');
      return;
    }

    assert.equal(client.recovered, true, 'recovered');
    assert.equal(client.id, sid0, 'the same socket id');
    assert.deepEqual(again, { sid: sid0, pid: pid0 }, 'CONNECT reply of the recovery');
    await log.until(() => roomEvents().length === 3 + MISSED, `the ${MISSED} missed messages`);
    const live = await post('live');
    await log.until(() => roomEvents().length === 3 + MISSED + 1, 'the live message');
    // Nothing else is on its way: the ping's ack comes after it.
    const ping = await withDeadline(client.emitWithAck('messages', { type: 'ping' }), WAIT_MS, 'the ping ack');
    assert.equal(ping.code, 'messages.unsupported-type');

    const got = roomEvents();
    assert.deepEqual(got.map((e) => e.args[0]), [...acks.slice(0, before), ...missed, live], 'every message once, in order');
    for (const e of got) assert.equal(typeof e.args.at(-1), 'string', 'replayed and live messages carry offsets too');
    assert.equal(listenerCalls.length, got.length, 'the listener got them all');
    // Its entry is connected again.
    await log.until(() => entryOf(lists(log, room).at(-1), 'Toto')?.connected === true, 'its entry connected again');

    // The 2.x observer's wire: the Go server never sends it an offset;
    // Node appends one to every room broadcast, whatever the client.
    const v2Messages = v2Log.entries.filter((e) => e.event === room);
    assert.ok(v2Messages.length >= 3, '2.x observer got the messages');
    const v2Args = [...new Set(v2Log.entries.map((e) => e.args.length))];
    t.diagnostic(`${TARGET}: 2.x observer's event packets carry ${v2Args.join(' or ')} argument(s)`);
    if (TARGET === 'go') assert.deepEqual(v2Args, [1], '2.x clients get no offset');
  } finally {
    for (const s of sockets) s.close();
  }
});
