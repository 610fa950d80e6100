#!/usr/bin/env node
// Checks that a benchmark baseline server behaves as bench/README.md says.
//
//   node bench/verify.mjs --server nest|node-sio --url http://127.0.0.1:PORT [--messages N]
//
// nest:     socket.io-client 2.5.0 (from bench/nest); REST answers must match
//           the original's transcript byte for byte (status, Content-Type,
//           ETag, body); every event reaches every socket (global delivery).
// node-sio: socket.io-client 4.8 (from bench/node-sio), plus a 2.5.0 client to
//           check allowEIO3; REST statuses and bodies as the transcript;
//           events reach only the members of the room.
//
// The REST cases create and finally delete the room "demo-room", as the
// transcript did; the socket scenario uses fresh room ids, so the script can
// run again against the same server. Exit status 0 when every check passed.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

// Bound on every single wait for a reply or an event.
const waitTimeoutMs = 5000;
// Bound on the whole run.
const runTimeoutMs = 120000;
const defaultMessages = 20;
const maxMessages = 10000;

const { values: args } = parseArgs({
  options: {
    server: { type: 'string' },
    url: { type: 'string' },
    messages: { type: 'string', default: String(defaultMessages) },
  },
});
if (!['nest', 'node-sio'].includes(args.server) || !args.url) {
  console.error('usage: node bench/verify.mjs --server nest|node-sio --url http://127.0.0.1:PORT [--messages N]');
  process.exit(2);
}
const messageCount = Number(args.messages);
if (!Number.isInteger(messageCount) || messageCount < 2 || messageCount > maxMessages) {
  console.error(`--messages must be an integer in [2, ${maxMessages}]`);
  process.exit(2);
}
const baseURL = args.url.replace(/\/+$/, '');
const isNest = args.server === 'nest';

function loadClient(dir) {
  const require = createRequire(new URL(`./${dir}/package.json`, import.meta.url));
  try {
    return { io: require('socket.io-client'), version: require('socket.io-client/package.json').version };
  } catch (err) {
    console.error(`cannot load socket.io-client from bench/${dir}/node_modules (run bench/setup.sh): ${err.message}`);
    process.exit(2);
  }
}

const v2 = loadClient('nest');
const mainClient = isNest ? v2 : loadClient('node-sio');

let failures = 0;
let passes = 0;

function pass(label) {
  passes++;
  console.log(`ok   ${label}`);
}

function fail(label, detail) {
  failures++;
  console.log(`FAIL ${label}\n       ${detail}`);
}

function check(label, ok, detail) {
  if (ok) pass(label);
  else fail(label, detail);
}

function checkEqual(label, got, want) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  check(label, g === w, `got  ${g}\n       want ${w}`);
}

function withTimeout(promise, label, ms = waitTimeoutMs) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------
// REST: the original's transcript (nest-rest-transcript.txt), in its order.

const roomsURL = `${baseURL}/api/v1/rooms`;
const json = 'application/json; charset=utf-8';
const notEmpty = '{"statusCode":400,"message":["roomId should not be empty","creatorUsername should not be empty"],"error":"Bad Request"}';
const notEmptyETag = 'W/"77-5kZwMWq7okNuS36fZ31ozlAufec"';
const notNumeric = '{"statusCode":400,"message":"Validation failed (numeric string is expected)","error":"Bad Request"}';
const notNumericETag = 'W/"63-BAojB7qX+mLY6LkS424DwNJnIw8"';
const notPositive = `{"code":"req-params.validation","message":"Invalid parameters, 'fromIndex' and 'toIndex' must be positive"}`;
const notPositiveETag = 'W/"6b-EsGB8r0JULJFjJBFvJoB2gF0pcA"';
const forbidden = '{"code":"access-forbidden","message":"The access is forbidden"}';
const forbiddenETag = 'W/"3f-o6Bx2N7KxKKR37PIdYNn1MePmZ0"';
const emptyList = '[]';
const emptyListETag = 'W/"2-l9Fw4VUO7kr8CvBlt4zaMCqXZ0w"';
const demoBody = '{"roomId":"demo-room","creatorUsername":"bob"}';
const jsonHeaders = { 'Content-Type': 'application/json' };
const demoMessages = (query) => `${roomsURL}/demo-room/messages${query}`;

