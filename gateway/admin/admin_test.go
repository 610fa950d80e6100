package admin

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"chatgateway/gateway/socketio"
)

func testHash(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestNewChecksItsSettings(t *testing.T) {
	hash := testHash(t)
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"complete", Config{Username: "ops", PasswordHash: hash}, true},
		{"htpasswd's $2y$ hashes", Config{Username: "ops", PasswordHash: "$2y$05$" + hash[7:]}, true},
		{"no username", Config{PasswordHash: hash}, false},
		{"no password", Config{Username: "ops"}, false},
		{"a plain password", Config{Username: "ops", PasswordHash: "secret"}, false},
		{"unknown mode", Config{Username: "ops", PasswordHash: hash, Mode: "staging"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// The dashboard shows an action only for the features advertised.
func TestFeaturesFollowModeAndReadOnly(t *testing.T) {
	hash := testHash(t)
	tests := []struct {
		mode     Mode
		readOnly bool
		want     []string
	}{
		{ModeDevelopment, false, []string{"DISCONNECT", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"}},
		{ModeProduction, false, []string{"DISCONNECT", "MDISCONNECT", "AGGREGATED_EVENTS"}},
		{ModeDevelopment, true, []string{"AGGREGATED_EVENTS", "ALL_EVENTS"}},
		{ModeProduction, true, []string{"AGGREGATED_EVENTS"}},
	}
	for _, tc := range tests {
		a, err := New(Config{Username: "ops", PasswordHash: hash, Mode: tc.mode, ReadOnly: tc.readOnly})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.features, tc.want) {
			t.Errorf("mode %s, read-only %v: features %v, want %v", tc.mode, tc.readOnly, a.features, tc.want)
		}
	}
}

func TestSessionTokens(t *testing.T) {
	a, err := New(Config{Username: "ops", PasswordHash: testHash(t)})
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(Config{Username: "ops", PasswordHash: testHash(t)})
	if err != nil {
		t.Fatal(err)
	}
	issued := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	token := a.newToken(issued)
	payload, sig, _ := strings.Cut(token, ".")
	tests := []struct {
		name  string
		token string
		at    time.Time
		valid bool
	}{
		{"fresh", token, issued, true},
		{"just before expiry", token, issued.Add(sessionLifetime - time.Second), true},
		{"expired", token, issued.Add(sessionLifetime), false},
		{"another process's", other.newToken(issued), issued, false},
		{"signature changed", payload + "." + strings.Repeat("A", len(sig)), issued, false},
		{"expiry changed", a.newToken(issued.Add(sessionLifetime))[:len(payload)] + "." + sig, issued, false},
		{"no signature", payload, issued, false},
		{"garbage", "%%%.%%%", issued, false},
		{"empty", "", issued, false},
	}
	for _, tc := range tests {
		if got := a.validToken(tc.token, tc.at); got != tc.valid {
			t.Errorf("%s: valid = %v, want %v", tc.name, got, tc.valid)
		}
	}
}

// The dashboard never sees a client's credentials.
func TestHandshakeSecretsAreRedacted(t *testing.T) {
	hs := socketio.Handshake{
		Query: url.Values{"EIO": {"3"}, "token": {"eyJhbGciOi.secret.jwt"}, "transport": {"polling"}},
		Header: http.Header{
			"Authorization": {"Bearer secret"}, "Cookie": {"io=sessionid"}, "User-Agent": {"test"},
			"Accept-Language": {"en", "fr"}, "X-Forwarded-For": {"203.0.113.9"},
		},
	}
	headers := redactedHeaders(hs)
	if headers["authorization"] != redacted || headers["cookie"] != redacted || headers["user-agent"] != "test" || headers["accept-language"] != "en, fr" {
		t.Errorf("headers %v", headers)
	}
	query := redactedQuery(hs)
	if query["token"] != redacted || query["EIO"] != "3" {
		t.Errorf("query %v", query)
	}
	if u := handshakeURL(hs); strings.Contains(u, "secret") || !strings.HasPrefix(u, "/socket.io/?") {
		t.Errorf("url %s", u)
	}
	if got := clientAddress(hs, "127.0.0.1:5555"); got != "203.0.113.9" {
		t.Errorf("address behind a proxy %s", got)
	}
	hs.Header.Del("X-Forwarded-For")
	if got := clientAddress(hs, "127.0.0.1:5555"); got != "127.0.0.1" {
		t.Errorf("address %s", got)
	}
}
