// A cookie jar for socket.io-client 2.x in Node, whose XMLHttpRequest has
// none: a browser keeps the server's `io` cookie by itself, and the server
// restores a reconnecting 2.x client's rooms from it.
//
// Importing this module patches engine.io-client 3's polling request: for a
// client created with jar(), every Set-Cookie the server sends on a
// long-polling response is stored into the client's extraHeaders, which
// engine.io-client 3 sends on every later request, the reconnection
// handshake and WebSocket upgrades included. The cookie value is whatever
// the server set; nothing is ever forged.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// socket.io-client 2.5's engine (top-level engine.io-client 3.5.x).
const { Request } = require('engine.io-client/lib/transports/polling-xhr');
assert.match(require('engine.io-client/package.json').version, /^3\.5\./);

const JAR = 'X-Test-Cookie-Jar';
const onLoad = Request.prototype.onLoad;
Request.prototype.onLoad = function onLoadWithJar() {
  const headers = this.extraHeaders;
  if (headers && headers[JAR]) {
    const setCookie = this.xhr.getResponseHeader('set-cookie');
    for (const line of [].concat(setCookie || [])) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq > 0 && pair.slice(0, eq).trim() === 'io') headers.Cookie = pair.trim();
    }
  }
  return onLoad.call(this);
};

// jar returns client options with a cookie jar. engine.io-client 3 keeps
// extraHeaders only if non-empty at creation, hence the marker header.
export function jar() {
  return { extraHeaders: { [JAR]: 'on' } };
}
