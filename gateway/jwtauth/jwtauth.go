// Package jwtauth verifies the JSON Web Tokens sockets present, for
// deployments that have users: HS256 with a shared secret, or RS256/ES256
// with the issuer's public key. The username is read from one claim, so a
// client cannot choose it.
package jwtauth

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultClaim is the claim holding the username.
const DefaultClaim = "sub"

// leeway absorbs clock skew between the token's issuer and this server.
const leeway = 30 * time.Second

// Options configure a Verifier: exactly one of Secret and PublicKeyPEM.
type Options struct {
	// Secret is the HS256 shared secret.
	Secret []byte
	// PublicKeyPEM is a PEM public key (RSA for RS256, EC P-256 for ES256).
	PublicKeyPEM []byte
	// Claim names the claim holding the username (default "sub").
	Claim string
}

// Verifier checks tokens; it is safe for concurrent use.
type Verifier struct {
	parser *jwt.Parser
	key    any
	claim  string
}

// New builds a Verifier.
func New(opts Options) (*Verifier, error) {
	if opts.Claim == "" {
		opts.Claim = DefaultClaim
	}
	v := &Verifier{claim: opts.Claim}
	switch {
	case len(opts.Secret) > 0 && len(opts.PublicKeyPEM) > 0:
		return nil, errors.New("jwtauth: give a secret or a public key, not both")
	case len(opts.Secret) > 0:
		if len(opts.Secret) < 32 {
			return nil, errors.New("jwtauth: an HS256 secret needs at least 32 bytes")
		}
		v.key = opts.Secret
		v.parser = jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithLeeway(leeway))
	case len(opts.PublicKeyPEM) > 0:
		if key, err := jwt.ParseRSAPublicKeyFromPEM(opts.PublicKeyPEM); err == nil {
			v.key = key
			v.parser = jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithLeeway(leeway))
			break
		}
		key, err := jwt.ParseECPublicKeyFromPEM(opts.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("jwtauth: the public key is neither RSA nor EC PEM: %w", err)
		}
		v.key = key
		v.parser = jwt.NewParser(jwt.WithValidMethods([]string{"ES256"}), jwt.WithLeeway(leeway))
	default:
		return nil, errors.New("jwtauth: needs a secret or a public key")
	}
	return v, nil
}

// Authenticate verifies token (signature, algorithm, exp/nbf/iat) and
// returns the username its claim holds.
func (v *Verifier) Authenticate(token string) (string, error) {
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keyFor); err != nil {
		return "", fmt.Errorf("jwtauth: %w", err)
	}
	name, ok := claims[v.claim].(string)
	if !ok || name == "" {
		return "", fmt.Errorf("jwtauth: claim %q is missing or not a string", v.claim)
	}
	return name, nil
}

func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	switch v.key.(type) {
	case []byte, *rsa.PublicKey, *ecdsa.PublicKey:
		return v.key, nil
	}
	return nil, errors.New("jwtauth: no key")
}
