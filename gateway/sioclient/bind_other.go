//go:build !linux

package sioclient

import "syscall"

// BindAddressNoPort is a no-op where IP_BIND_ADDRESS_NO_PORT does not exist.
func BindAddressNoPort(network, address string, rc syscall.RawConn) error { return nil }
