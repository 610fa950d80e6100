package redisstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// reapLease is how long a reaper has to finish visiting a node it claimed
// before another reaper may claim the node again (and repeat the visit,
// which is idempotent): far above the few seconds a node with 100,000
// rooms and sessions takes.
const reapLease = time.Minute

// visitPage is how many members of a node's set one step of a visit reads
// (SSCAN COUNT) and runs scripts for in one pipeline.
const visitPage = 500

// nodesKey is the registry of live nodes. reapingKey holds the nodes being
// visited; its hash tag is the registry's whole key, so both are in one
// slot and a claim moves a node from one to the other atomically.
func (s *Store) nodesKey() string   { return s.prefix + keyNodes }
func (s *Store) reapingKey() string { return s.prefix + "{" + s.prefix + keyNodes + "}:" + keyReaping }
func (s *Store) registryKeys() []string {
	return []string{s.nodesKey(), s.reapingKey()}
}

// Heartbeat records nodeID alive until the Redis server's current time plus
// ttl (rounded up to whole milliseconds). Calling it again extends the
// lease; a node that stops calling it is reaped once the lease ends.
//
// A node that finds itself missing from the registry was reaped (or
// removed) while alive, and its sets deleted: what this process listed for
// it is listed again, so that a later death is reaped in full.
func (s *Store) Heartbeat(ctx context.Context, nodeID string, ttl time.Duration) error {
	if nodeID == "" {
		return errors.New("redisstore: heartbeat: empty node id")
	}
	if ttl <= 0 {
		return fmt.Errorf("redisstore: heartbeat: ttl must be positive, got %v", ttl)
	}
	// Whole milliseconds, rounded up: the script's clock is Redis's in ms.
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	reply, err := heartbeatScript.Run(ctx, s.client, s.registryKeys(), nodeID, ms).Int64Slice()
	if err != nil {
		return unavailable("heartbeat", err)
	}
	if len(reply) == 2 && reply[1] == 1 {
		return errors.Join(s.nodeRooms.relist(ctx, nodeID), s.nodeSessions.relist(ctx, nodeID))
	}
	return nil
}

// ReapDeadNodes claims every node whose lease ended (at most the reap batch
// per call), marks the participants it held disconnected, departs its live
// sessions and returns, per claimed node, the sorted ids of the rooms whose
// participant lists changed (possibly none). Claiming is atomic: among any
// number of concurrent callers on any nodes, exactly one gets a given dead
// node, unless that caller fails to finish within reapLease; then the node
// is claimed again and the visit repeated. A visit that fails part way is
// resumed by the same Store's next call, which reports the node with the
// rooms every attempt changed. With an error, the nodes visited in full
// before it are returned too.
//
// Each step touches one hash slot (a cluster allows nothing else): the
// claim touches the registry, then the node's room set is read and each
// room visited by one script on the room's keys, then each session the node
// may have held by one script on the session.
func (s *Store) ReapDeadNodes(ctx context.Context) (map[string][]string, error) {
	reaped := make(map[string][]string)
	// Visits this process claimed earlier and could not finish come first:
	// the claim is still ours, and nobody else finishes them before
	// reapLease, which would leave the dead node's sessions live (so
	// unclaimable by their reconnecting clients) for that long.
	for _, node := range s.unfinishedVisits.nodes() {
		if err := s.finishVisit(ctx, node, reaped); err != nil {
			return reaped, err
		}
	}
	claimed, err := claimDeadNodesScript.Run(ctx, s.client, s.registryKeys(), s.reapBatch, reapLease.Milliseconds()).StringSlice()
	if err != nil {
		return reaped, unavailable("reap dead nodes", err)
	}
	for _, node := range claimed {
		if err := s.finishVisit(ctx, node, reaped); err != nil {
			return reaped, err
		}
	}
	return reaped, nil
}

// finishVisit visits a node this process claimed and, once the visit is
// complete, records in reaped every room it changed, counting those
// changed by earlier attempts. A failed attempt is kept for the next call.
func (s *Store) finishVisit(ctx context.Context, node string, reaped map[string][]string) error {
	changed, err := s.visitNode(ctx, node)
	changed = append(s.unfinishedVisits.take(node), changed...)
	if err != nil {
		s.unfinishedVisits.keep(node, changed)
		return fmt.Errorf("redisstore: reap dead node %s (visited again on the next call): %w", node, err)
	}
	slices.Sort(changed)
	reaped[node] = slices.Compact(changed)
	return nil
}

// unfinishedVisits holds the nodes this process claimed but has not yet
// finished visiting, each with the rooms its attempts changed so far (a
// second attempt does not see them change again).
type unfinishedVisits struct {
	mu      sync.Mutex
	changed map[string][]string
}

func (u *unfinishedVisits) nodes() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Sorted(maps.Keys(u.changed))
}

