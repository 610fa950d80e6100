// The admin namespace's protocol, as @socket.io/admin-ui 0.5's server
// speaks it and its dashboard expects it, checked with socket.io-client 4.8
// (the dashboard's own client) and 2.5: login and session tokens, the
// feed's events and their arguments, "_disconnect".
//
// Run through the Go driver: go test ./gateway/interop -run TestAdminUI
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import sio2 from 'sio2';
import { io as io4 } from 'socket.io-client';
import { ADMIN_PASSWORD, ADMIN_USER, DEVELOPMENT, MODE, NODE_ID, SERVER_URL, createRoom, withDeadline } from './lib.mjs';

const WAIT_MS = 10000;
// server_stats go out every 2 s: waiting for the next one bounds "nothing
// else came".
const STATS_WAIT_MS = 5000;

// Every socket a test opens, closed after the file's tests even when one
// fails: an open socket would keep node running.
const opened = [];
after(() => {
  for (const s of opened) s.close();
});

const FEED = ['session', 'config', 'all_sockets', 'server_stats', 'socket_connected', 'socket_updated', 'socket_disconnected',
  'room_joined', 'room_left', 'event_received', 'event_sent'];

// Dashboard is an admin-namespace client that logs every event it gets.
class Dashboard {
  constructor(auth) {
    this.log = [];
    this.waiters = [];
    this.socket = io4(`${SERVER_URL}/admin`, { forceNew: true, reconnection: false, auth });
    opened.push(this.socket);
    for (const event of FEED) {
      this.socket.on(event, (...args) => {
        this.log.push({ event, args });
        this.waiters = this.waiters.filter((w) => !w());
      });
    }
  }

  connected() {
    return withDeadline(new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('connect_error', reject);
    }), WAIT_MS, 'the admin namespace to answer');
  }

  // next waits for the first logged event matching pred, takes it out of
  // the log and returns it.
  next(what, pred) {
    return withDeadline(new Promise((resolve) => {
      const check = () => {
        const i = this.log.findIndex(pred);
        if (i < 0) return false;
        const [hit] = this.log.splice(i, 1);
        resolve(hit);
        return true;
      };
      if (!check()) this.waiters.push(check);
    }), what.startsWith('server_stats') ? STATS_WAIT_MS : WAIT_MS, what);
  }

  close() {
    this.socket.close();
  }
}

async function chatClient(room, name) {
  const socket = io4(SERVER_URL, { forceNew: true, reconnection: false, transports: ['websocket'] });
  opened.push(socket);
  await withDeadline(new Promise((resolve) => socket.once('connect', resolve)), WAIT_MS, `${name} to connect`);
  const joined = withDeadline(new Promise((resolve) => socket.once(`participants/${room}`, resolve)), WAIT_MS, `${name} to join`);
  socket.emit('participants', { roomId: room, username: name, avatar: '' });
  await joined;
  return socket;
}

test('logins: wrong credentials, socket.io-client 2 (no auth), a tampered session token are refused', async () => {
  const wrong = new Dashboard({ username: ADMIN_USER, password: 'nope' });
  await assert.rejects(wrong.connected(), /invalid credentials/);
  wrong.close();
  const noName = new Dashboard({ username: 'root', password: ADMIN_PASSWORD });
  await assert.rejects(noName.connected(), /invalid credentials/);
  noName.close();

  const v2 = sio2(`${SERVER_URL}/admin`, { forceNew: true, reconnection: false });
  opened.push(v2);
  const refusal = await withDeadline(new Promise((resolve) => v2.once('error', resolve)), WAIT_MS, 'the 2.x refusal');
  assert.equal(refusal, 'invalid credentials');
  v2.close();

  const ok = new Dashboard({ username: ADMIN_USER, password: ADMIN_PASSWORD });
  await ok.connected();
  const { args: [token] } = await ok.next('session', (e) => e.event === 'session');
  ok.close();
  const [payload, sig] = token.split('.');
  const forged = `${payload}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`;
  const tampered = new Dashboard({ sessionId: forged });
  await assert.rejects(tampered.connected(), /invalid credentials/);
  tampered.close();
});

