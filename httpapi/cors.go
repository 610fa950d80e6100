package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// CORS on the REST routes. The original had none (Nest's enableCors was
// never called): a preflight got Express's 404 and no answer carried
// Access-Control-* headers, so only same-origin pages and non-browser
// clients could use the API. That stays the default; WithCORSOrigins opens
// the API to the listed origins only.

// corsPolicy answers preflights and marks answers for allowed origins.
type corsPolicy struct {
	origins map[string]bool
	any     bool // "*" was listed
}

func newCORSPolicy(origins []string) *corsPolicy {
	if len(origins) == 0 {
		return nil
	}
	p := &corsPolicy{origins: make(map[string]bool, len(origins))}
	for _, o := range origins {
		if o == "*" {
			p.any = true
		}
		p.origins[o] = true
	}
	return p
}

func (p *corsPolicy) allows(origin string) bool {
	return p != nil && origin != "" && (p.any || p.origins[origin])
}

// corsMethods are the methods of the REST routes a page may call.
const corsMethods = "GET, HEAD, POST, DELETE"

// corsMaxAge lets a browser cache a preflight answer for ten minutes
// (Chromium's own cap is two hours, Firefox's a day).
const corsMaxAge = "600"

// exposedHeaders are the answer headers a page may read besides the
// CORS-safelisted ones.
const exposedHeaders = "ETag, Retry-After, WWW-Authenticate"

// WithCORSOrigins answers CORS preflights on the REST routes and marks
// their answers readable for the listed origins ("*": any origin, without
// credentials). Empty: no CORS, as the original; preflights get its 404.
// Cross-origin writes from browsers are refused unless their origin is
// listed (see the package comment, Cross-site writes).
func WithCORSOrigins(origins []string) Option {
	return func(c *config) { c.corsOrigins = origins }
}

// preflight answers OPTIONS on a REST route: a CORS preflight from an
// allowed origin gets 204 with the allowances; anything else gets the
// original's 404.
func (a *api) preflight(c echo.Context) error {
	req := c.Request()
	origin := req.Header.Get("Origin")
	method := req.Header.Get("Access-Control-Request-Method")
	if !a.cors.allows(origin) || method == "" {
		return errNotFound
	}
	h := c.Response().Header()
	a.cors.allowOrigin(h, origin)
	h.Set("Access-Control-Allow-Methods", corsMethods)
	if hdrs := req.Header.Get("Access-Control-Request-Headers"); hdrs != "" {
		h.Set("Access-Control-Allow-Headers", hdrs)
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	h.Set("Access-Control-Max-Age", corsMaxAge)
	return c.NoContent(http.StatusNoContent)
}

func (p *corsPolicy) allowOrigin(h http.Header, origin string) {
	if p.any {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
}

// corsHeaders marks the answers of the REST routes (errors included) for
// an allowed origin, before the handler runs.
func (a *api) corsHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if origin := c.Request().Header.Get("Origin"); a.cors.allows(origin) {
			h := c.Response().Header()
			a.cors.allowOrigin(h, origin)
			h.Set("Access-Control-Expose-Headers", exposedHeaders)
		}
		return next(c)
	}
}

// Cross-site writes. The original parsed urlencoded bodies (body-parser's
// urlencoded, which Nest installs), and a urlencoded POST is what an HTML
// form on any web site can send from a visitor's browser without a
// preflight, so any page could make its visitors create rooms. (A
// cross-site DELETE or JSON POST needs a preflight, which the original
// answered 404, so those never left the browser.) A browser marks such a
// request with Sec-Fetch-Site: cross-site or, if it is older, with an
// Origin that is not the server's; no script, curl or server-side client
// sends either. net/http's CrossOriginProtection refuses exactly those on
// the write routes; requests without these headers (every non-browser
// client) and same-origin pages are unaffected, and the origins of
// WithCORSOrigins are trusted.

// CheckCORSOrigins reports an entry of a WithCORSOrigins list that is not
// an origin ("scheme://host[:port]") or "*".
func CheckCORSOrigins(origins []string) error {
	_, err := newCrossOriginGuard(origins)
	return err
}

// newCrossOriginGuard builds the check for the write routes.
func newCrossOriginGuard(origins []string) (*http.CrossOriginProtection, error) {
	p := http.NewCrossOriginProtection()
	for _, o := range origins {
		if o == "*" {
			continue // "*" opens reads to every page, never writes
		}
		if err := p.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// refuseCrossSite answers a browser's cross-origin write with 403.
func (a *api) refuseCrossSite(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := a.crossOrigin.Check(c.Request()); err != nil {
			a.refused(RefusalCrossOrigin)
			return &httpError{http.StatusForbidden, "Cross-origin request refused: this origin may not create or close rooms"}
		}
		return next(c)
	}
}
