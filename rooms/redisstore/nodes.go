package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Heartbeat records nodeID alive until the Redis server's current time plus
// ttl (rounded up to whole milliseconds). Calling it again extends the
// lease; a node that stops calling it is reaped once the lease ends.
func (s *Store) Heartbeat(ctx context.Context, nodeID string, ttl time.Duration) error {
	if nodeID == "" {
		return errors.New("redisstore: heartbeat: empty node id")
	}
	if ttl <= 0 {
		return fmt.Errorf("redisstore: heartbeat: ttl must be positive, got %v", ttl)
	}
	// Whole milliseconds, rounded up: the script's clock is Redis's in ms.
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	if err := heartbeatScript.Run(ctx, s.client, []string{s.nodesKey()}, s.prefix, nodeID, ms).Err(); err != nil {
		return unavailable("heartbeat", err)
	}
	return nil
}

// ReapDeadNodes claims every node whose lease ended (at most the reap batch
// per call), marks the participants indexed under it disconnected and
// returns, per claimed node, the sorted ids of the rooms whose participant
// lists changed (possibly none). Claiming is atomic: among any number of
// concurrent callers on any nodes, exactly one gets a given dead node.
func (s *Store) ReapDeadNodes(ctx context.Context) (map[string][]string, error) {
	raw, err := reapDeadNodesScript.Run(ctx, s.client, []string{s.nodesKey()}, s.prefix, s.reapBatch).Slice()
	if err != nil {
		return nil, unavailable("reap dead nodes", err)
	}
	reaped := make(map[string][]string, len(raw))
	for _, entry := range raw {
		node, roomIDs, err := parseReaped(entry)
		if err != nil {
			// The nodes are claimed already; say which, so they can be
			// handled by hand.
			return nil, fmt.Errorf("redisstore: reap dead nodes: unexpected reply %v: %w", raw, err)
		}
		slices.Sort(roomIDs)
		reaped[node] = roomIDs
	}
	return reaped, nil
}

// parseReaped reads one {node, {room, ...}} entry of the reap script.
func parseReaped(entry any) (string, []string, error) {
	pair, ok := entry.([]any)
	if !ok || len(pair) != 2 {
		return "", nil, fmt.Errorf("entry %v is not a (node, rooms) pair", entry)
	}
	node, ok := pair[0].(string)
	if !ok {
		return "", nil, fmt.Errorf("node %v is not a string", pair[0])
	}
	list, ok := pair[1].([]any)
	if !ok {
		return "", nil, fmt.Errorf("rooms %v of node %s are not a list", pair[1], node)
	}
	roomIDs := make([]string, 0, len(list))
	for _, r := range list {
		id, ok := r.(string)
		if !ok {
			return "", nil, fmt.Errorf("room %v of node %s is not a string", r, node)
		}
		roomIDs = append(roomIDs, id)
	}
	return node, roomIDs, nil
}

// RemoveNode drops nodeID from the registry on a clean shutdown, so nobody
// reaps it later. The gateway disconnects the node's participants first;
// any it missed (a failed DisconnectParticipant) are marked disconnected here rather
// than left connected forever, though nobody is told of those rooms.
func (s *Store) RemoveNode(ctx context.Context, nodeID string) error {
	if nodeID == "" {
		return errors.New("redisstore: remove node: empty node id")
	}
	if err := removeNodeScript.Run(ctx, s.client, []string{s.nodesKey()}, s.prefix, nodeID).Err(); err != nil {
		return unavailable("remove node", err)
	}
	return nil
}
