// Benchmark baseline: the original chat server's handlers on socket.io 4.8,
// with per-room delivery instead of the original's emit-to-everyone.
//
//   PORT (default 3000)  HOST (default: every interface, as the original)
//
// REST (plain node:http, no framework): POST /api/v1/rooms,
// GET /api/v1/rooms/:roomId/messages?fromIndex&toIndex, DELETE /api/v1/rooms/:roomId,
// with the original's status codes and {code,message} bodies.
// Socket.IO: "participants" joins the socket.io room <roomId> and sends
// "participants/<roomId>" to that room; "exchanges" stores the message and
// sends "<roomId>" {order,username,content,createdAt} to that room.
import http from 'node:http';
import { Server } from 'socket.io';

const defaultPort = 3000;
// body-parser's default limit, which the original's Express applied.
const maxBodyBytes = 100 * 1024;

// roomId -> {roomId, creatorUsername, messages: [], participants: Map<socketId, participant>}
const rooms = new Map();
// socketId -> roomId the socket joined last, so a disconnect finds its entry.
const joinedRoom = new Map();

function sendJSON(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

function sendEmpty(res, status) {
  res.writeHead(status, { 'Content-Length': 0 });
  res.end();
}

function badRequest(message) {
  return { statusCode: 400, message, error: 'Bad Request' };
}

function invalidParams(message) {
  return { code: 'req-params.validation', message: `Invalid parameters, ${message}` };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        reject(Object.assign(new Error('request entity too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function isNotEmpty(value) {
  return value !== '' && value !== null && value !== undefined;
}

async function createRoom(req, res) {
  let dto = {};
  const text = await readBody(req);
  if ((req.headers['content-type'] || '').includes('json') && text !== '') {
    try {
      dto = JSON.parse(text);
    } catch (err) {
      sendJSON(res, 400, badRequest(err.message));
      return;
    }
  }
  if (dto === null || typeof dto !== 'object') {
    dto = {};
  }
  const problems = [];
  if (!isNotEmpty(dto.roomId)) problems.push('roomId should not be empty');
  if (!isNotEmpty(dto.creatorUsername)) problems.push('creatorUsername should not be empty');
  if (problems.length > 0) {
    sendJSON(res, 400, badRequest(problems));
    return;
  }
  const roomId = String(dto.roomId);
  if (rooms.has(roomId)) {
    sendJSON(res, 409, { code: 'room.conflict', message: `Room with '${roomId}' already exists` });
    return;
  }
  rooms.set(roomId, { roomId, creatorUsername: dto.creatorUsername, messages: [], participants: new Map() });
  sendEmpty(res, 201);
}

// Nest's ParseIntPipe: a finite numeric string, truncated by parseInt.
function parseIndex(value) {
  if (value === null || Number.isNaN(parseFloat(value)) || !Number.isFinite(Number(value))) {
    return undefined;
  }
  return parseInt(value, 10);
}

function listMessages(res, roomId, query) {
  const fromIndex = parseIndex(query.get('fromIndex'));
  const toIndex = parseIndex(query.get('toIndex'));
  if (fromIndex === undefined || toIndex === undefined) {
    sendJSON(res, 400, badRequest('Validation failed (numeric string is expected)'));
    return;
  }
  if (fromIndex <= 0 || toIndex <= 0) {
    sendJSON(res, 400, invalidParams(`'fromIndex' and 'toIndex' must be positive`));
    return;
  }
  if (toIndex < fromIndex) {
    sendJSON(res, 400, invalidParams(`'toIndex' must no not be less than 'fromIndex'`));
    return;
  }
  const room = rooms.get(roomId);
  if (!room) {
    sendJSON(res, 403, { code: 'access-forbidden', message: 'The access is forbidden' });
    return;
  }
  sendJSON(res, 200, room.messages.slice(fromIndex - 1, toIndex));
}

function closeRoom(res, roomId) {
  if (!rooms.delete(roomId)) {
    sendJSON(res, 404, { code: 'room.not-fond', message: `Room with '${roomId}' not found` });
    return;
  }
  // Unlike the original, members leave the socket.io room, so a room later
  // created with the same id does not reach them.
  io.in(roomId).socketsLeave(roomId);
  sendEmpty(res, 204);
}

const messagesPath = /^\/api\/v1\/rooms\/([^/]+)\/messages$/;
const roomPath = /^\/api\/v1\/rooms\/([^/]+)$/;

function decodeSegment(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

async function handleRest(req, res) {
  const url = new URL(req.url, 'http://localhost');
  let match;
  if (url.pathname === '/api/v1/rooms' && req.method === 'POST') {
    await createRoom(req, res);
    return;
  }
  if (req.method === 'GET' && (match = messagesPath.exec(url.pathname))) {
    const roomId = decodeSegment(match[1]);
    if (roomId !== undefined) {
      listMessages(res, roomId, url.searchParams);
      return;
    }
  }
  if (req.method === 'DELETE' && (match = roomPath.exec(url.pathname))) {
    const roomId = decodeSegment(match[1]);
    if (roomId !== undefined) {
      closeRoom(res, roomId);
      return;
    }
  }
  sendJSON(res, 404, { statusCode: 404, message: `Cannot ${req.method} ${req.url}`, error: 'Not Found' });
}

// Attaching socket.io wraps this listener: /socket.io/ requests never reach it.
const httpServer = http.createServer((req, res) => {
  handleRest(req, res).catch((err) => {
    if (!res.headersSent) {
      const status = err.status === 413 ? 413 : 500;
      sendJSON(res, status, { statusCode: status, message: status === 413 ? 'request entity too large' : 'Internal server error' });
    }
  });
});

const io = new Server(httpServer, {
  // socket.io-client 2.x (Engine.IO v3) clients connect too.
  allowEIO3: true,
  // The original reflected every Origin with credentials.
  cors: { origin: true, credentials: true },
});

function participantList(room) {
  return Array.from(room.participants.values());
}

function isObject(value) {
  return value !== null && typeof value === 'object';
}

io.on('connection', (socket) => {
  // Unknown room or no roomId: the original disconnects and sends nothing else.
  socket.on('participants', (data) => {
    const roomId = isObject(data) ? data.roomId : undefined;
    const room = typeof roomId === 'string' ? rooms.get(roomId) : undefined;
    if (!room) {
      socket.disconnect();
      return;
    }
    room.participants.set(socket.id, { roomId, username: data.username, avatar: data.avatar, connected: true });
    joinedRoom.set(socket.id, roomId);
    socket.join(roomId);
    io.to(roomId).emit(`participants/${roomId}`, participantList(room));
  });

  // Unknown or closed room: the sender alone gets the exception the original's
  // TypeError produced; the socket stays connected.
  socket.on('exchanges', (data) => {
    const roomId = isObject(data) ? data.roomId : undefined;
    const room = typeof roomId === 'string' ? rooms.get(roomId) : undefined;
    if (!room) {
      socket.emit('exception', { status: 'error', message: 'Internal server error' });
      return;
    }
    const message = {
      order: room.messages.length + 1,
      username: data.username,
      content: data.content,
      createdAt: data.createdAt,
    };
    room.messages.push(message);
    io.to(roomId).emit(roomId, message);
  });

  socket.on('disconnect', () => {
    const roomId = joinedRoom.get(socket.id);
    if (roomId === undefined) {
      return;
    }
    joinedRoom.delete(socket.id);
    const entry = rooms.get(roomId)?.participants.get(socket.id);
    // No entry: the room was closed (or closed and created again, where the
    // original crashed); nothing to tell.
    if (!entry) {
      return;
    }
    entry.connected = false;
    io.to(roomId).emit(`participants/${roomId}`, participantList(rooms.get(roomId)));
  });
});

const port = Number(process.env.PORT || defaultPort);
const host = process.env.HOST || undefined;
httpServer.listen(port, host, () => {
  const address = httpServer.address();
  console.log(`node-sio baseline (socket.io 4.8, room delivery) listening on ${address.address}:${address.port}`);
});

function shutdown() {
  io.close();
  process.exit(0);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