const restCases = [
  { name: '[1] create room', method: 'POST', url: roomsURL, headers: jsonHeaders, body: demoBody, status: 201, type: null, etag: null, want: '' },
  { name: '[2] same room again', method: 'POST', url: roomsURL, headers: jsonHeaders, body: demoBody, status: 409, type: json, etag: 'W/"49-mSBihaiFVLBCxwc06mp3Tw/JSd4"', want: `{"code":"room.conflict","message":"Room with 'demo-room' already exists"}` },
  { name: '[3] empty JSON body', method: 'POST', url: roomsURL, headers: jsonHeaders, status: 400, type: json, etag: notEmptyETag, want: notEmpty },
  { name: '[4] no Content-Type', method: 'POST', url: roomsURL, status: 400, type: json, etag: notEmptyETag, want: notEmpty },
  { name: '[5] body {}', method: 'POST', url: roomsURL, headers: jsonHeaders, body: '{}', status: 400, type: json, etag: notEmptyETag, want: notEmpty },
  { name: '[6] missing creatorUsername', method: 'POST', url: roomsURL, headers: jsonHeaders, body: '{"roomId":"x-only"}', status: 400, type: json, etag: 'W/"5a-dNpZlfLrg2l+wFIXFkQttvlh/nk"', want: '{"statusCode":400,"message":["creatorUsername should not be empty"],"error":"Bad Request"}' },
  { name: '[7] empty-string fields', method: 'POST', url: roomsURL, headers: jsonHeaders, body: '{"roomId":"","creatorUsername":""}', status: 400, type: json, etag: notEmptyETag, want: notEmpty },
  { name: '[8] malformed JSON', method: 'POST', url: roomsURL, headers: jsonHeaders, body: '{"roomId":', status: 400, type: json, etag: 'W/"51-LhcqXU+zRvF2DoD4zhjkGMQL/xk"', want: '{"statusCode":400,"message":"Unexpected end of JSON input","error":"Bad Request"}' },
  { name: '[9] messages 1..20, none yet', method: 'GET', url: demoMessages('?fromIndex=1&toIndex=20'), status: 200, type: json, etag: emptyListETag, want: emptyList },
  { name: '[10] fromIndex=0', method: 'GET', url: demoMessages('?fromIndex=0&toIndex=20'), status: 400, type: json, etag: notPositiveETag, want: notPositive },
  { name: '[11] toIndex < fromIndex', method: 'GET', url: demoMessages('?fromIndex=5&toIndex=2'), status: 400, type: json, etag: 'W/"6f-K3elQVDQ1yg2AETJxS+kvlyKrD8"', want: `{"code":"req-params.validation","message":"Invalid parameters, 'toIndex' must no not be less than 'fromIndex'"}` },
  { name: '[12] fromIndex=abc', method: 'GET', url: demoMessages('?fromIndex=abc&toIndex=20'), status: 400, type: json, etag: notNumericETag, want: notNumeric },
  { name: '[13] missing toIndex', method: 'GET', url: demoMessages('?fromIndex=1'), status: 400, type: json, etag: notNumericETag, want: notNumeric },
  { name: '[14] missing fromIndex', method: 'GET', url: demoMessages('?toIndex=20'), status: 400, type: json, etag: notNumericETag, want: notNumeric },
  { name: '[15] no query', method: 'GET', url: demoMessages(''), status: 400, type: json, etag: notNumericETag, want: notNumeric },
  { name: '[16] fromIndex=-1', method: 'GET', url: demoMessages('?fromIndex=-1&toIndex=3'), status: 400, type: json, etag: notPositiveETag, want: notPositive },
  { name: '[17] fromIndex=1.5 truncated', method: 'GET', url: demoMessages('?fromIndex=1.5&toIndex=3'), status: 200, type: json, etag: emptyListETag, want: emptyList },
  { name: '[18] unknown room', method: 'GET', url: `${roomsURL}/no-such-room/messages?fromIndex=1&toIndex=20`, status: 403, type: json, etag: forbiddenETag, want: forbidden },
  { name: '[19] unknown room, bad index first', method: 'GET', url: `${roomsURL}/no-such-room/messages?fromIndex=0&toIndex=20`, status: 400, type: json, etag: notPositiveETag, want: notPositive },
  { name: '[21] OPTIONS preflight (no REST CORS)', method: 'OPTIONS', url: demoMessages('?fromIndex=1&toIndex=20'), headers: { Origin: 'http://127.0.0.1:4200', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'access-control-allow-origin' }, status: 404, type: json, etag: 'W/"79-u+vTfh+UlWSYmcPNIwIQBlm1Vfw"', want: '{"statusCode":404,"message":"Cannot OPTIONS /api/v1/rooms/demo-room/messages?fromIndex=1&toIndex=20","error":"Not Found"}' },
  { name: '[22] GET /api/v1/rooms', method: 'GET', url: roomsURL, status: 404, type: json, etag: 'W/"4b-bLL82rkPOV/oDF+kIUsVl7XKm0Y"', want: '{"statusCode":404,"message":"Cannot GET /api/v1/rooms","error":"Not Found"}' },
  { name: '[24] close room', method: 'DELETE', url: `${roomsURL}/demo-room`, status: 204, type: null, etag: null, want: '' },
  { name: '[25] close room again', method: 'DELETE', url: `${roomsURL}/demo-room`, status: 404, type: json, etag: 'W/"44-R5d3J4cWK4eAD7n0cpyxhl8il/M"', want: `{"code":"room.not-fond","message":"Room with 'demo-room' not found"}` },
  { name: '[26] messages after close', method: 'GET', url: demoMessages('?fromIndex=1&toIndex=20'), status: 403, type: json, etag: forbiddenETag, want: forbidden },
];

