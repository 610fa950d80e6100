//go:build !linux

package epollset

import (
	"errors"
	"syscall"
)

// Set does not exist without epoll; New says so.
type Set struct{}

// New reports errors.ErrUnsupported: callers read each socket with a
// goroutine of its own.
func New(string, int) (*Set, error) { return nil, errors.ErrUnsupported }

func (*Set) Add(syscall.RawConn, uint64) error { return errors.ErrUnsupported }
func (*Set) Remove(syscall.RawConn) error      { return errors.ErrUnsupported }
func (*Set) Wait() (int, error)                { return 0, errors.ErrUnsupported }
func (*Set) Token(int) uint64                  { return 0 }
func (*Set) Close() error                      { return nil }
