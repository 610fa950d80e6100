// Package httpapi is the REST side of the chat server: an Echo app that
// answers like the original NestJS 7 / Express 4 server, down to status
// codes, bodies, Content-Type and ETag.
//
// # Mounting Socket.IO on the same Echo
//
//	e := httpapi.New(svc, logger)
//	e.Any("/socket.io/", echo.WrapHandler(socketIOHandler))
//
// works as is. The REST layer registers no catch-all route: its
// "Cannot GET /x" 404s come from the HTTP error handler, which only runs
// when no route matched. Its path normalisation (Express matches routes
// case-insensitively and with an optional trailing slash) only rewrites
// paths under /api/v1/rooms, and body parsing runs inside the REST handlers
// and the 404 handling only, so /socket.io/ requests reach the wrapped
// handler untouched. Use e.Any so that every method, OPTIONS included (Echo
// would otherwise answer it itself), reaches the Socket.IO handler.
//
// # OpenAPI
//
// GET /api/v1/openapi.json serves openapi.json, an OpenAPI 3.1 description of
// every route, status and body shape above. openapi_test.go checks with
// kin-openapi that it covers every registered route and that every answer
// (the recorded transcript's and each added status) matches it.
//
// # Exact
//
//   - The 26 recorded exchanges (transcript_test.go), ETags included.
//   - JSON syntax errors: V8 11.3's JSON.parse texts and UTF-16 positions,
//     and body-parser 1.19's strict-mode texts; checked against 316
//     responses recorded from the original stack (testdata).
//   - fromIndex/toIndex: ParseIntPipe + DefaultValuePipe(0) semantics
//     (JS Number/parseFloat/parseInt rules, qs array/object detection).
//   - Express routing: case-insensitive, optional trailing slash, params
//     decoded with decodeURIComponent, HEAD served by the GET route, 404
//     text with the raw request-target, body parsed before routing, ETag
//     and 304 for fresh conditional GETs, no CORS (unless WithCORSOrigins).
//   - Empty, BOM-only and non-JSON/urlencoded bodies count as {}; numbers
//     and booleans become their JS String() (the original stored them too).
//
// # Deliberately different
//
// Nest 7 answered these with {"statusCode":500,"message":"Internal server
// error"} (the errors were not HttpExceptions) or accepted input that made
// an unreachable room; here they are client errors:
//
//   - Body over MaxBodyBytes: 413 {"statusCode":413,"message":"request entity
//     too large","error":"Payload Too Large"}; too many urlencoded pairs:
//     413 "too many parameters"; a charset other than UTF-8/UTF-16 or a
//     Content-Encoding other than gzip/deflate/identity: 415.
//   - A body made only of line terminators ("\n", "\u2028{}"): 400
//     "Unexpected end of JSON input" (body-parser 1.19 threw a TypeError).
//   - A :roomId whose escapes are not UTF-8: 400 "Failed to decode param".
//   - Objects and arrays as roomId/creatorUsername, and repeated or
//     bracketed urlencoded keys: 400 "<field> must be a string".
//   - roomId/creatorUsername longer than MaxFieldBytes (WithMaxFieldBytes):
//     400 "<field> must be shorter than or equal to N bytes".
//   - A history range wider than the service's MaxRange: 400
//     {"code":"req-params.validation",...}, after the original's checks.
//   - Writes refused by WithWriteLimiter (429, Retry-After) or without the
//     WithAdminToken bearer token (401).
//   - Writes a browser sends cross-origin (a form POST from another site,
//     which the original accepted): 403, see cors.go.
//
// # Streamed history
//
// GET /api/v1/rooms/:roomId/messages is written page by page from a
// rooms.MessageRange in two passes (length and ETag first, then the
// bytes), with the same bytes, Content-Length and ETag as the whole array
// at once; see history.go.
//
// # Approximated
//
//   - Malformed percent-escapes in the path ("/x%zz") are refused by
//     net/http with a plain-text 400 before routing.
//   - Errors inflating a gzip/deflate body have Go's texts, not zlib's.
//   - X-Powered-By, Connection and Keep-Alive headers are not sent.
//   - Node rejects unknown HTTP methods at the parser; here they get the
//     usual 404 "Cannot FOO /path".
package httpapi
