package memstore

import (
	"container/heap"
	"time"

	"chatgateway/rooms"
)

// participantList is one room's entries, one per username, in list order.
// Every operation is O(log n) but a prune or eviction, which is O(removed)
// plus, now and then, one O(n) compaction: a join into a big room, or into
// a churning one, never scans the list.
type participantList struct {
	// entries is the list order; removed entries stay (marked) until
	// enough of them pile up for a compaction.
	entries []*entry
	removed int
	byName  map[string]*entry
	// byHolder finds the entry a socket holds in this room.
	byHolder map[string]*entry
	// gone orders the disconnected entries by when they disconnected; its
	// items go stale instead of being removed (see goneItem.live).
	gone goneHeap
	// disconnected counts the entries that are not connected.
	disconnected int
	nextRank     uint64
}

type entry struct {
	p    rooms.Participant // SocketID is the holder, "" for none
	rank uint64            // list position: ascending, never reused
	// generation counts the entry's disconnections: it tells the heap item
	// of the latest one (which has its time) from earlier ones. The time is
	// kept only there: an entry per joined socket is 112 bytes, not 144.
	generation uint64
	removed    bool
}

func newParticipantList() participantList {
	return participantList{byName: make(map[string]*entry), byHolder: make(map[string]*entry)}
}

// join is rooms.Store.UpsertParticipant on a locked room.
func (l *participantList) join(p rooms.Participant, limits rooms.ParticipantLimits) error {
	held := l.byHolder[p.SocketID]
	e := l.byName[p.Username]
	if held == e {
		held = nil // the socket re-joins under the name it holds
	}
	if e == nil && limits.Max > 0 {
		// Every disconnected entry can make room, the socket's previous
		// one too; refuse before changing anything when none would.
		connected := len(l.byName) - l.disconnected
		if held != nil && held.p.Connected {
			connected--
		}
		if connected >= limits.Max {
			return rooms.RoomFull(p.RoomID, limits.Max)
		}
	}
	if held != nil {
		l.release(held, limits.Now)
	}
	if e == nil {
		l.makeRoom(limits)
		e = &entry{p: rooms.Participant{RoomID: p.RoomID, Username: p.Username}, rank: l.nextRank}
		l.nextRank++
		l.entries = append(l.entries, e)
		l.byName[p.Username] = e
	} else {
		if e.p.SocketID != p.SocketID {
			// Taken over from its previous holder, whose disconnection
			// no longer concerns it.
			delete(l.byHolder, e.p.SocketID)
		}
		if !e.p.Connected {
			l.disconnected--
		}
	}
	e.p.Avatar, e.p.SocketID, e.p.NodeID, e.p.Connected = p.Avatar, p.SocketID, p.NodeID, true
	l.byHolder[p.SocketID] = e
	return nil
}

// release leaves e held by nobody and disconnected at `at`.
func (l *participantList) release(e *entry, at time.Time) {
	delete(l.byHolder, e.p.SocketID)
	e.p.SocketID = ""
	if e.p.Connected {
		l.disconnect(e, at)
	}
}

func (l *participantList) disconnect(e *entry, at time.Time) {
	e.p.Connected = false
	e.generation++
	l.disconnected++
	heap.Push(&l.gone, goneItem{e: e, at: at, generation: e.generation})
	if len(l.gone) > 2*len(l.byName)+64 {
		l.gone = l.gone.live()
		heap.Init(&l.gone)
	}
}

// makeRoom prunes what retention allows, then evicts until a new entry
// fits within limits.Max; join has checked that it can.
func (l *participantList) makeRoom(limits rooms.ParticipantLimits) {
	if limits.Retention > 0 {
		cutoff := limits.Now.Add(-limits.Retention)
		for it, ok := l.oldestGone(); ok && it.at.Before(cutoff); it, ok = l.oldestGone() {
			l.remove(it.e)
		}
	}
	for limits.Max > 0 && len(l.byName) >= limits.Max {
		it, ok := l.oldestGone()
		if !ok {
			return
		}
		l.remove(it.e)
	}
}

// oldestGone is the disconnection of the entry disconnected longest ago;
// false when every entry is connected. Stale heap items on the way are
// dropped.
func (l *participantList) oldestGone() (goneItem, bool) {
	for len(l.gone) > 0 {
		if it := l.gone[0]; it.isLive() {
			return it, true
		}
		heap.Pop(&l.gone)
	}
	return goneItem{}, false
}

func (l *participantList) remove(e *entry) {
	e.removed = true
	l.removed++
	delete(l.byName, e.p.Username)
	if e.p.SocketID != "" {
		delete(l.byHolder, e.p.SocketID)
	}
	if !e.p.Connected {
		l.disconnected--
	}
	if l.removed > 32 && l.removed > len(l.entries)/2 {
		kept := l.entries[:0]
		for _, x := range l.entries {
			if !x.removed {
				kept = append(kept, x)
			}
		}
		clear(l.entries[len(kept):])
		l.entries, l.removed = kept, 0
	}
}

// disconnectHeld is rooms.Store.DisconnectParticipant on a locked room.
func (l *participantList) disconnectHeld(socketID, nodeID string, at time.Time) bool {
	e := l.byHolder[socketID]
	if e == nil || !e.p.Connected || (nodeID != "" && e.p.NodeID != nodeID) {
		return false
	}
	l.disconnect(e, at)
	return true
}

// reclaim is rooms.Store.ReclaimParticipant on a locked room.
func (l *participantList) reclaim(oldSocketID, newSocketID, nodeID string) bool {
	e := l.byHolder[oldSocketID]
	if e == nil {
		return false
	}
	if oldSocketID != newSocketID && l.byHolder[newSocketID] != nil {
		// The new socket joined by itself meanwhile: its own entry wins.
		return false
	}
	delete(l.byHolder, oldSocketID)
	l.byHolder[newSocketID] = e
	if !e.p.Connected {
		l.disconnected--
	}
	e.p.SocketID, e.p.NodeID, e.p.Connected = newSocketID, nodeID, true
	return true
}

func (l *participantList) list() []rooms.Participant {
	out := make([]rooms.Participant, 0, len(l.byName))
	for _, e := range l.entries {
		if !e.removed {
			out = append(out, e.p)
		}
	}
	return out
}

// goneItem is one disconnection of an entry.
type goneItem struct {
	e          *entry
	at         time.Time
	generation uint64
}

// isLive reports whether the item is still the entry's current state: not
// removed, not reconnected, not disconnected again since.
func (it goneItem) isLive() bool {
	return !it.e.removed && !it.e.p.Connected && it.e.generation == it.generation
}

// goneHeap orders disconnections oldest first, earlier in the list first
// on a tie.
type goneHeap []goneItem

func (h goneHeap) Len() int { return len(h) }
func (h goneHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].e.rank < h[j].e.rank
}
func (h goneHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *goneHeap) Push(x any)   { *h = append(*h, x.(goneItem)) }
func (h *goneHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = goneItem{}
	*h = old[:len(old)-1]
	return it
}

// live is a copy of the heap without stale items (not yet a heap).
func (h goneHeap) live() goneHeap {
	out := make(goneHeap, 0, len(h))
	for _, it := range h {
		if it.isLive() {
			out = append(out, it)
		}
	}
	return out
}
