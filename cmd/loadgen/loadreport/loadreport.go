// Package loadreport is the JSON report of cmd/loadgen: the load generator
// writes it (-json) and bench/runner reads it, both with these types, so
// the two cannot drift apart. The field documentation is the report's
// documentation; cmd/loadgen/README.md shows its shape.
package loadreport

import (
	"fmt"
	"slices"
	"time"
)

// MaxErrorSamples is how many distinct error texts a report keeps.
const MaxErrorSamples = 10

// Report is everything a run measured.
type Report struct {
	Scenario   string    `json:"scenario"`
	Config     Config    `json:"config"`
	StartedAt  time.Time `json:"started_at"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	// OK: the run completed without any correctness error.
	OK          bool       `json:"ok"`
	WallSeconds float64    `json:"wall_seconds"`
	Connections *ConnStats `json:"connections,omitempty"`
	// LoadgenCPU is the load generator's CPU use over the whole run;
	// MeasureCPU over the measured phase only (sending and draining;
	// churn's cycles).
	LoadgenCPU CPUUse       `json:"loadgen_cpu"`
	MeasureCPU *CPUUse      `json:"measure_cpu,omitempty"`
	Server     *ServerStats `json:"server,omitempty"`
	// Traffic is set by fanout and bigroom, BigRoom by bigroom only.
	Traffic  *TrafficStats `json:"traffic,omitempty"`
	BigRoom  *BigRoomStats `json:"bigroom,omitempty"`
	Idle     *IdleStats    `json:"idle,omitempty"`
	Churn    *ChurnStats   `json:"churn,omitempty"`
	Warnings []string      `json:"warnings,omitempty"`
	// Errors are samples of distinct error texts.
	Errors []string `json:"errors"`
}

// Config is every flag of the run, validated.
type Config struct {
	Scenario string `json:"scenario"`
	URL      string `json:"url"`
	// URLs, when set, are the nodes of a multi-node deployment: fanout
	// members connect to them as Placement says (URL is the first).
	URLs      []string `json:"urls,omitempty"`
	Placement string   `json:"placement,omitempty"`
	EIO       int      `json:"eio"`
	// Client is the Socket.IO client of the fanout and bigroom
	// connections: raw (the load generator's own) or sioclient.
	Client             string        `json:"client"`
	SourceIPs          []string      `json:"source_ips"`
	ConnectRate        float64       `json:"connect_rate"`
	ConnectConcurrency int           `json:"connect_concurrency"`
	HandshakeTimeout   time.Duration `json:"handshake_timeout_ns"`
	JoinTimeout        time.Duration `json:"join_timeout_ns"`
	CreateRooms        bool          `json:"create_rooms"`
	Prefix             string        `json:"prefix"`
	Delivery           string        `json:"delivery"`
	Rooms              int           `json:"rooms"`
	Members            int           `json:"members"`
	Messages           int           `json:"messages"`
	Rate               float64       `json:"rate"`
	Window             int           `json:"window"`
	// Size is the length of each message's content in bytes.
	Size         int           `json:"size"`
	Interval     time.Duration `json:"interval_ns"`
	Conns        int           `json:"conns"`
	Join         bool          `json:"join"`
	UnjoinedHold time.Duration `json:"unjoined_hold_ns"`
	MaxInflight  int           `json:"max_inflight"`
	Duration     time.Duration `json:"duration_ns"`
	Drain        time.Duration `json:"drain_ns"`
	ServerPID    int           `json:"server_pid"`
	JSON         bool          `json:"-"`
	CPUProfile   string        `json:"-"`
}

// ConnStats summarises a ramp of connections.
type ConnStats struct {
	Attempted   int            `json:"attempted"`
	Established int            `json:"established"`
	Failed      int            `json:"failed"`
	Handshake   LatencySummary `json:"handshake"`
	// Join is the time from emitting "participants" to the list naming the
	// member (scenarios that join).
	Join *LatencySummary `json:"join,omitempty"`
	// RampSeconds is the time taken to connect (and join) everyone.
	RampSeconds float64 `json:"ramp_seconds"`
	// DroppedDuringRun is how many established connections ended before the
	// load generator closed them.
	DroppedDuringRun int `json:"dropped_during_run"`
}

// LatencySummary is what reports show of a histogram, in milliseconds.
type LatencySummary struct {
	Count  uint64  `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// CPUUse is CPU time spent over a wall-clock interval.
type CPUUse struct {
	UserSeconds   float64 `json:"user_seconds"`
	SystemSeconds float64 `json:"system_seconds"`
	TotalSeconds  float64 `json:"total_seconds"`
	WallSeconds   float64 `json:"wall_seconds"`
	// Cores is TotalSeconds / WallSeconds: 1.0 is one core fully busy.
	Cores float64 `json:"cores"`
}

// ServerStats describes the server process (with -server-pid).
type ServerStats struct {
	PID            int   `json:"pid"`
	RSSBeforeBytes int64 `json:"rss_before_bytes"`
	RSSAfterBytes  int64 `json:"rss_after_bytes"`
	// RSSPerConnBytes is (after - before) / established connections.
	RSSPerConnBytes float64 `json:"rss_per_conn_bytes"`
	// CPU is over the measured phase.
	CPU *CPUUse `json:"cpu,omitempty"`
}

// SetPerConnection derives RSSPerConnBytes for conns connections.
func (s *ServerStats) SetPerConnection(conns int) {
	s.RSSPerConnBytes = PerConnection(s.RSSBeforeBytes, s.RSSAfterBytes, conns)
}

// PerConnection is the growth from before to after shared by conns
// connections; 0 when a reading is missing.
func PerConnection(before, after int64, conns int) float64 {
	if conns <= 0 || before <= 0 || after <= 0 {
		return 0
	}
	return float64(after-before) / float64(conns)
}

// TrafficStats is the result of fanout and bigroom.
type TrafficStats struct {
	Rooms           int     `json:"rooms"`
	MembersPerRoom  int     `json:"members_per_room"`
	Senders         int     `json:"senders"`
	MessagesPlanned int64   `json:"messages_planned"`
	MessagesSent    int64   `json:"messages_sent"`
	SendErrors      int64   `json:"send_errors"`
	SendSeconds     float64 `json:"send_seconds"`
	// TargetRate is the open-loop rate (0: closed loop with -window).
	TargetRate float64 `json:"target_rate"`
	SendRate   float64 `json:"send_rate"`
	// DeliveriesExpected is, per room, messages sent x members owed them.
	DeliveriesExpected int64 `json:"deliveries_expected"`
	// Deliveries counts distinct (receiver, room, order) deliveries;
	// Received every room event counted, duplicates included.
	Deliveries int64 `json:"deliveries"`
	Received   int64 `json:"received"`
	// DeliverySeconds runs from the first send to the last delivery.
	DeliverySeconds  float64 `json:"delivery_seconds"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	// Latency is from the send (the scheduled time in open loop) to each
	// delivery.
	Latency LatencySummary `json:"latency"`
	// SendLag, open loop only, is how late the load generator sent each
	// message after its scheduled time: its own share of Latency.
	SendLag *LatencySummary `json:"send_lag,omitempty"`
	// Arrival is from the send (as for Latency) to the moment the kernel
	// received the delivery on the generator's socket: Latency without
	// the generator's own wait to be scheduled, read and parse, which a
	// generator sharing one core among hundreds of sockets adds to every
	// server alike. Only the raw client on Linux measures it (the socket's
	// SO_TIMESTAMPNS; a read's stamp is its last segment's, so a frame
	// that came earlier in the read is counted late, never early; the
	// kernel starts stamping a moment after the first socket asks, so the
	// first frames of a process may be left out).
	Arrival *LatencySummary `json:"arrival,omitempty"`
	// Correctness, summed over every (receiver, room) stream.
	Lost                 int64  `json:"lost"`
	Duplicated           int64  `json:"duplicated"`
	OutOfOrder           int64  `json:"out_of_order"`
	Unexpected           int64  `json:"unexpected"`
	Foreign              int64  `json:"foreign"`
	Malformed            int64  `json:"malformed"`
	Exceptions           int64  `json:"exceptions"`
	ExceptionSample      string `json:"exception_sample,omitempty"`
	StreamsChecked       int64  `json:"streams_checked"`
	StreamsWithAnomalies int64  `json:"streams_with_anomalies"`
	// PerServer splits the deliveries by the node the receivers were
	// connected to (fanout with -urls).
	PerServer []ServerShare `json:"per_server,omitempty"`
}

// ServerShare is what the members connected to one node received.
type ServerShare struct {
	URL              string  `json:"url"`
	Members          int     `json:"members"`
	Deliveries       int64   `json:"deliveries"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
}

// MessagesPerSec is the rate at which messages were fully delivered: sent
// messages over the time from the first send to the last delivery. In a
// closed-loop run it is the server's saturation rate in messages/s.
func (t *TrafficStats) MessagesPerSec() float64 {
	if t == nil || t.DeliverySeconds <= 0 {
		return 0
	}
	return float64(t.MessagesSent) / t.DeliverySeconds
}

// BigRoomStats is the bigroom part: per message, the time until every
// member had it.
type BigRoomStats struct {
	Members    int            `json:"members"`
	Receivers  int64          `json:"receivers"`
	Messages   int            `json:"messages"`
	Complete   int            `json:"complete"`
	Incomplete int            `json:"incomplete"`
	AllMembers LatencySummary `json:"all_members"`
}

// IdleStats is the result of the idle scenario. With -join the
// connections are first held unjoined, then joined: ServerStats has the
// joined figure and the Unjoined fields the one before the joins.
type IdleStats struct {
	Connections int  `json:"connections"`
	Joined      bool `json:"joined"`
	// HoldSeconds is how long the connections were held before measuring.
	HoldSeconds float64 `json:"hold_seconds"`
	// UnjoinedRSSBytes and UnjoinedRSSPerConnBytes are the server's RSS,
	// and its growth per connection, once every connection was up and
	// held, before any joined (with -join only).
	UnjoinedRSSBytes        int64   `json:"unjoined_rss_bytes,omitempty"`
	UnjoinedRSSPerConnBytes float64 `json:"unjoined_rss_per_conn_bytes,omitempty"`
	// Alive is how many connections were still open at the end of the hold.
	Alive int `json:"alive"`
	// LoadgenRSSPerConnBytes is the load generator's own memory per
	// connection.
	LoadgenRSSPerConnBytes float64 `json:"loadgen_rss_per_conn_bytes"`
}

// ChurnStats is the result of the churn scenario.
type ChurnStats struct {
	TargetRate float64 `json:"target_rate"`
	// Cycles is how many connect-join-disconnect cycles were started.
	Cycles          int64 `json:"cycles"`
	Handshakes      int64 `json:"handshakes"`
	HandshakeErrors int64 `json:"handshake_errors"`
	Joins           int64 `json:"joins"`
	JoinErrors      int64 `json:"join_errors"`
	// ErrorRate is the share of cycles that did not complete.
	ErrorRate float64 `json:"error_rate"`
	// HandshakesPerSec is successful handshakes over the run time.
	HandshakesPerSec float64 `json:"handshakes_per_sec"`
	CyclesPerSec     float64 `json:"cycles_per_sec"`
	// LateStarts counts cycles that started late because -max-inflight
	// cycles were still in progress.
	LateStarts int64          `json:"late_starts"`
	RunSeconds float64        `json:"run_seconds"`
	Handshake  LatencySummary `json:"handshake"`
	Join       LatencySummary `json:"join"`
}

// Warn records a doubt about the run's figures.
func (r *Report) Warn(s string) { r.Warnings = append(r.Warnings, s) }

// AddErrors keeps the samples not seen yet, up to MaxErrorSamples.
func (r *Report) AddErrors(samples []string) {
	for _, s := range samples {
		if len(r.Errors) < MaxErrorSamples && !slices.Contains(r.Errors, s) {
			r.Errors = append(r.Errors, s)
		}
	}
}

// Failures lists what makes the run incorrect: lost, duplicated,
// out-of-order or stray deliveries, messages not sent, connections that
// failed or dropped, incomplete big-room messages, churn errors. Empty
// means correct.
func (r *Report) Failures() []string {
	var why []string
	if t := r.Traffic; t != nil {
		if t.Lost+t.Duplicated+t.OutOfOrder > 0 {
			why = append(why, fmt.Sprintf("lost %d, duplicated %d, out-of-order %d", t.Lost, t.Duplicated, t.OutOfOrder))
		}
		if n := t.Unexpected + t.Foreign + t.Malformed + t.Exceptions; n > 0 {
			why = append(why, fmt.Sprintf("unexpected %d, foreign %d, malformed %d, exceptions %d", t.Unexpected, t.Foreign, t.Malformed, t.Exceptions))
		}
		if t.SendErrors > 0 || t.MessagesSent < t.MessagesPlanned {
			why = append(why, fmt.Sprintf("sent %d of %d messages, %d send errors", t.MessagesSent, t.MessagesPlanned, t.SendErrors))
		}
	}
	if c := r.Connections; c != nil && (c.Failed > 0 || c.Established < c.Attempted || c.DroppedDuringRun > 0) {
		why = append(why, fmt.Sprintf("connections: %d/%d established, %d failed, %d dropped", c.Established, c.Attempted, c.Failed, c.DroppedDuringRun))
	}
	if b := r.BigRoom; b != nil && b.Incomplete > 0 {
		why = append(why, fmt.Sprintf("%d of %d messages did not reach every member", b.Incomplete, b.Messages))
	}
	if c := r.Churn; c != nil && (c.HandshakeErrors > 0 || c.JoinErrors > 0) {
		why = append(why, fmt.Sprintf("churn: %d handshake errors, %d join errors", c.HandshakeErrors, c.JoinErrors))
	}
	return why
}

// LoadgenCores is the load generator's CPU use over the measured phase
// when it has one, else over the whole run.
func (r *Report) LoadgenCores() float64 {
	if r.MeasureCPU != nil {
		return r.MeasureCPU.Cores
	}
	return r.LoadgenCPU.Cores
}

// ServerCores is the server's CPU use over the measured phase, if known.
func (r *Report) ServerCores() (float64, bool) {
	if r.Server == nil || r.Server.CPU == nil {
		return 0, false
	}
	return r.Server.CPU.Cores, true
}
