package gateway

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

// A join into a full room whose participants are all connected gets an
// exception with the room.full code and keeps its socket; once someone
// leaves, the same socket joins, and the entry that left makes room.
func TestParticipantsRoomFull(t *testing.T) {
	for _, delivery := range []Delivery{DeliveryRoom, DeliveryGlobal} {
		t.Run(string(delivery), func(t *testing.T) {
			f := newGatewayFixtureWith(t, delivery, memstore.New(), memstore.New(), []rooms.Option{rooms.WithParticipantLimits(2, time.Hour)})
			f.createRoom(t, "r")
			a := f.connect(t, "A", "")
			b := f.connect(t, "B", "")
			c := f.connect(t, "C", "")
			f.join(t, a, "r", "Toto")
			if delivery == DeliveryGlobal {
				expectParticipants(t, b, "r")
				expectParticipants(t, c, "r")
			}
			f.join(t, b, "r", "Titi")
			expectParticipants(t, a, "r")
			if delivery == DeliveryGlobal {
				expectParticipants(t, c, "r")
			}

			f.g.onParticipants(c, raw(t, map[string]string{"roomId": "r", "username": "Tata", "avatar": participant("r", "Tata", true).Avatar}))
			full := Exception{Status: "error", Message: "Room with 'r' is full: its 2 participants are connected", Code: rooms.CodeRoomFull}
			expectSent(t, c, sent{event: "exception", arg: full})

			a.leave()
			want := []rooms.Participant{participant("r", "Toto", false), participant("r", "Titi", true)}
			if got := expectParticipants(t, b, "r"); !slices.Equal(got, want) {
				t.Fatalf("after Toto left: %+v, want %+v", got, want)
			}
			if delivery == DeliveryGlobal {
				expectParticipants(t, c, "r")
			}
			want = []rooms.Participant{participant("r", "Titi", true), participant("r", "Tata", true)}
			if got := f.join(t, c, "r", "Tata"); !slices.Equal(got, want) {
				t.Fatalf("Tata's join once Toto left: %+v, want %+v", got, want)
			}
			if got := expectParticipants(t, b, "r"); !slices.Equal(got, want) {
				t.Fatalf("Titi's list after Tata joined: %+v, want %+v", got, want)
			}
			// The refused socket stayed connected all along: it was never
			// told to go, and its join went through.
			for _, s := range []*fakeConn{a, b, c} {
				s.none(t)
			}
		})
	}
}

// A socket that joins a room again under another name leaves its previous
// entry disconnected; its disconnection then concerns the new entry only.
func TestRejoinUnderAnotherName(t *testing.T) {
	f := newGatewayFixture(t, DeliveryRoom)
	f.createRoom(t, "r")
	obs := f.connect(t, "OBS", "")
	f.join(t, obs, "r", "Observer")
	a := f.connect(t, "A", "")
	f.join(t, a, "r", "Toto")
	expectParticipants(t, obs, "r")
	want := []rooms.Participant{participant("r", "Observer", true), participant("r", "Toto", false), participant("r", "Tutu", true)}
	if got := f.join(t, a, "r", "Tutu"); !slices.Equal(got, want) {
		t.Fatalf("after A re-joined as Tutu: %+v, want %+v", got, want)
	}
	expectParticipants(t, obs, "r")
	a.cut()
	want[2].Connected = false
	if got := expectParticipants(t, obs, "r"); !slices.Equal(got, want) {
		t.Fatalf("after A went away: %+v, want %+v", got, want)
	}
}

// The participant retention must cover every window in which a client
// reconnects to reclaim its entry.
func TestNewRefusesARetentionShorterThanTheReconnectionWindows(t *testing.T) {
	svc := rooms.NewService(memstore.New(), rooms.WithParticipantLimits(0, time.Minute))
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"rejoin grace longer", Config{RejoinGrace: 2 * time.Minute, RecoveryWindow: -1}, "shorter than RejoinGrace 2m0s"},
		{"recovery window longer (its default)", Config{RejoinGrace: time.Minute}, "shorter than RecoveryWindow 2m0s"},
		{"both within", Config{RejoinGrace: time.Minute, RecoveryWindow: time.Minute}, ""},
		{"both off", Config{RejoinGrace: -1, RecoveryWindow: -1}, ""},
		{"global delivery restores nothing", Config{Delivery: DeliveryGlobal, RejoinGrace: time.Hour, RecoveryWindow: time.Hour}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := New(context.Background(), svc, tt.cfg, discardLogger())
			if err == nil {
				if shutErr := g.Shutdown(context.Background()); shutErr != nil {
					t.Fatal(shutErr)
				}
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New: err = %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}
