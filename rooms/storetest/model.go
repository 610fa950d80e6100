package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"chatgateway/rooms"
)

// listModel is the participant list of rooms.Store written as plainly as
// possible (linear scans, no indexes): the reference the stores' indexed
// versions are checked against, one random operation at a time.
type listModel struct {
	entries []modelEntry // list order
}

type modelEntry struct {
	p  rooms.Participant
	at time.Time // when it disconnected
}

func (m *listModel) find(match func(p rooms.Participant) bool) int {
	return slices.IndexFunc(m.entries, func(e modelEntry) bool { return match(e.p) })
}

func (m *listModel) heldBy(socketID string) int {
	return m.find(func(p rooms.Participant) bool { return socketID != "" && p.SocketID == socketID })
}

func (m *listModel) join(p rooms.Participant, limits rooms.ParticipantLimits) error {
	held := m.heldBy(p.SocketID)
	i := m.find(func(q rooms.Participant) bool { return q.Username == p.Username })
	if held == i {
		held = -1
	}
	if i < 0 && limits.Max > 0 {
		connected := 0
		for j, e := range m.entries {
			if e.p.Connected && j != held {
				connected++
			}
		}
		if connected >= limits.Max {
			return rooms.RoomFull(p.RoomID, limits.Max)
		}
	}
	if held >= 0 {
		e := &m.entries[held]
		if e.p.Connected {
			e.p.Connected, e.at = false, limits.Now
		}
		e.p.SocketID = ""
	}
	if i < 0 {
		if limits.Retention > 0 {
			cutoff := limits.Now.Add(-limits.Retention)
			m.entries = slices.DeleteFunc(m.entries, func(e modelEntry) bool { return !e.p.Connected && e.at.Before(cutoff) })
		}
		for limits.Max > 0 && len(m.entries) >= limits.Max {
			oldest := -1
			for j, e := range m.entries {
				if !e.p.Connected && (oldest < 0 || e.at.Before(m.entries[oldest].at)) {
					oldest = j
				}
			}
			if oldest < 0 {
				break
			}
			m.entries = slices.Delete(m.entries, oldest, oldest+1)
		}
		m.entries = append(m.entries, modelEntry{p: rooms.Participant{RoomID: p.RoomID, Username: p.Username}})
		i = len(m.entries) - 1
	}
	e := &m.entries[i]
	e.p.Avatar, e.p.SocketID, e.p.NodeID, e.p.Connected = p.Avatar, p.SocketID, p.NodeID, true
	return nil
}

func (m *listModel) disconnect(socketID, nodeID string, at time.Time) bool {
	i := m.heldBy(socketID)
	if i < 0 || !m.entries[i].p.Connected || (nodeID != "" && m.entries[i].p.NodeID != nodeID) {
		return false
	}
	m.entries[i].p.Connected, m.entries[i].at = false, at
	return true
}

func (m *listModel) reclaim(oldSocketID, newSocketID, nodeID string) bool {
	i := m.heldBy(oldSocketID)
	if i < 0 || (oldSocketID != newSocketID && m.heldBy(newSocketID) >= 0) {
		return false
	}
	e := &m.entries[i]
	e.p.SocketID, e.p.NodeID, e.p.Connected = newSocketID, nodeID, true
	return true
}

func (m *listModel) list() []rooms.Participant {
	out := []rooms.Participant{}
	for _, e := range m.entries {
		out = append(out, e.p)
	}
	return out
}

// testRandomOperationsMatchTheModel runs random joins, disconnections and
// reclaims on few names and sockets, so that re-joins, take-overs,
// releases, prunes, evictions, refusals and ties all happen, and requires
// the store to answer and list exactly as the model after each one.
func testRandomOperationsMatchTheModel(t *testing.T, s rooms.Store) {
	const seeds, steps = 3, 150
	ctx := context.Background()
	names := []string{"A", "B", "C", "D", "E", "F"}
	sockets := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6"}
	nodes := []string{"", "n1", "n2"}
	for seed := range uint64(seeds) {
		roomID := fmt.Sprint("random-", seed)
		mustCreate(t, s, roomID)
		rng := rand.New(rand.NewPCG(seed, 42))
		pick := func(from []string) string { return from[rng.IntN(len(from))] }
		var m listModel
		now := t0
		for step := range steps {
			now = now.Add(time.Duration(rng.IntN(3)) * 700 * time.Millisecond)
			var did string
			switch op := rng.IntN(10); {
			case op < 5:
				p := rooms.Participant{RoomID: roomID, SocketID: pick(sockets), Username: pick(names), Avatar: pick(names) + ".svg", NodeID: pick(nodes)}
				limits := rooms.ParticipantLimits{Now: now, Retention: []time.Duration{0, 2 * time.Second}[rng.IntN(2)], Max: []int{0, 3, 4}[rng.IntN(3)]}
				did = fmt.Sprintf("join %+v %+v", p, limits)
				got, want := s.UpsertParticipant(ctx, p, limits), m.join(p, limits)
				if !errors.Is(got, want) { // both nil included
					t.Fatalf("seed %d step %d: %s: err = %v, want %v", seed, step, did, got, want)
				}
			case op < 8:
				socket, node := pick(sockets), pick(nodes)
				did = fmt.Sprintf("disconnect %s from node %q", socket, node)
				got, err := s.DisconnectParticipant(ctx, roomID, socket, node, now)
				if want := m.disconnect(socket, node, now); err != nil || got != want {
					t.Fatalf("seed %d step %d: %s = (%v, %v), want %v", seed, step, did, got, err, want)
				}
			default:
				from, to, node := pick(sockets), pick(sockets), pick(nodes)
				did = fmt.Sprintf("reclaim %s to %s on node %q", from, to, node)
				got, err := s.ReclaimParticipant(ctx, roomID, from, to, node)
				if want := m.reclaim(from, to, node); err != nil || got != want {
					t.Fatalf("seed %d step %d: %s = (%v, %v), want %v", seed, step, did, got, err, want)
				}
			}
			if got, want := mustParticipants(t, s, roomID), m.list(); !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d: after %s:\nlist  %+v\nmodel %+v", seed, step, did, got, want)
			}
		}
	}
}
