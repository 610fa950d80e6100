// Mocha root hook for the suites' Node harness (loaded by run-suite.sh with
// --require; the test cases are untouched).
//
// The suites await one WebSocket "message" at a time: a listener is
// registered, a frame awaited, then the next listener registered. ws clients
// emit every frame of one TCP read synchronously by default, so when the
// client reads two frames together (it fell behind; the server wrote them
// one after the other) the second is emitted before the test registers its
// listener, and is lost. ws (8.17 and later) has an option for exactly this:
// allowSynchronousEvents: false emits each message in its own macrotask, as
// browsers do. The suites construct `new WebSocket(url)` with no options, so
// before the first test the global they use (set by the suite's
// node-imports.js) is replaced by a subclass that only passes that option.
"use strict";
const path = require("node:path");
const { readFileSync } = require("node:fs");

// Resolved from the suite's directory, where run-suite.sh installed ws.
const wsEntry = require.resolve("ws", { paths: [process.cwd()] });
const wsVersion = JSON.parse(readFileSync(path.join(path.dirname(wsEntry), "package.json"), "utf8")).version;
const [major, minor] = wsVersion.split(".").map(Number);
if (major !== 8 || minor < 17) {
  throw new Error(`ws ${wsVersion} in ${path.dirname(wsEntry)} has no allowSynchronousEvents option (needs 8.17+); run-suite.sh installs it`);
}

exports.mochaHooks = {
  beforeAll() {
    const Base = globalThis.WebSocket;
    const { WebSocket: WsWebSocket } = require(wsEntry);
    if (Base !== WsWebSocket) {
      throw new Error("globalThis.WebSocket is not the suite's ws WebSocket: the suite's node-imports.js changed");
    }
    globalThis.WebSocket = class WebSocket extends Base {
      constructor(address, protocols, options) {
        // ws accepts (address, options) as well as (address, protocols, options).
        if (protocols !== null && typeof protocols === "object" && !Array.isArray(protocols)) {
          super(address, { ...protocols, allowSynchronousEvents: false });
        } else {
          super(address, protocols, { ...options, allowSynchronousEvents: false });
        }
      }
    };
  },
};
