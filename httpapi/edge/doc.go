// Package edge is where HTTP meets the network, for every listener of the
// server (REST and Socket.IO on the main port, pprof on its own): request
// timeouts that never cut a legitimate long-poll or WebSocket, a connection
// closed after a request whose framing cannot be trusted, connection caps
// (in total, kept below the descriptor limit, and per client address),
// client addresses behind trusted proxies, and the per-address counters and
// token buckets that the REST and Engine.IO layers use for their own caps.
//
// # Timeouts (NewServer)
//
// HeaderTimeout bounds the request head (net/http's ReadHeaderTimeout), so a
// slowloris connection is closed after it. ReadTimeout bounds a whole
// request with its body, measured from its first byte; a request without a
// body has its read deadline cleared as soon as its head is read, because
// net/http watches such a connection with a background read whose timeout
// would cancel the request: an Engine.IO long-poll GET is legitimately held
// up to pingInterval+pingTimeout. WriteTimeout bounds each write: every
// Write of a handler moves the connection's write deadline WriteTimeout
// ahead (at most once a second), so a held long-poll or a long history
// streamed page by page is never cut while it makes progress, while a
// client that stops reading is. IdleTimeout closes keep-alive connections
// left idle. A WebSocket is hijacked, which clears every deadline; the
// engine manages its own from there. MaxHeaderBytes caps the head (Go adds
// 4 KiB of slack) and is answered 431 by net/http.
//
// # Framing (RFC 9112 §6.1, §6.3)
//
// net/http resolves a request carrying both Content-Length and
// Transfer-Encoding: chunked by the chunked framing and drops the
// Content-Length header (RFC 7230 §3.3.3), but keeps the connection open,
// where RFC 9112 §6.3 says the server MUST close it: a front end that
// framed the same bytes by Content-Length sent whatever follows the chunked
// body as part of this request, and the server would run it as the next
// one (request smuggling). Because the header is gone before any handler
// runs, a chunked request cannot be told from a smuggling one, so every
// request with a Transfer-Encoding is answered with Connection: close.
// Browsers never send chunked request bodies. HTTP/1.0 requests are closed
// after the answer too, since net/http silently ignores a Transfer-Encoding
// on them (§6.1: such a message MUST be treated as faultily framed).
// Duplicate or invalid Content-Length values are already answered 400 by
// net/http, which then closes the connection.
//
// # Connection caps (Listener)
//
// The listener counts every connection it accepted until it is closed,
// WebSockets included (they are hijacked, not released). Over MaxConns, or
// over MaxConnsPerIP for one peer address, a new connection is answered at
// once with a 503 (total) or 429 (per address) carrying a Nest-shaped JSON
// body and Connection: close, then closed; connections already open,
// keep-alive REST clients among them, are untouched. MaxConns is kept
// below RLIMIT_NOFILE minus FDReserve (ConnCap), so accept never fails for
// lack of descriptors: the reserve covers the store's files and
// connections, the listeners, and the refusals in flight (at most
// maxRefusing). A peer in TrustedProxies is exempt from the per-address
// cap: its connections carry many clients.
//
// # Client addresses (ClientIPs)
//
// X-Forwarded-For is believed only from a peer in TrustedProxies: the client
// is the rightmost address that is not itself a trusted proxy. IPv6
// addresses are counted per /64, the block one subscriber gets.
package edge