async function request(method, url, { headers, body } = {}) {
  const res = await withTimeout(fetch(url, { method, headers, body }), `${method} ${url}`);
  const text = await withTimeout(res.text(), `body of ${method} ${url}`);
  return { status: res.status, headers: res.headers, text };
}

async function checkREST() {
  console.log(`# REST transcript cases (${isNest ? 'status, Content-Type, ETag and body byte for byte' : 'status and body'})`);
  for (const c of restCases) {
    const res = await request(c.method, c.url, c);
    if (c.name.startsWith('[1]') && res.status === 409) {
      fail(c.name, 'room "demo-room" already exists: an earlier run stopped half-way; restart the server');
      return;
    }
    const problems = [];
    if (res.status !== c.status) problems.push(`status ${res.status}, want ${c.status}`);
    if (res.text !== c.want) problems.push(`body ${JSON.stringify(res.text)}, want ${JSON.stringify(c.want)}`);
    if (isNest) {
      if (res.headers.get('content-type') !== c.type) problems.push(`Content-Type ${res.headers.get('content-type')}, want ${c.type}`);
      if (res.headers.get('etag') !== c.etag) problems.push(`ETag ${res.headers.get('etag')}, want ${c.etag}`);
    }
    check(`${c.name}: ${c.method} -> ${c.status}`, problems.length === 0, problems.join('\n       '));
  }
}

// ---------------------------------------------------------------------------
// Engine.IO handshake over long-polling, EIO=3 (what socket.io-client 2.x uses).

