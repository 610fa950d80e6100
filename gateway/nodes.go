package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"os"
	"slices"
	"time"
)

// NodeRegistry is the liveness record shared by the nodes of one deployment
// (the Redis store implements it). Each node renews its own entry; any node
// may reap an expired one, and exactly one of them gets each dead node.
type NodeRegistry interface {
	// Heartbeat keeps nodeID alive for ttl from now (the registry's clock).
	Heartbeat(ctx context.Context, nodeID string, ttl time.Duration) error
	// ReapDeadNodes claims every node whose heartbeat expired, marks its
	// participants disconnected and returns, per claimed node, the rooms
	// whose participant lists changed. With an error it still returns the
	// nodes it finished; one it could not finish is finished by a later call.
	ReapDeadNodes(ctx context.Context) (map[string][]string, error)
	// RemoveNode drops nodeID's entry on a clean shutdown.
	RemoveNode(ctx context.Context, nodeID string) error
}

// NewNodeID names this process: readable in logs, unique across restarts.
func NewNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// runLiveness beats for this node and reaps dead ones every interval until
// ctx ends. A reaped node's rooms are told twice over the broker: their
// participant lists changed, and messages the dead node stored but never
// published must be read back from the store.
func (g *Gateway) runLiveness(ctx context.Context) {
	ticker := time.NewTicker(g.cfg.HeartbeatInterval)
	defer ticker.Stop()
	var healthySince time.Time // zero while beats fail
	for {
		g.livenessRound(ctx, &healthySince)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// livenessRound beats, then reaps, but only once this node has been beating
// for a whole NodeTTL: after an outage of the registry every node's entry has
// expired, and the first node back must not declare the others dead before
// they had a chance to beat again.
func (g *Gateway) livenessRound(ctx context.Context, healthySince *time.Time) {
	opCtx, cancel := context.WithTimeout(ctx, g.cfg.HeartbeatInterval)
	defer cancel()
	if err := g.cfg.Nodes.Heartbeat(opCtx, g.cfg.NodeID, g.cfg.NodeTTL); err != nil {
		g.stats.heartbeatsFailed.Add(1)
		if !healthySince.IsZero() && ctx.Err() == nil {
			g.log.Warn("gateway: node heartbeat failed", "node", g.cfg.NodeID, "err", err)
		}
		*healthySince = time.Time{}
		return
	}
	g.stats.heartbeats.Add(1)
	if healthySince.IsZero() {
		*healthySince = time.Now()
	}
	if time.Since(*healthySince) < g.cfg.NodeTTL {
		return
	}
	reaped, err := g.cfg.Nodes.ReapDeadNodes(opCtx)
	if err != nil && ctx.Err() == nil {
		g.log.Warn("gateway: cannot reap dead nodes; trying again next round", "err", err)
	}
	g.stats.nodesReaped.Add(uint64(len(reaped)))
	if len(reaped) == 0 {
		return
	}
	// The reap may have used up opCtx; the rooms must still be told.
	pubCtx, cancelPub := context.WithTimeout(ctx, g.cfg.HeartbeatInterval)
	defer cancelPub()
	for _, node := range slices.Sorted(maps.Keys(reaped)) {
		roomIDs := reaped[node]
		g.log.Warn("gateway: node stopped beating; its participants are now disconnected", "deadNode", node, "rooms", len(roomIDs))
		for _, roomID := range roomIDs {
			_ = g.publish(pubCtx, roomID, Envelope{Kind: KindParticipants})
			_ = g.publish(pubCtx, roomID, Envelope{Kind: KindSync})
		}
	}
}

// pruneSessions deletes, every prune interval, the sessions that departed
// longer ago than any reconnection could claim them, until ctx ends.
func (g *Gateway) pruneSessions(ctx context.Context) {
	keep := max(g.cfg.RejoinGrace, g.cfg.RecoveryWindow)
	ticker := time.NewTicker(max(keep, time.Minute))
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		opCtx, cancel := context.WithTimeout(ctx, g.cfg.StoreTimeout)
		n, err := g.cfg.Sessions.PruneSessions(opCtx, time.Now().Add(-keep))
		cancel()
		if err != nil && ctx.Err() == nil {
			g.log.Warn("gateway: cannot prune departed sessions", "err", err)
		} else if n > 0 {
			g.log.Debug("gateway: pruned departed sessions", "count", n)
		}
	}
}

// freeIdleRooms frees, every roomIdleAfter, the delivery state of rooms that
// no local socket uses any more, until ctx ends.
func (g *Gateway) freeIdleRooms(ctx context.Context) {
	ticker := time.NewTicker(roomIdleAfter)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if n := g.hub.freeIdleRooms(g.hub.now().Add(-roomIdleAfter)); n > 0 {
			g.log.Debug("gateway: freed the delivery state of idle rooms", "count", n)
		}
	}
}
