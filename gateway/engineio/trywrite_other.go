//go:build !linux

package engineio

import "net"

// writevScratch has nothing to hold where writev is not reached directly.
type writevScratch struct{}

func newWritevScratch() *writevScratch { return new(writevScratch) }

// tryWriteFrames writes nothing where writev is not reached directly: the
// flush continues on a goroutine, with writeFrames.
func (ws *wsConn) tryWriteFrames(bufs *net.Buffers, _ *writevScratch) (complete bool, err error) {
	return len(*bufs) == 0, nil
}
