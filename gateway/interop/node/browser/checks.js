// Browser side of the interop checks. Plain script (no modules) so it runs
// unchanged next to either client bundle. browser.test.mjs calls
// loadClient(gen) and then runChecks({gen, sioUrl, transport}); the result
// holds what was sent and what came back, encoded as JSON, and the Node
// side does the comparing so failures show a proper diff.
(function () {
  'use strict';

  var WAIT_MS = 8000;

  function withDeadline(promise, ms, what) {
    var timer;
    var timeout = new Promise(function (_, reject) {
      timer = setTimeout(function () {
        reject(new Error('timed out after ' + ms + 'ms waiting for ' + what));
      }, ms);
    });
    return Promise.race([promise, timeout]).finally(function () {
      clearTimeout(timer);
    });
  }

  function loadClient(gen) {
    return withDeadline(
      new Promise(function (resolve, reject) {
        var s = document.createElement('script');
        s.src = '/bundles/sio' + gen + '.js';
        s.onload = function () {
          if (typeof window.io !== 'function') reject(new Error('bundle loaded but window.io is missing'));
          else resolve();
        };
        s.onerror = function () {
          reject(new Error('cannot load ' + s.src));
        };
        document.head.appendChild(s);
      }),
      WAIT_MS,
      'client bundle ' + gen,
    );
  }

  function waitEvent(emitter, event, failOn) {
    var handlers = [];
    var p = new Promise(function (resolve, reject) {
      var ok = function () {
        resolve(Array.prototype.slice.call(arguments));
      };
      emitter.on(event, ok);
      handlers.push([event, ok]);
      (failOn || []).forEach(function (ev) {
        var bad = function (detail) {
          reject(new Error("got '" + ev + "' while waiting for '" + event + "': " + (detail && detail.message ? detail.message : JSON.stringify(detail))));
        };
        emitter.on(ev, bad);
        handlers.push([ev, bad]);
      });
    });
    return withDeadline(p, WAIT_MS, "'" + event + "'").finally(function () {
      handlers.forEach(function (h) {
        emitter.off(h[0], h[1]);
      });
    });
  }

  function emitWithAck(socket, event, args) {
    return withDeadline(
      new Promise(function (resolve) {
        socket.emit.apply(socket, [event].concat(args, [function () {
          resolve(Array.prototype.slice.call(arguments));
        }]));
      }),
      WAIT_MS,
      "ack of '" + event + "'",
    );
  }

  function hex(u8) {
    var out = '';
    for (var i = 0; i < u8.length; i++) out += (u8[i] < 16 ? '0' : '') + u8[i].toString(16);
    return out;
  }

  // encode turns every binary value into {$bin: hex} (the same convention as
  // test/lib.mjs normalize), leaving everything else as JSON.
  function encode(v) {
    if (v instanceof ArrayBuffer) return { $bin: hex(new Uint8Array(v)) };
    if (ArrayBuffer.isView(v)) return { $bin: hex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
    if (typeof Blob !== 'undefined' && v instanceof Blob) return { $unexpectedBlob: v.size };
    if (Array.isArray(v)) return v.map(encode);
    if (v !== null && typeof v === 'object') {
      var out = {};
      Object.keys(v).forEach(function (k) {
        out[k] = encode(v[k]);
      });
      return out;
    }
    return v;
  }

  function bytes(n, seed) {
    var u = new Uint8Array(n);
    for (var i = 0; i < n; i++) u[i] = (i * 31 + seed * 7) & 0xff;
    return u;
  }

  var TEXT = { emoji: '🎉👍🏽', cjk: '中文字', accents: 'éàü' };

  function binaryArgs() {
    return [
      {
        a: { b: bytes(16, 1) },
        list: [bytes(3, 2).buffer, 'x'],
        big: bytes(100000, 3),
        text: 'binary and text ' + TEXT.emoji,
      },
      bytes(5, 9).buffer,
      'plain',
    ];
  }

  function nonAsciiArgs() {
    var obj = {};
    obj['clé ' + TEXT.emoji] = 'valeur ' + TEXT.cjk;
    obj.long = TEXT.emoji.repeat(2000) + TEXT.cjk.repeat(1000) + TEXT.accents.repeat(1000);
    return [obj, TEXT.emoji, TEXT.cjk, TEXT.accents, '12:34 5:6 \u2028 "q" \\ 🎉'];
  }

  async function runChecks(opts) {
    var result = { transports: {}, upgrades: [], checks: [], wsClose: null };
    var record = function (name, expected, received) {
      result.checks.push({ name: name, expected: encode(expected), received: encode(received) });
    };

    var ioOpts = { forceNew: true, reconnection: false, timeout: WAIT_MS };
    if (opts.transport === 'websocket-only') ioOpts.transports = ['websocket'];
    if (opts.transport === 'polling-only') ioOpts.transports = ['polling'];
    // socket.io-client 4 defaults to withCredentials: false; 2.x sends
    // credentials by default. Ask for them in both so that CORS with
    // credentials is exercised either way.
    ioOpts.withCredentials = true;

    var socket = window.io(opts.sioUrl, ioOpts);
    try {
      result.transports.initial = socket.io.engine.transport.name;
      socket.io.engine.on('upgrade', function (t) {
        result.upgrades.push(t.name);
      });
      await waitEvent(socket, 'connect', ['connect_error', 'error', 'connect_timeout']);

      var roundTrip = async function (label, args) {
        record(label + ': echo-ack', args, await emitWithAck(socket, 'echo-ack', args));
        var back = waitEvent(socket, 'echo-back');
        socket.emit.apply(socket, ['echo-emit'].concat(args));
        record(label + ': echo-emit -> echo-back', args, await back);
      };
      var askClient = async function (label, answer) {
        var question = waitEvent(socket, 'question');
        var answered = waitEvent(socket, 'answer');
        socket.emit('ask-client');
        var q = await question;
        record(label + ': question payload', [{ q: 'ping?' }], q.slice(0, 1));
        if (typeof q[1] !== 'function') throw new Error("'question' came without an ack callback");
        q[1](answer);
        record(label + ': answer relayed', [answer], await answered);
      };

      // On the default transport this first pass usually runs over polling
      // or while the upgrade is in flight.
      await roundTrip('json', ['a', 1, 2.5, true, null, { k: [1, { x: 'y' }] }]);
      await askClient('server emit with ack', 'pong');
      await roundTrip('binary', binaryArgs());
      await askClient('binary answer', { text: 'pong ' + TEXT.accents, bin: bytes(8, 4), list: [bytes(2, 5).buffer] });
      await roundTrip('non-ASCII', nonAsciiArgs());
      await askClient('non-ASCII answer', 'réponse ' + TEXT.emoji + ' ' + TEXT.cjk);

      if (opts.transport === 'default') {
        if (socket.io.engine.transport.name !== 'websocket') {
          await waitEvent(socket.io.engine, 'upgrade', ['upgradeError', 'close']);
        }
        await roundTrip('binary after upgrade', binaryArgs());
        await roundTrip('non-ASCII after upgrade', nonAsciiArgs());
      }
      result.transports.final = socket.io.engine.transport.name;
      return result;
    } finally {
      await closeAndWatch(socket, result);
    }
  }

  // closeAndWatch closes the socket and, when it runs over WebSocket, waits
  // for the WebSocket's own close event: a closing handshake the browser
  // considers broken (for example a second Close frame from the server)
  // shows up as wasClean === false with code 1006.
  async function closeAndWatch(socket, result) {
    var transport = socket.io.engine && socket.io.engine.transport;
    var ws = transport && transport.name === 'websocket' ? transport.ws : null;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      socket.close();
      return;
    }
    var errored = false;
    ws.addEventListener('error', function () {
      errored = true;
    });
    var closed = new Promise(function (resolve) {
      ws.addEventListener('close', function (ev) {
        resolve({ code: ev.code, wasClean: ev.wasClean, error: errored });
      });
    });
    socket.close();
    result.wsClose = await withDeadline(closed, WAIT_MS, 'the WebSocket to close');
  }

  window.loadClient = loadClient;
  window.runChecks = runChecks;
})();
