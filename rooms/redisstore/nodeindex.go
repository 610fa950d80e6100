package redisstore

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
)

// nodeIndex keeps one of a node's own sets (the rooms where it may hold
// connected entries, or the sessions that may be live on it), which a
// reaper reads when the node dies. Those sets live in the node's hash
// slot, the entries and sessions in their room's or session's slot, so no
// script can update both at once (a cluster refuses it). Instead:
//
//   - a member is added before the write that may need it (write-ahead):
//     a set is a superset of what the node holds, never a subset, so a
//     reaper never misses what a dead node held;
//   - a member is removed only by the node itself, after a write reported
//     that the node holds nothing more there, under a per-member lock that
//     the adding side takes too: a removal can never undo an addition made
//     for a later write of the same process. Other nodes never touch these
//     sets, so what another node took over stays listed (stale, harmless:
//     its visit finds nothing) until this node lets go or is reaped.
//
// The process remembers which members it added, so each costs one SADD
// while it stays listed, not one per write. The sets are deleted when the
// node is reaped or leaves; a node that was reaped while alive (cut off for
// longer than its lease) learns it from its next heartbeat and lists what
// it remembers again (see Store.Heartbeat).
type nodeIndex struct {
	s    *Store
	kind string // keyFmt's name in messages
	// keyFmt builds the set's key from the node id.
	keyFmt string

	seed    maphash.Seed
	stripes [indexStripes]sync.Mutex

	mu    sync.Mutex
	known map[string]map[string]struct{} // node -> members listed
}

// indexStripes is how many locks the members of a node index share: enough
// that unrelated rooms rarely wait for each other.
const indexStripes = 64

func newNodeIndex(s *Store, kind, keyFmt string) *nodeIndex {
	return &nodeIndex{s: s, kind: kind, keyFmt: keyFmt, seed: maphash.MakeSeed(), known: make(map[string]map[string]struct{})}
}

func (ix *nodeIndex) key(node string) string { return ix.s.prefix + fmt.Sprintf(ix.keyFmt, node) }

func (ix *nodeIndex) lock(node, member string) func() {
	var h maphash.Hash
	h.SetSeed(ix.seed)
	h.WriteString(node)
	h.WriteByte(0)
	h.WriteString(member)
	mu := &ix.stripes[h.Sum64()%indexStripes]
	mu.Lock()
	return mu.Unlock
}

func (ix *nodeIndex) listed(node, member string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	_, ok := ix.known[node][member]
	return ok
}

func (ix *nodeIndex) mark(node, member string, listed bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	set := ix.known[node]
	if listed {
		if set == nil {
			set = make(map[string]struct{})
			ix.known[node] = set
		}
		set[member] = struct{}{}
		return
	}
	delete(set, member)
	if len(set) == 0 {
		delete(ix.known, node)
	}
}

// add lists member under node, then runs write. An empty node id is no
// node: write runs alone.
func (ix *nodeIndex) add(ctx context.Context, node, member string, write func() error) error {
	if node == "" {
		return write()
	}
	defer ix.lock(node, member)()
	if !ix.listed(node, member) {
		if err := ix.s.client.SAdd(ctx, ix.key(node), member).Err(); err != nil {
			return unavailable("list "+ix.kind+" of node "+node, err)
		}
		ix.mark(node, member, true)
	}
	return write()
}

// remove runs write and, when it reports that node holds nothing more
// under member, takes member off the node's set. A failed removal leaves a
// stale member, which only costs a reaper a visit.
func (ix *nodeIndex) remove(ctx context.Context, node, member string, write func() (drop bool, err error)) error {
	if node == "" {
		_, err := write()
		return err
	}
	defer ix.lock(node, member)()
	drop, err := write()
	if err != nil || !drop || !ix.listed(node, member) {
		return err
	}
	if ix.s.client.SRem(ctx, ix.key(node), member).Err() == nil {
		ix.mark(node, member, false)
	}
	return nil
}

// relist adds every member this process listed under node again, after
// the node's set was deleted by a reaper while the node was still alive.
func (ix *nodeIndex) relist(ctx context.Context, node string) error {
	ix.mu.Lock()
	members := make([]any, 0, len(ix.known[node]))
	for m := range ix.known[node] {
		members = append(members, m)
	}
	ix.mu.Unlock()
	for len(members) > 0 {
		n := min(len(members), relistBatch)
		if err := ix.s.client.SAdd(ctx, ix.key(node), members[:n]...).Err(); err != nil {
			return unavailable("list "+ix.kind+" of node "+node+" again", err)
		}
		members = members[n:]
	}
	return nil
}

// relistBatch bounds one SADD of relist.
const relistBatch = 1000

// forget drops what this process listed under node (the node left).
func (ix *nodeIndex) forget(node string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	delete(ix.known, node)
}
