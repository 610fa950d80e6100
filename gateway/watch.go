package gateway

import "context"

// watchRoom asks the broker for mb's room's envelopes on behalf of the
// membership (room delivery; in global delivery every room reaches every
// node); mb.release ends that need, once. It returns once the room's
// envelopes flow here, so the room's position read next (hub.prepare)
// misses nothing published after it; if they do not flow yet (ctx ended,
// the broker's server is down) the broker keeps trying and resyncs the
// room once they do.
func (g *Gateway) watchRoom(ctx context.Context, mb *membership) {
	if g.cfg.Delivery != DeliveryRoom {
		return
	}
	if err := g.cfg.Broker.Watch(ctx, mb.roomID); err != nil {
		g.log.Warn("gateway: the broker does not carry a joined room's events yet; it keeps trying", "room", mb.roomID, "err", err)
	}
	mb.watcher = g.cfg.Broker
}

// release ends the membership's watch of its room, if it holds one. Every
// joined socket has a membership, so the watch is a field and a flag rather
// than a closure and a sync.Once (64 bytes a join).
func (mb *membership) release() {
	if mb != nil && mb.watcher != nil && mb.unwatched.CompareAndSwap(false, true) {
		mb.watcher.Unwatch(mb.roomID)
	}
}
