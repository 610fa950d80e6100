// Command conformance runs the engine the way the official protocol test
// suites (socketio/engine.io-protocol and socketio/socket.io-protocol)
// describe their server: on 127.0.0.1:3000, pingInterval 300 ms, pingTimeout
// 200 ms, maxPayload 1e6, CORS open; /engine.io/ echoes every message and
// /socket.io/ has the suite's namespaces and events. See README, Conformance.
package main

import (
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"time"

	"chatgateway/gateway/engineio"
	"chatgateway/gateway/socketio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address (the suites hard-code localhost:3000)")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	engineCfg := engineio.Config{
		PingInterval: 300 * time.Millisecond,
		PingTimeout:  200 * time.Millisecond,
		MaxPayload:   1_000_000,
		Logger:       logger,
	}

	mux := http.NewServeMux()
	mux.Handle("/engine.io/", engineio.NewServer(engineCfg, echoEngine{}))
	mux.Handle("/socket.io/", newSocketServer(engineCfg, logger))
	logger.Warn("conformance server listening", "addr", *addr)
	if err := http.ListenAndServe(*addr, mux); err != nil {
		logger.Error("conformance server stopped", "err", err)
		os.Exit(1)
	}
}

// echoEngine sends every message back as it came, text as text, binary as binary.
type echoEngine struct{}

func (echoEngine) OnOpen(*engineio.Session) {}
func (echoEngine) OnMessage(s *engineio.Session, data []byte, binary bool) {
	// The decoded data aliases the request buffer; the echo outlives it.
	data = append([]byte(nil), data...)
	if binary {
		s.Send(engineio.NewBinaryMessage(data))
		return
	}
	s.Send(&engineio.Message{Type: engineio.PacketMessage, Text: data})
}
func (echoEngine) OnClose(*engineio.Session, string) {}

func newSocketServer(engineCfg engineio.Config, logger *slog.Logger) *socketio.Server {
	srv := socketio.NewServer(socketio.Config{
		Engine:         engineCfg,
		ConnectTimeout: time.Second,
		Logger:         logger,
	})
	emitAuth := func(c socketio.Conn) error {
		auth := c.Handshake().Auth
		if len(auth) == 0 {
			auth = json.RawMessage(`{}`)
		}
		return c.Emit("auth", auth)
	}
	srv.OnConnect("/", emitAuth)
	srv.OnEvent("/", "message", func(c socketio.Conn, args ...any) {
		c.Emit("message-back", args...)
	})
	srv.OnEvent("/", "message-with-ack", func(c socketio.Conn, args ...any) socketio.Args { return args })
	srv.OnConnect("/custom", emitAuth)
	return srv
}