async function checkHandshake() {
  console.log('# Engine.IO v3 handshake');
  const res = await request('GET', `${baseURL}/socket.io/?EIO=3&transport=polling&t=verify`);
  // v3 payload: <length>:<packet>, the open packet "0{json}" first.
  const match = /^(\d+):0(\{[^]*?\})/.exec(res.text);
  if (res.status !== 200 || !match) {
    fail('EIO=3 polling open packet', `status ${res.status} body ${JSON.stringify(res.text)}`);
    return;
  }
  const open = JSON.parse(match[2]);
  const want = isNest ? { pingInterval: 25000, pingTimeout: 5000 } : { pingInterval: 25000, pingTimeout: 20000 };
  checkEqual('EIO=3 open packet timers', { pingInterval: open.pingInterval, pingTimeout: open.pingTimeout }, want);
  check('EIO=3 open packet offers the websocket upgrade', JSON.stringify(open.upgrades) === '["websocket"]', match[2]);
  if (isNest) {
    check('EIO=3 polling answer ends with the implicit CONNECT "2:40"', res.text.endsWith('2:40'), JSON.stringify(res.text));
    check('io cookie as socket.io 2 sets it', /^io=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/.test(res.headers.get('set-cookie') || ''), res.headers.get('set-cookie'));
  }
}

// ---------------------------------------------------------------------------
// Socket.IO scenario.

// A connected client that records every event it was told to watch, so
// checks can wait for a count of events with a deadline instead of sleeping.
class Client {
  constructor(name, lib) {
    this.name = name;
    this.lib = lib;
    this.events = new Map();
    this.waiters = [];
    this.socket = lib.io(baseURL, { forceNew: true, reconnection: false });
  }

  async connect() {
    await withTimeout(
      new Promise((resolve, reject) => {
        this.socket.once('connect', resolve);
        this.socket.once('connect_error', (err) => reject(new Error(`${this.name}: connect_error ${err.message}`)));
      }),
      `${this.name} to connect`,
    );
    this.disconnectReason = new Promise((resolve) => this.socket.once('disconnect', resolve));
    return this;
  }

  watch(...names) {
    for (const name of names) {
      if (this.events.has(name)) continue;
      this.events.set(name, []);
      this.socket.on(name, (...payload) => {
        this.events.get(name).push(payload.length === 1 ? payload[0] : payload);
        this.wake();
      });
    }
    return this;
  }

  received(name) {
    return this.events.get(name) || [];
  }

  wake() {
    this.waiters = this.waiters.filter((w) => {
      if (this.received(w.name).length < w.count) return true;
      w.resolve(this.received(w.name));
      return false;
    });
  }

  // Resolves with the event list once it holds at least count entries.
  waitCount(name, count) {
    const promise = new Promise((resolve) => {
      this.waiters.push({ name, count, resolve });
      this.wake();
    });
    return withTimeout(promise, `${this.name} to receive ${count} "${name}" event(s)`);
  }

  emit(name, payload) {
    this.socket.emit(name, payload);
  }

  close() {
    this.socket.close();
  }
}

