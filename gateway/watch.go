package gateway

import (
	"context"
	"sync"
)

// watchRoom asks the broker for roomID's envelopes on behalf of one
// membership of this node (room delivery; in global delivery every room
// reaches every node), and returns what ends that need, once, when the
// membership ends. It returns once the room's envelopes flow here, so the
// room's position read next (hub.prepare) misses nothing published after
// it; if they do not flow yet (ctx ended, the broker's server is down) the
// broker keeps trying and resyncs the room once they do.
func (g *Gateway) watchRoom(ctx context.Context, roomID string) (unwatch func()) {
	if g.cfg.Delivery != DeliveryRoom {
		return func() {}
	}
	if err := g.cfg.Broker.Watch(ctx, roomID); err != nil {
		g.log.Warn("gateway: the broker does not carry a joined room's events yet; it keeps trying", "room", roomID, "err", err)
	}
	var once sync.Once
	return func() { once.Do(func() { g.cfg.Broker.Unwatch(roomID) }) }
}

// release ends the membership's watch of its room, if it holds one.
func (mb *membership) release() {
	if mb != nil && mb.unwatch != nil {
		mb.unwatch()
	}
}
