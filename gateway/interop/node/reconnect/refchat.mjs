// A small chat on the real socket.io 4.8 server with connection state
// recovery, speaking the gateway's events: the reference the recovery
// acceptance test (recovery-v4.test.mjs) is also run against, so that a
// failure against the Go server points at the server, not at the test.
//
// Same events as the gateway in room delivery: POST /api/v1/rooms creates a
// room; 'participants' {roomId, username, avatar} joins it and sends the
// room 'participants/<roomId>' with the list; 'exchanges' and 'chat' (with
// an ack) post {order, username, content, createdAt} as event '<roomId>' to
// the room; 'messages' of an unknown type acks an error; a socket leaving
// turns its entry connected:false and the list goes out again. Everything
// lives in this process's memory, as socket.io's own recovery does.
//
// Started by cmd/chatserver's tests (PORT, RECOVERY_WINDOW_MS); prints
// "refchat listening addr=HOST:PORT" once it serves.
import http from 'node:http';
import { Server } from 'socket.io';

const HOST = '127.0.0.1';
const PORT = Number(process.env.PORT || 0);
const WINDOW_MS = Number(process.env.RECOVERY_WINDOW_MS || 120000);

const rooms = new Map(); // roomId -> { messages: [], participants: Map(socketId -> entry) }

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

const httpServer = http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url === '/api/v1/rooms') {
    let input;
    try {
      input = JSON.parse(await readBody(req));
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (typeof input.roomId !== 'string') {
      res.writeHead(400).end();
      return;
    }
    if (rooms.has(input.roomId)) {
      res.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'room.conflict', message: `Room with '${input.roomId}' already exists` }));
      return;
    }
    rooms.set(input.roomId, { messages: [], participants: new Map() });
    res.writeHead(201).end();
    return;
  }
  // socket.io answers its own path; anything else is unknown here.
  if (!req.url.startsWith('/socket.io/')) res.writeHead(404).end();
});

const io = new Server(httpServer, {
  allowEIO3: true,
  cors: { origin: true, credentials: true },
  connectionStateRecovery: { maxDisconnectionDuration: WINDOW_MS, skipMiddlewares: true },
});

function sendList(roomId) {
  const room = rooms.get(roomId);
  io.to(roomId).emit(`participants/${roomId}`, [...room.participants.values()]);
}

function post(roomId, username, content, createdAt) {
  const room = rooms.get(roomId);
  if (!room) return null;
  const message = { order: room.messages.length + 1, username, content, createdAt: createdAt || new Date().toISOString() };
  room.messages.push(message);
  io.to(roomId).emit(roomId, message);
  return message;
}

io.on('connection', (socket) => {
  if (socket.recovered) {
    // Its rooms came back with it: its entries are connected again, and
    // the lists go out as a join would send them.
    for (const [roomId, room] of rooms) {
      const entry = room.participants.get(socket.id);
      if (entry && socket.rooms.has(roomId)) {
        entry.connected = true;
        sendList(roomId);
      }
    }
  }
  socket.on('participants', (p) => {
    const roomId = p && p.roomId;
    if (!rooms.has(roomId)) {
      socket.emit('exception', { status: 'error', message: 'The access is forbidden' });
      socket.disconnect(true);
      return;
    }
    socket.join(roomId);
    rooms.get(roomId).participants.set(socket.id, { roomId, username: p.username, avatar: p.avatar, connected: true });
    sendList(roomId);
  });
  socket.on('exchanges', (p) => {
    if (!post(p.roomId, p.username, p.content, p.createdAt)) {
      socket.emit('exception', { status: 'error', message: `Room with '${p.roomId}' not found` });
    }
  });
  socket.on('chat', (p, ack) => {
    const message = post(p.roomId, p.username, p.content);
    if (typeof ack === 'function') ack(message || { code: 'room.not-fond', message: `Room with '${p.roomId}' not found` });
  });
  socket.on('messages', (p, ack) => {
    if (typeof ack === 'function') ack({ code: 'messages.unsupported-type', message: `Unsupported message type '${p && p.type}'` });
  });
  socket.on('disconnecting', () => {
    for (const roomId of socket.rooms) {
      const entry = rooms.get(roomId)?.participants.get(socket.id);
      if (entry) {
        entry.connected = false;
        // The socket is still in its rooms while disconnecting: the list
        // goes to the others.
        socket.to(roomId).emit(`participants/${roomId}`, [...rooms.get(roomId).participants.values()]);
      }
    }
  });
});

httpServer.listen(PORT, HOST, () => {
  const { address, port } = httpServer.address();
  console.error(`refchat listening addr=${address}:${port}`);
});

// A restart loses everything, as it does for socket.io's recovery.
process.on('SIGTERM', () => {
  io.close();
  process.exit(0);
});