test(`a login gets a session token, the features of ${MODE} mode, the sockets and the server's figures`, async () => {
  const room = `login-${process.pid}`;
  await createRoom(room, WAIT_MS);
  const chatter = await chatClient(room, 'ivan');
  const d = new Dashboard({ username: ADMIN_USER, password: ADMIN_PASSWORD });
  await d.connected();
  await d.next('server_stats after the login', (e) => e.event === 'server_stats');
  // What the npm package sends first, in its order (server_stats comes
  // from the login here, not 2 s later).
  assert.deepEqual(d.log.slice(0, DEVELOPMENT ? 3 : 2).map((e) => e.event).concat('server_stats'),
    DEVELOPMENT ? ['session', 'config', 'all_sockets', 'server_stats'] : ['session', 'config', 'server_stats']);
  d.close();

  const again = new Dashboard({ username: ADMIN_USER, password: ADMIN_PASSWORD });
  await again.connected();
  const { args: [token] } = await again.next('session', (e) => e.event === 'session');
  const { args: [config] } = await again.next('config', (e) => e.event === 'config');
  assert.deepEqual(config.supportedFeatures, DEVELOPMENT
    ? ['DISCONNECT', 'MDISCONNECT', 'AGGREGATED_EVENTS', 'ALL_EVENTS']
    : ['DISCONNECT', 'MDISCONNECT', 'AGGREGATED_EVENTS']);
  if (DEVELOPMENT) {
    const { args: [sockets] } = await again.next('all_sockets', (e) => e.event === 'all_sockets');
    const ivan = sockets.find((s) => s.id === chatter.id);
    assert.ok(ivan, `all_sockets lists the chat client: ${JSON.stringify(sockets)}`);
    assert.equal(ivan.nsp, '/');
    assert.equal(ivan.clientId, chatter.io.engine.id.slice(0, 12));
    assert.equal(ivan.transport, 'websocket');
    assert.deepEqual(ivan.rooms, [ivan.id, room]);
    assert.deepEqual(ivan.data, { joinedAs: { [room]: 'ivan' } });
    assert.equal(ivan.handshake.address, '127.0.0.1');
    assert.equal(ivan.handshake.query.EIO, '4');
    assert.equal(ivan.handshake.url.startsWith('/socket.io/?'), true);
    // Its own socket follows, as a connection.
    const { args: [self] } = await again.next('the dashboard\'s own socket', (e) => e.event === 'socket_connected' && e.args[0].id === again.socket.id);
    assert.equal(self.nsp, '/admin');
    assert.deepEqual(self.rooms, [self.id]);
  }
  const { args: [stats] } = await again.next('server_stats', (e) => e.event === 'server_stats');
  assert.equal(stats.serverId, NODE_ID);
  assert.equal(typeof stats.pid, 'number');
  assert.ok(stats.uptime > 0);
  assert.ok(stats.clientsCount >= 1);
  assert.ok(stats.namespaces.some((n) => n.name === '/admin' && n.socketsCount >= 1), JSON.stringify(stats.namespaces));
  again.close();

  // The token logs in without the password, and gets no new one.
  const resumed = new Dashboard({ sessionId: token });
  await resumed.connected();
  await resumed.next('config with a session token', (e) => e.event === 'config');
  assert.equal(resumed.log.some((e) => e.event === 'session'), false);
  resumed.close();
  chatter.close();
});

