package edge

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParsePrefixes reads a comma-separated list of CIDR prefixes or single
// addresses ("10.0.0.0/8, 192.0.2.7, ::1"), as TRUSTED_PROXIES is written.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR prefix: %w", item, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix", item)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ClientIPs finds the client address of a request. The zero value trusts
// no proxy.
type ClientIPs struct {
	trusted []netip.Prefix
}

// NewClientIPs trusts X-Forwarded-For from peers in trusted.
func NewClientIPs(trusted []netip.Prefix) *ClientIPs {
	return &ClientIPs{trusted: trusted}
}

// Trusted reports whether a is one of the trusted proxies.
func (c *ClientIPs) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Of returns the client address of r: its peer, or, when the peer is a
// trusted proxy, the rightmost X-Forwarded-For entry that is not a trusted
// proxy (each proxy appends the peer it saw, so entries left of the first
// untrusted one are the client's own claims). An entry that does not parse
// ends the walk at the last trusted hop. The result is invalid only when
// the peer address itself cannot be parsed.
func (c *ClientIPs) Of(r *http.Request) netip.Addr {
	peer := addrOf(r.RemoteAddr)
	if !peer.IsValid() || len(c.trusted) == 0 || !c.Trusted(peer) {
		return peer
	}
	client := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		entries := strings.Split(hops[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(entries[j]))
			if err != nil {
				return client
			}
			client = a.Unmap()
			if !c.Trusted(client) {
				return client
			}
		}
	}
	return client
}

// addrOf parses a "host:port" peer address.
func addrOf(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// Key is what per-address limits count by: an IPv4 address, or the /64 an
// IPv6 address is in (one subscriber gets a whole /64, so counting single
// IPv6 addresses would bound nothing).
func Key(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a
}
