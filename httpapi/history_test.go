package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"chatgateway/httpapi"
	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

// expressJSON is what JSON.stringify gives for a history of ASCII text,
// computed independently of the package's encoder.
func expressJSON(t *testing.T, msgs []rooms.Message) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(msgs); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func expressETag(body []byte) string {
	sum := sha1.Sum(body)
	return `W/"` + strconv.FormatInt(int64(len(body)), 16) + "-" + base64.StdEncoding.EncodeToString(sum[:])[:27] + `"`
}

// countingStore counts the passes over each range read.
type countingStore struct {
	rooms.Store
	passes atomic.Int64
}

func (s *countingStore) ReadMessages(ctx context.Context, roomID string, from, to int64, fn func(rooms.MessageRange) error) error {
	return s.Store.ReadMessages(ctx, roomID, from, to, func(r rooms.MessageRange) error {
		return fn(countingRange{r, &s.passes})
	})
}

type countingRange struct {
	rooms.MessageRange
	passes *atomic.Int64
}

func (r countingRange) Pages(ctx context.Context, fn func([]rooms.Message) error) error {
	r.passes.Add(1)
	return r.MessageRange.Pages(ctx, fn)
}

// TestHistoryIsStreamedWithExpressHeaders: a history far larger than a
// page is sent with the bytes, Content-Length and ETag of the whole array
// encoded at once, in two passes; a small one in one pass.
func TestHistoryIsStreamedWithExpressHeaders(t *testing.T) {
	store := &countingStore{Store: memstore.New()}
	svc := rooms.NewService(store)
	srv := httptest.NewServer(httpapi.New(svc, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	ctx := context.Background()
	if err := svc.CreateRoom(ctx, rooms.CreateRoomInput{RoomID: "r", CreatorUsername: "bob"}); err != nil {
		t.Fatal(err)
	}
	const total = 700 // several store pages, and far over the one-pass size
	for i := 1; i <= total; i++ {
		if _, err := svc.Post(ctx, "r", rooms.NewMessage{Username: fmt.Sprint("user", i%7), Content: strings.Repeat(fmt.Sprint(i%10), 1000), CreatedAt: "2021-03-01T10:00:00.000Z"}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		from, to   int64
		wantPasses int64
	}{
		{1, total, 2},
		{1, 10000, 2},
		{123, 456, 2},
		{5, 20, 1}, // a frontend's page: under 64 KiB
		{total + 1, total + 20, 1},
	}
	for _, tc := range tests {
		stored, err := store.Messages(ctx, "r", tc.from, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		want := expressJSON(t, stored)
		if len(stored) == 0 {
			want = []byte("[]")
		}
		target := fmt.Sprintf("/api/v1/rooms/r/messages?fromIndex=%d&toIndex=%d", tc.from, tc.to)
		store.passes.Store(0)
		r := do(t, srv, "GET", target, nil, nil)
		if r.status != 200 || r.body != string(want) {
			t.Fatalf("%s: status %d, body of %d bytes, want 200 and %d bytes (equal: %v)", target, r.status, len(r.body), len(want), r.body == string(want))
		}
		if got := r.header.Get("Content-Length"); got != strconv.Itoa(len(want)) {
			t.Errorf("%s: Content-Length %s, want %d", target, got, len(want))
		}
		etag := expressETag(want)
		if got := r.header.Get("ETag"); got != etag {
			t.Errorf("%s: ETag %s, want %s", target, got, etag)
		}
		if r.header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", target, r.header.Get("Content-Type"))
		}
		if got := store.passes.Load(); got != tc.wantPasses {
			t.Errorf("%s: %d passes over the range, want %d", target, got, tc.wantPasses)
		}

		head := do(t, srv, "HEAD", target, nil, nil)
		if head.status != 200 || head.body != "" || head.header.Get("ETag") != etag || head.header.Get("Content-Length") != strconv.Itoa(len(want)) {
			t.Errorf("HEAD %s: %d %q ETag %s Content-Length %s", target, head.status, head.body, head.header.Get("ETag"), head.header.Get("Content-Length"))
		}
		store.passes.Store(0)
		cached := do(t, srv, "GET", target, map[string]string{"If-None-Match": etag}, nil)
		if cached.status != http.StatusNotModified || cached.body != "" {
			t.Errorf("conditional GET %s: %d %q, want a bodiless 304", target, cached.status, cached.body)
		}
		if got := store.passes.Load(); got != 1 {
			t.Errorf("conditional GET %s: %d passes, want 1 (no body is written)", target, got)
		}
	}
}

// driftingStore hands out a range whose second pass differs from its first
// (what a store that cannot tell a re-created room would do).
type driftingStore struct{ rooms.Store }

func (driftingStore) ReadMessages(_ context.Context, _ string, _, _ int64, fn func(rooms.MessageRange) error) error {
	return fn(&driftingRange{})
}

type driftingRange struct{ pass int }

func (d *driftingRange) Pages(_ context.Context, fn func([]rooms.Message) error) error {
	d.pass++
	for p := 0; p < 3; p++ {
		page := make([]rooms.Message, 100)
		for i := range page {
			page[i] = rooms.Message{Order: int64(p*100 + i + 1), Username: "u", Content: strings.Repeat("x", 1000), CreatedAt: "t"}
		}
		if d.pass > 1 && p == 1 {
			page[50].Content = strings.Repeat("y", 1000) // same length, other bytes
		}
		if err := fn(page); err != nil {
			return err
		}
	}
	return nil
}

func TestHistoryThatChangesBetweenPassesIsCutShort(t *testing.T) {
	var logs syncBuffer
	svc := rooms.NewService(driftingStore{memstore.New()})
	srv := httptest.NewServer(httpapi.New(svc, slog.New(slog.NewTextHandler(&logs, nil))))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/api/v1/rooms/r/messages?fromIndex=1&toIndex=300")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read %d bytes, err %v; want the body cut short of its Content-Length %s", len(body), err, resp.Header.Get("Content-Length"))
	}
	if bytes.Contains(body, []byte("yyy")) {
		t.Fatal("bytes of the second, different pass were sent")
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "history changed") {
		t.Errorf("the cut was not logged: %s", out)
	}
}