// take removes node and returns the rooms its earlier attempts changed.
func (u *unfinishedVisits) take(node string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	changed := u.changed[node]
	delete(u.changed, node)
	return changed
}

// keep records node as unfinished, with the rooms changed so far.
func (u *unfinishedVisits) keep(node string, changed []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.changed == nil {
		u.changed = make(map[string][]string)
	}
	u.changed[node] = changed
}

// RemoveNode drops nodeID from the registry on a clean shutdown, so nobody
// reaps it later. The gateway disconnects the node's participants first;
// any it missed (a failed DisconnectParticipant) are marked disconnected here rather
// than left connected forever, though nobody is told of those rooms. Should
// this call fail half-way, the node stays in the reaping set and a reaper
// finishes the visit after reapLease.
func (s *Store) RemoveNode(ctx context.Context, nodeID string) error {
	if nodeID == "" {
		return errors.New("redisstore: remove node: empty node id")
	}
	if err := leaveScript.Run(ctx, s.client, s.registryKeys(), nodeID, reapLease.Milliseconds()).Err(); err != nil {
		return unavailable("remove node", err)
	}
	if _, err := s.visitNode(ctx, nodeID); err != nil {
		return fmt.Errorf("redisstore: remove node %s: %w", nodeID, err)
	}
	s.nodeRooms.forget(nodeID)
	s.nodeSessions.forget(nodeID)
	return nil
}

// visitNode disconnects what node held in every room of its set and
// departs every session of its set still live on it, deletes the node's
// keys and takes it out of the reaping set. It returns the ids of the
// rooms that changed, unsorted, even when it fails part way (those rooms
// stay changed: a second visit does not see them change again).
func (s *Store) visitNode(ctx context.Context, node string) ([]string, error) {
	var changed []string
	err := s.scanSet(ctx, s.nodeRooms.key(node), func(roomIDs []string) error {
		pipe := s.client.Pipeline()
		cmds := make([]*redis.Cmd, len(roomIDs))
		for i, id := range roomIDs {
			cmds[i] = disconnectNodeScript.Run(ctx, pipe, s.roomKeys(id).all(), s.prefix, id, node)
		}
		_, _ = pipe.Exec(ctx) // each command's own error is checked below
		for i, id := range roomIDs {
			n, err := runAgainIfNoScript(ctx, s, cmds[i], disconnectNodeScript, s.roomKeys(id).all(), s.prefix, id, node)
			if err != nil {
				return unavailable("disconnect the participants of node "+node, err)
			}
			if n > 0 {
				changed = append(changed, id)
			}
		}
		return nil
	})
	if err != nil {
		return changed, err
	}
	err = s.scanSet(ctx, s.nodeSessions.key(node), func(keys []string) error {
		// The departure index first, as for every departure.
		now := float64(time.Now().UnixMilli())
		zs := make([]redis.Z, len(keys))
		for i, k := range keys {
			zs[i] = redis.Z{Score: now, Member: k}
		}
		if err := s.client.ZAdd(ctx, s.sessionsByAgeKey(), zs...).Err(); err != nil {
			return unavailable("depart the sessions of node "+node, err)
		}
		pipe := s.client.Pipeline()
		cmds := make([]*redis.Cmd, len(keys))
		for i, k := range keys {
			cmds[i] = departDeadNodeSessionScript.Run(ctx, pipe, []string{s.sessionKey(k)}, node)
		}
		_, _ = pipe.Exec(ctx)
		for i, k := range keys {
			if _, err := runAgainIfNoScript(ctx, s, cmds[i], departDeadNodeSessionScript, []string{s.sessionKey(k)}, node); err != nil {
				return unavailable("depart the sessions of node "+node, err)
			}
		}
		return nil
	})
	if err != nil {
		return changed, err
	}
	// All in the node's slot.
	if err := s.client.Del(ctx, s.nodeRooms.key(node), s.nodeSessions.key(node),
		s.prefix+fmt.Sprintf(legacyNodeSocketsFmt, node), s.prefix+fmt.Sprintf(legacyNodeEntriesFmt, node)).Err(); err != nil {
		return changed, unavailable("delete the keys of node "+node, err)
	}
	if err := finishReapScript.Run(ctx, s.client, s.registryKeys(), node).Err(); err != nil {
		return changed, unavailable("finish the visit of node "+node, err)
	}
	return changed, nil
}

// scanSet calls fn with the members of a set, a page at a time. A member
// added during the scan may be missed; the sets scanned belong to dead or
// leaving nodes, which add nothing.
func (s *Store) scanSet(ctx context.Context, key string, fn func(members []string) error) error {
	var cursor uint64
	for {
		members, next, err := s.client.SScan(ctx, key, cursor, "", visitPage).Result()
		if err != nil {
			return unavailable("scan "+key, err)
		}
		if len(members) > 0 {
			if err := fn(members); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}
