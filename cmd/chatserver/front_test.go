package main

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"testing"
)

// testPagePrefix is where startPageFront serves the browser tests' files.
const testPagePrefix = "/__test/"

// startPageFront runs a web server in front of the chat server, as a
// frontend is usually deployed: it serves the frontend's files itself and
// passes everything else (REST, Socket.IO long-polling and WebSocket) to
// the backend, so the page, the REST API and the socket share one origin
// (the REST API has no CORS). Chromium only lets a page open a WebSocket
// to a loopback address if the page itself came from one, so the page
// must come from a real server, not from the browser's own routes.
//
// It serves files (name under testPagePrefix -> path), proxies the rest to
// backend (a base URL), and returns its own base URL.
func startPageFront(t *testing.T, backend string, files map[string]string) string {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	// A backend being restarted or killed fails requests; the clients
	// retry, as behind any web server.
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+testPagePrefix+"{name}", func(w http.ResponseWriter, r *http.Request) {
		file, ok := files[path.Base(r.PathValue("name"))]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFile(w, r, file)
	})
	mux.Handle("/", proxy)
	return serveLoopback(t, mux)
}

// serveLoopback serves h on a free loopback port until the test ends and
// returns its base URL.
func serveLoopback(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
