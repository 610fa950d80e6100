//go:build !linux

package sioclient

import "syscall"

func bindAddressNoPort(network, address string, rc syscall.RawConn) error { return nil }
