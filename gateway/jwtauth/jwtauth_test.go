package jwtauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func publicPEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthenticate(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid := jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix(), "name": "Alice"}
	hs := Options{Secret: secret}
	tests := []struct {
		name  string
		opts  Options
		token string
		want  string // "" : refused
	}{
		{"HS256", hs, sign(t, jwt.SigningMethodHS256, secret, valid), "alice"},
		{"RS256", Options{PublicKeyPEM: publicPEM(t, &rsaKey.PublicKey)}, sign(t, jwt.SigningMethodRS256, rsaKey, valid), "alice"},
		{"ES256", Options{PublicKeyPEM: publicPEM(t, &ecKey.PublicKey)}, sign(t, jwt.SigningMethodES256, ecKey, valid), "alice"},
		{"another claim", Options{Secret: secret, Claim: "name"}, sign(t, jwt.SigningMethodHS256, secret, valid), "Alice"},
		{"wrong secret", hs, sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), valid), ""},
		{"expired", hs, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "exp": now.Add(-time.Hour).Unix()}), ""},
		{"not yet valid", hs, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "nbf": now.Add(time.Hour).Unix()}), ""},
		{"no username claim", hs, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}), ""},
		{"username not a string", hs, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": 7}), ""},
		{"algorithm none", hs, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid), ""},
		// An HS256 token signed with the public key as the secret: the
		// classic algorithm confusion, refused since only RS256 is valid.
		{"HS256 with the RSA public key as secret", Options{PublicKeyPEM: publicPEM(t, &rsaKey.PublicKey)},
			sign(t, jwt.SigningMethodHS256, publicPEM(t, &rsaKey.PublicKey), valid), ""},
		{"garbage", hs, "not.a.token", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Authenticate(tt.token)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("accepted as %q, want refused", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Authenticate = (%q, %v), want %q", got, err, tt.want)
			}
		})
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for name, opts := range map[string]Options{
		"nothing":      {},
		"both":         {Secret: []byte(strings.Repeat("s", 32)), PublicKeyPEM: []byte("x")},
		"short secret": {Secret: []byte("short")},
		"not a key":    {PublicKeyPEM: []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
