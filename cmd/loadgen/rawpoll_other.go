//go:build !linux

package main

import "syscall"

// rawPoller does not exist without epoll: a goroutine reads each
// connection.
type rawPoller struct{}

func (p *rawPoller) remove(*rawClient) {}

func (c *rawClient) startReading() { go c.readLoop() }

// stampArrivals does nothing here: arrival latency is measured on Linux.
func stampArrivals(syscall.RawConn) error { return nil }
