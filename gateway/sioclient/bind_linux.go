package sioclient

import "syscall"

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (not in package
// syscall).
const ipBindAddressNoPort = 24

// BindAddressNoPort, a net.Dialer Control, lets a connection with a fixed source address take its
// port at connect time, when the destination is known: without it, binding
// the source address picks a port unique across all destinations, and one
// source address runs out after one ephemeral range (~28k) of connections.
func BindAddressNoPort(network, address string, rc syscall.RawConn) error {
	if network != "tcp4" && network != "tcp" {
		return nil
	}
	return rc.Control(func(fd uintptr) {
		// Best effort: a kernel without the option still connects.
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
}
