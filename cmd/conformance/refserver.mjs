// The reference servers the official suites' READMEs describe, on Node
// engine.io 6.6 and socket.io 4.8 (from gateway/interop/node; run `make setup`
// once), served like `go run ./cmd/conformance` serves ours: one listener on
// 127.0.0.1:3000, /engine.io/ echoing every message, /socket.io/ with the
// suite's namespaces and events. Lets run-suite.sh measure the reference side
// by side with this project's engine:
//
//   node cmd/conformance/refserver.mjs &
//   cmd/conformance/run-suite.sh engine --runs 10
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeDir = path.join(here, '..', '..', 'gateway', 'interop', 'node');
const require = createRequire(path.join(nodeDir, 'package.json'));
const version = (pkg) => require(path.join(nodeDir, 'node_modules', pkg, 'package.json')).version;
const { Server: EngineServer } = require('engine.io');
const { Server: SocketServer } = require('socket.io');

// The suites' expected settings (their READMEs' reference configuration).
const settings = { pingInterval: 300, pingTimeout: 200, maxPayload: 1e6, cors: { origin: '*' } };

const httpServer = http.createServer();
// Two engines share the listener: neither may destroy the other's WebSocket
// upgrades, which engine.io does by default for paths it does not serve.
const shared = { destroyUpgrade: false };

const engine = new EngineServer({ ...settings, ...shared });
engine.attach(httpServer, { path: '/engine.io/', ...shared });
engine.on('connection', (socket) => {
  socket.on('data', (...args) => socket.send(...args));
});

const io = new SocketServer(httpServer, { ...settings, ...shared, maxHttpBufferSize: 1e6, connectTimeout: 1000 });
io.on('connection', (socket) => {
  socket.emit('auth', socket.handshake.auth);
  socket.on('message', (...args) => socket.emit('message-back', ...args));
  socket.on('message-with-ack', (...args) => {
    const ack = args.pop();
    ack(...args);
  });
});
io.of('/custom').on('connection', (socket) => {
  socket.emit('auth', socket.handshake.auth);
});

httpServer.listen(3000, '127.0.0.1', () => {
  console.error(`reference engine.io ${version('engine.io')} and socket.io ${version('socket.io')} on 127.0.0.1:3000`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    io.close();
    engine.close();
    httpServer.close(() => process.exit(0));
    httpServer.closeAllConnections();
  });
}
