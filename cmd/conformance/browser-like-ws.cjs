// Harness shim (NOT part of the official suites; the test cases are untouched).
//
// Why: the suites await one WebSocket "message" event at a time
// (addEventListener(..., {once:true}) and then `await`). Node's `ws` client
// (8.5.0 in the suites' lockfiles) emits every frame found in one TCP read
// synchronously, in the same tick, so when a server writes two frames
// back-to-back (e.g. `40{"sid":..}` then `42["auth",{}]`) the second one is
// dispatched before the test's continuation has registered its next
// listener, and is lost. Browsers dispatch each WebSocket message as its own
// task, with a microtask checkpoint in between, so the same suite run from
// index.html does not lose frames.
//
// What: an "open", "message" or "close" event that arrives while the socket
// is idle is emitted synchronously, exactly as upstream ws does. Any further
// such event arriving before the next check phase is queued and emitted one
// per macrotask (setImmediate), so promise continuations run in between.
// Order is preserved. "error" and all other events stay synchronous
// ("unexpected-response" relies on emit()'s return value).
//
// Emitting the first event synchronously matters: e.g. the engine suite's
// "ignores HTTP requests with same sid after upgrade" never reads `3probe`;
// upstream drops it because no listener exists when it arrives. Deferring it
// too could deliver it to the listener meant for `4hello`.
"use strict";
const path = require("node:path");
const { EventEmitter } = require("node:events");

const wsPath = require.resolve("ws", { paths: [process.cwd()] });
const { WebSocket } = require(wsPath);
const spacedEvents = new Set(["open", "message", "close"]);
const originalEmit = EventEmitter.prototype.emit;
const state = Symbol("browserLikeDispatch");

if (!WebSocket.prototype[state]) {
  Object.defineProperty(WebSocket.prototype, state, { value: true });
  WebSocket.prototype.emit = function emit(type, ...args) {
    if (!spacedEvents.has(type)) return originalEmit.call(this, type, ...args);
    if (!Object.prototype.hasOwnProperty.call(this, state)) {
      Object.defineProperty(this, state, { value: { busy: false, queue: [] } });
    }
    const s = this[state];
    if (s.busy) {
      s.queue.push([type, args]);
      return true;
    }
    s.busy = true;
    const drain = () => {
      const next = s.queue.shift();
      if (!next) {
        s.busy = false;
        return;
      }
      originalEmit.call(this, next[0], ...next[1]);
      setImmediate(drain);
    };
    setImmediate(drain);
    return originalEmit.call(this, type, ...args);
  };
}
if (process.env.CONFORMANCE_SHIM_VERBOSE) {
  console.error(`browser-like-ws shim active for ${path.dirname(wsPath)}`);
}
