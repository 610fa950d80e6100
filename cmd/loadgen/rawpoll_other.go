//go:build !linux

package main

// rawPoller does not exist without epoll: a goroutine reads each
// connection.
type rawPoller struct{}

func (p *rawPoller) remove(*rawClient) {}

func (c *rawClient) startReading() { go c.readLoop() }
