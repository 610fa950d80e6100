// Reference implementation of the interop test server contract, built on the
// real socket.io 4.8 server with allowEIO3. The client tests are validated
// against it so that a failure against the Go engine points at the engine,
// not at the tests. The Go twin lives in ../server_test.go; keep them in step.
//
// Run standalone (prints SIO_URL and CONTROL_URL, serves until killed):
//   node refserver.mjs
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server } from 'socket.io';

const here = path.dirname(fileURLToPath(import.meta.url));
const HOST = '127.0.0.1';
const NAMESPACES = ['/', '/custom'];

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

// attachHandlers wires the contract's event handlers on one namespace.
function attachHandlers(nsp, counters) {
  nsp.on('connection', (socket) => {
    socket.on('echo-ack', (...args) => {
      const ack = args.pop();
      if (typeof ack === 'function') ack(...args);
    });
    // Acknowledges nothing, like the original NestJS server's 'exchanges':
    // a client's timeout().emit gets its timeout error (chat/ack.test.mjs).
    socket.on('exchanges', () => {});
    socket.on('echo-emit', (...args) => {
      socket.emit('echo-back', ...args);
    });
    socket.on('ask-client', () => {
      socket.emit('question', { q: 'ping?' }, (answer) => {
        socket.emit('answer', answer);
      });
    });
    socket.on('disconnect-me', () => {
      socket.disconnect();
    });
    socket.on('burst', (n, ack) => {
      counters.burst++;
      if (typeof ack === 'function') ack(n);
    });
  });
}

// startSocketServer listens on port (0 = any) and returns the live instance.
async function startSocketServer(port, counters) {
  const httpServer = http.createServer();
  const tcpSockets = new Set();
  httpServer.on('connection', (sock) => {
    tcpSockets.add(sock);
    sock.on('close', () => tcpSockets.delete(sock));
  });
  const io = new Server(httpServer, {
    allowEIO3: true,
    cors: { origin: true, credentials: true },
  });
  for (const name of NAMESPACES) attachHandlers(io.of(name), counters);
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, HOST, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  return {
    io,
    port: httpServer.address().port,
    // sessions is the number of open Engine.IO sessions, the same number
    // the Go twin reports (engineio.Server.SessionCount).
    sessions() {
      return io.engine.clientsCount;
    },
    // kill drops everything without a goodbye: no close or disconnect
    // packet reaches any client, exactly like a crashed process.
    async kill() {
      const closed = new Promise((resolve) => httpServer.close(() => resolve()));
      for (const sock of tcpSockets) sock.destroy();
      io.close();
      await closed;
    },
  };
}

async function serveFile(res, routes, urlPath) {
  const rel = routes[urlPath];
  if (!rel) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  try {
    const body = await readFile(path.join(here, rel));
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[path.extname(rel)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
    });
    res.end(body);
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot read ${rel}: ${err.message}\n`);
  }
}

function sendJSON(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

// startRefHarness starts the Socket.IO server and its control server, both on
// loopback, and returns their URLs and a close function.
export async function startRefHarness() {
  const { routes } = JSON.parse(await readFile(path.join(here, 'static-routes.json'), 'utf8'));
  const counters = { burst: 0 };
  let current = await startSocketServer(0, counters);
  const port = current.port;
  let restarting = null;

  const control = http.createServer(async (req, res) => {
    const urlPath = new URL(req.url, 'http://control').pathname;
    try {
      if (req.method === 'POST' && urlPath === '/restart') {
        // Serialise restarts so two callers cannot race for the port.
        const run = (restarting ?? Promise.resolve())
          .catch(() => {}) // an earlier failed restart was already reported to its caller
          .then(async () => {
            await current.kill();
            current = await startSocketServer(port, counters);
          });
        restarting = run;
        await run;
        sendJSON(res, 200, { restarted: true });
      } else if (req.method === 'GET' && urlPath === '/stats') {
        sendJSON(res, 200, { sessions: current.sessions(), burst: counters.burst });
      } else if (req.method === 'POST' && urlPath === '/reset-stats') {
        counters.burst = 0;
        sendJSON(res, 200, { reset: true });
      } else if (req.method === 'GET') {
        await serveFile(res, routes, urlPath);
      } else {
        res.writeHead(405, { 'content-type': 'text/plain' }).end('method not allowed\n');
      }
    } catch (err) {
      sendJSON(res, 500, { error: String(err?.stack ?? err) });
    }
  });
  await new Promise((resolve) => control.listen(0, HOST, resolve));

  return {
    sioUrl: `http://${HOST}:${port}`,
    controlUrl: `http://${HOST}:${control.address().port}`,
    async close() {
      await current.kill();
      control.closeAllConnections();
      await new Promise((resolve) => control.close(() => resolve()));
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const h = await startRefHarness();
  console.log(`SIO_URL=${h.sioUrl}`);
  console.log(`CONTROL_URL=${h.controlUrl}`);
  const stop = async () => {
    await h.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