test(`the feed follows a chat client (${MODE} mode)`, async () => {
  const room = `feed-${process.pid}`;
  await createRoom(room, WAIT_MS);
  const d = new Dashboard({ username: ADMIN_USER, password: ADMIN_PASSWORD });
  await d.connected();
  await d.next('server_stats after the login', (e) => e.event === 'server_stats');

  const client = await chatClient(room, 'erin');
  const id = client.id;
  if (DEVELOPMENT) {
    const connected = await d.next('socket_connected', (e) => e.event === 'socket_connected' && e.args[0].id === id);
    const [sock, ts] = connected.args;
    assert.equal(sock.nsp, '/');
    assert.equal(sock.transport, 'websocket');
    assert.deepEqual(sock.rooms, [id]);
    assert.match(ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const received = await d.next('event_received', (e) => e.event === 'event_received' && e.args[1] === id);
    assert.deepEqual(received.args.slice(0, 3), ['/', id, ['participants', { roomId: room, username: 'erin', avatar: '' }]]);
    const joined = await d.next('room_joined', (e) => e.event === 'room_joined' && e.args[2] === id);
    assert.deepEqual(joined.args.slice(0, 3), ['/', room, id]);
    const updated = await d.next('socket_updated', (e) => e.event === 'socket_updated' && e.args[0].id === id);
    assert.deepEqual(updated.args[0], { id, nsp: '/', data: { joinedAs: { [room]: 'erin' } } });
  }
  // An exception is an event sent to one socket (a post to a room it is
  // not in); room broadcasts are not reported.
  client.emit('exchanges', { roomId: `${room}-nowhere`, username: 'erin', content: 'x' });
  if (DEVELOPMENT) {
    const sent = await d.next('event_sent', (e) => e.event === 'event_sent' && e.args[1] === id);
    assert.equal(sent.args[2][0], 'exception');
  }
  client.close();
  if (DEVELOPMENT) {
    const gone = await d.next('socket_disconnected', (e) => e.event === 'socket_disconnected' && e.args[1] === id);
    assert.deepEqual(gone.args.slice(0, 3), ['/', id, 'client namespace disconnect']);
    const left = [];
    while (left.length < 2) left.push((await d.next('room_left', (e) => e.event === 'room_left' && e.args[2] === id)).args[1]);
    assert.deepEqual(left.sort(), [id, room].sort());
  }
  // The figures: a connection and packets came in since the last stats.
  const stats = await d.next('server_stats with the client\'s traffic', (e) => e.event === 'server_stats' && e.args[0].aggregatedEvents.length > 0);
  const types = stats.args[0].aggregatedEvents.map((a) => a.type);
  for (const type of ['rawConnection', 'packetsIn', 'bytesIn']) assert.ok(types.includes(type), `${type} in ${JSON.stringify(stats.args[0].aggregatedEvents)}`);
  if (!DEVELOPMENT) {
    const perSocket = d.log.filter((e) => !['session', 'config', 'server_stats'].includes(e.event));
    assert.deepEqual(perSocket.map((e) => e.event), [], 'production mode sends no per-socket event');
  }
  d.close();
});

test('"_disconnect" with a room as filter disconnects that room\'s sockets', async () => {
  const room = `kick-${process.pid}`;
  await createRoom(room, WAIT_MS);
  const inRoom = [await chatClient(room, 'frank'), await chatClient(room, 'grace')];
  await createRoom(`${room}-other`, WAIT_MS);
  const bystander = await chatClient(`${room}-other`, 'heidi');
  const d = new Dashboard({ username: ADMIN_USER, password: ADMIN_PASSWORD });
  await d.connected();
  await d.next('server_stats after the login', (e) => e.event === 'server_stats');
  const reasons = inRoom.map((c) => withDeadline(new Promise((resolve) => c.once('disconnect', resolve)), WAIT_MS, `${c.id} to be disconnected`));
  d.socket.emit('_disconnect', '/', false, room);
  assert.deepEqual(await Promise.all(reasons), ['io server disconnect', 'io server disconnect']);
  // The bystander is still served: a round trip after the disconnections.
  const ack = await withDeadline(new Promise((resolve) => bystander.emit('chat', { roomId: `${room}-other`, content: 'still here' }, resolve)), WAIT_MS, 'the bystander\'s post');
  assert.equal(ack.content, 'still here');
  assert.equal(bystander.connected, true);
  bystander.close();
  d.close();
});