function uniqueRoomId(prefix) {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

async function createRoom(roomId) {
  const res = await request('POST', roomsURL, {
    headers: jsonHeaders,
    body: JSON.stringify({ roomId, creatorUsername: 'verify' }),
  });
  if (res.status !== 201 || res.text !== '') {
    throw new Error(`creating room ${roomId}: status ${res.status} body ${JSON.stringify(res.text)}`);
  }
}

function participant(roomId, username, connected) {
  return { roomId, username, avatar: `http://127.0.0.1:4200/avatar/${username}.svg`, connected };
}

function join(client, roomId, username) {
  client.emit('participants', { roomId, username, avatar: `http://127.0.0.1:4200/avatar/${username}.svg` });
}

const exchangeKeys = ['order', 'username', 'content', 'createdAt'];

function exchangePayload(roomId, i) {
  return {
    roomId,
    username: i % 2 === 1 ? 'Toto' : 'Titi',
    content: `message ${i} ✓ é 漢`,
    createdAt: new Date(Date.UTC(2021, 2, 1, 10, 0, i)).toISOString(),
    // Client-style extras the server must drop.
    avatar: 'x',
    socketId: 'forged',
    order: 99,
  };
}

function storedForm(payload, order) {
  return { order, username: payload.username, content: payload.content, createdAt: payload.createdAt };
}

// Two sockets post at once, so the server may interleave them in any way.
// What must hold: orders 1..N in arrival order, exactly the stored fields,
// every message sent exactly once, and each sender's messages in the order
// that sender emitted them. Returns the problems found.
function broadcastProblems(got, sent) {
  const problems = [];
  if (got.length !== sent.length) problems.push(`${got.length} messages, want ${sent.length}`);
  got.forEach((m, i) => {
    if (JSON.stringify(Object.keys(m)) !== JSON.stringify(exchangeKeys)) problems.push(`message ${i + 1} has keys ${Object.keys(m)}`);
    if (m.order !== i + 1) problems.push(`message ${i + 1} has order ${m.order}`);
  });
  const byContent = new Map(sent.map((p) => [p.content, p]));
  const seen = new Set();
  const lastIndexBySender = new Map();
  for (const m of got) {
    const p = byContent.get(m.content);
    if (!p || seen.has(m.content)) {
      problems.push(`unexpected or repeated message ${JSON.stringify(m)}`);
      continue;
    }
    seen.add(m.content);
    if (m.username !== p.username || m.createdAt !== p.createdAt) problems.push(`fields changed: ${JSON.stringify(m)}`);
    const index = sent.indexOf(p);
    if (index < (lastIndexBySender.get(p.username) ?? -1)) problems.push(`${p.username}'s messages out of their send order at ${JSON.stringify(m)}`);
    lastIndexBySender.set(p.username, index);
  }
  return problems.slice(0, 5);
}

async function checkSockets() {
  console.log(`# Socket.IO scenario, socket.io-client ${mainClient.version}, ${messageCount} messages`);
  const roomId = uniqueRoomId('verify-room');
  const missingRoomId = uniqueRoomId('missing-room');
  await createRoom(roomId);
  const participantsEvent = `participants/${roomId}`;

  const a = await new Client('A', mainClient).connect();
  const b = await new Client('B', mainClient).connect();
  // OBS never joins anything.
  const obs = await new Client('OBS', mainClient).connect();
  for (const c of [a, b, obs]) c.watch(roomId, participantsEvent, 'exception');

  join(a, roomId, 'Toto');
  const first = await a.waitCount(participantsEvent, 1);
  checkEqual(`A joins: "${participantsEvent}" lists A`, first[0], [participant(roomId, 'Toto', true)]);

  join(b, roomId, 'Titi');
  const both = [participant(roomId, 'Toto', true), participant(roomId, 'Titi', true)];
  checkEqual('B joins: A is sent both participants', (await a.waitCount(participantsEvent, 2))[1], both);
  // With global delivery B, already connected, was also sent A's join.
  const bJoinEvents = isNest ? 2 : 1;
  const bLists = await b.waitCount(participantsEvent, bJoinEvents);
  checkEqual('B joins: B is sent both participants', bLists[bJoinEvents - 1], both);
  if (isNest) checkEqual('global delivery: B was sent A\'s join before its own', bLists[0], first[0]);

  // A sends the odd messages and B the even ones, both at once.
  const sent = [];
  for (let i = 1; i <= messageCount; i++) {
    const payload = exchangePayload(roomId, i);
    sent.push(payload);
    (i % 2 === 1 ? a : b).emit('exchanges', payload);
  }
  const gotA = await a.waitCount(roomId, messageCount);
  const gotB = await b.waitCount(roomId, messageCount);
  const problems = broadcastProblems(gotA, sent);
  check(`A receives "${roomId}" ${messageCount} times: order 1..${messageCount}, exactly {${exchangeKeys}}, per-sender order kept`, problems.length === 0, problems.join('\n       '));
  checkEqual('B receives the same sequence as A', gotB, gotA);

  const history = await request('GET', `${roomsURL}/${roomId}/messages?fromIndex=1&toIndex=${messageCount}`);
  checkEqual('REST history equals the broadcasts', { status: history.status, body: JSON.parse(history.text) }, { status: 200, body: gotA });
  const middle = await request('GET', `${roomsURL}/${roomId}/messages?fromIndex=2&toIndex=2`);
  checkEqual('REST history page fromIndex=2&toIndex=2', JSON.parse(middle.text), [gotA[1]]);

  // Every room event was emitted before A and B got the last one. If OBS is
  // to get them, it does so before anything the server sends it afterwards.
  if (isNest) {
    await obs.waitCount(roomId, messageCount);
    checkEqual('global delivery: OBS (never joined) receives every message too', obs.received(roomId), gotA);
    checkEqual('global delivery: OBS receives the participants lists too', obs.received(participantsEvent).length, 2);
  } else {
    const fenceRoomId = uniqueRoomId('verify-fence');
    await createRoom(fenceRoomId);
    obs.watch(fenceRoomId, `participants/${fenceRoomId}`);
    join(obs, fenceRoomId, 'Observer');
    await obs.waitCount(`participants/${fenceRoomId}`, 1);
    obs.emit('exchanges', { roomId: fenceRoomId, username: 'Observer', content: 'fence', createdAt: '2021-03-01T11:00:00.000Z' });
    await obs.waitCount(fenceRoomId, 1);
    checkEqual('room delivery: OBS (not a member) received none of the room events', {
      messages: obs.received(roomId).length,
      participants: obs.received(participantsEvent).length,
    }, { messages: 0, participants: 0 });
    checkEqual('room delivery: members did not receive the other room\'s message', a.received(fenceRoomId).length, 0);
    await request('DELETE', `${roomsURL}/${fenceRoomId}`);
  }

  // 'exchanges' for a missing room: "exception" to the sender alone, socket stays.
  obs.emit('exchanges', { roomId: missingRoomId, username: 'Nobody', content: 'into the void', createdAt: '2021-03-01T10:00:03.000Z' });
  const exceptions = await obs.waitCount('exception', 1);
  checkEqual('exchanges to a missing room: sender gets "exception"', exceptions[0], { status: 'error', message: 'Internal server error' });
  check('exchanges to a missing room: sender stays connected', obs.socket.connected, 'OBS was disconnected');

  // 'participants' for a missing room: the server disconnects the socket.
  const intruder = await new Client('C', mainClient).connect();
  intruder.watch('exception');
  join(intruder, missingRoomId, 'Intruder');
  const reason = await withTimeout(intruder.disconnectReason, 'C to be disconnected');
  checkEqual('participants for a missing room: server disconnects', reason, 'io server disconnect');

  // B leaves: the remaining member sees B's entry turn connected:false.
  b.close();
  const afterLeave = await a.waitCount(participantsEvent, 3);
  checkEqual('B disconnects: A is sent B as connected:false', afterLeave[2], [participant(roomId, 'Toto', true), participant(roomId, 'Titi', false)]);

  // node-sio serves Engine.IO v3 clients too (allowEIO3).
  if (!isNest) {
    const old = await new Client('V2', v2).connect();
    old.watch(roomId, participantsEvent);
    join(old, roomId, 'Legacy');
    await old.waitCount(participantsEvent, 1);
    const next = exchangePayload(roomId, messageCount + 1);
    a.emit('exchanges', next);
    const legacy = await old.waitCount(roomId, 1);
    checkEqual(`allowEIO3: socket.io-client ${v2.version} member receives the next message`, legacy[0], storedForm(next, messageCount + 1));
    old.close();
  }

  for (const c of [a, obs, intruder]) c.close();
  // Close the room so a long-running server does not keep it; A is gone, so
  // the original's recreate-then-disconnect crash cannot be triggered.
  const closed = await request('DELETE', `${roomsURL}/${roomId}`);
  check('close the scenario room', closed.status === 204, `status ${closed.status}`);
}

async function main() {
  console.log(`verifying ${args.server} at ${baseURL}`);
  await checkHandshake();
  await checkREST();
  await checkSockets();
}

const deadline = setTimeout(() => {
  console.log(`FAIL whole run exceeded ${runTimeoutMs} ms`);
  process.exit(1);
}, runTimeoutMs);

main()
  .catch((err) => fail('scenario aborted', err.stack || String(err)))
  .finally(() => {
    clearTimeout(deadline);
    console.log(`\n${passes} passed, ${failures} failed`);
    process.exit(failures === 0 ? 0 : 1);
  });
