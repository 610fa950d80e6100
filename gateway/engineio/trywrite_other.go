//go:build !linux

package engineio

import "net"

// tryWriteFrames writes nothing where writev is not reached directly: the
// flush continues on a goroutine, with writeFrames.
func (ws *wsConn) tryWriteFrames(bufs *net.Buffers) (complete bool, err error) {
	return len(*bufs) == 0, nil
}
