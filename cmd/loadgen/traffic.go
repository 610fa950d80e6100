package main

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chatgateway/cmd/loadgen/loadreport"
	"chatgateway/gateway/sioclient"
)

const (
	// progressPoll is how often the send and drain phases look at the
	// counters to see whether they are done.
	progressPoll = 10 * time.Millisecond
	// createdAt is the createdAt field of every posted message; the server
	// only stores it.
	createdAt = "2026-01-01T00:00:00.000Z"
	// sendersPerCore sizes the open-loop sender pool.
	sendersPerCore = 4
)

// joinWatch recognises the moment a member is in its room: the first
// "participants/<room>" list that names it. It runs on the member's reader.
type joinWatch struct {
	event  []byte // participants/<roomId>
	needle []byte // "username":"<name>"
	joined chan struct{}
	seen   bool
}

func newJoinWatch(roomID, username string) *joinWatch {
	return &joinWatch{
		event:  []byte("participants/" + roomID),
		needle: []byte(`"username":"` + username + `"`),
		joined: make(chan struct{}),
	}
}

// observe reports whether the event was a participant list (of any room).
func (j *joinWatch) observe(name, payload []byte) bool {
	if !bytes.HasPrefix(name, []byte("participants/")) {
		return false
	}
	if !j.seen && bytes.Equal(name, j.event) && bytes.Contains(payload, j.needle) {
		j.seen = true
		close(j.joined)
	}
	return true
}

// skip tells which large events need not be read: participant lists once
// joined, and those of other rooms (global delivery) at any time. They are
// the largest thing the server sends, growing with the room.
func (j *joinWatch) skip(name []byte) bool {
	if !bytes.HasPrefix(name, []byte("participants/")) {
		return false
	}
	return j.seen || !bytes.Equal(name, j.event)
}

// join emits "participants" and waits until the member is in the list.
func join(ctx context.Context, c wireConn, w *joinWatch, roomID, username string, timeout time.Duration) error {
	payload := fmt.Sprintf(`{"roomId":%q,"username":%q,"avatar":"loadgen"}`, roomID, username)
	if err := c.WritePacket([]byte(`42["participants",` + payload + `]`)); err != nil {
		return fmt.Errorf("join %s: %w", roomID, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.joined:
		return nil
	case <-c.Done():
		return fmt.Errorf("join %s: %w", roomID, c.Err())
	case <-t.C:
		return fmt.Errorf("join %s: no participant list naming %s within %v", roomID, username, timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// traffic is one fanout or bigroom run.
type traffic struct {
	cfg       config
	roomIDs   []string
	roomIndex map[string]int
	global    bool
	members   []*member
	senders   []*member
	perSender int
	// closedLoop: each sender keeps cfg.Window messages in flight, sending
	// the next when one comes back to it (fanout with -rate 0).
	closedLoop  bool
	stopSending atomic.Bool
	orderLimit  int64
	// padding is cfg.Size x characters; a message takes what it needs
	// of it to reach that length.
	padding string
	latency *histogram
	// arrival is latency to the kernel's receipt of the frame on the
	// generator's socket (-client raw on Linux): the server's share,
	// without the generator's own wait to read and parse it.
	arrival *histogram
	// sendLag is how late each open-loop send went out after its
	// scheduled time: the load generator's own share of the latency.
	sendLag *histogram

	// bigroom: per message (by sequence number), how many members got it
	// and, once all did, how long that took.
	big          bool
	bigReceivers atomic.Int64
	bigCounts    []atomic.Int64
	bigDone      []atomic.Int64
}

// memberConn holds a member's connection, for an atomic pointer.
type memberConn struct{ wireConn }

// member is one connection: a room member, maybe a sender.
type member struct {
	t        *traffic
	idx      int
	room     int
	username string
	watch    *joinWatch
	client   atomic.Pointer[memberConn]

	recv     atomic.Int64 // room events received
	lastRecv atomic.Int64 // unix nanos of the last one
	claimed  atomic.Int64 // closed loop: messages taken from the quota
	sent     atomic.Int64
	sendErrs atomic.Int64

	// Reader goroutine only; read after the client is closed.
	streams    []stream // one per room that must reach it
	foreign    int64    // room events it should not have got (room delivery)
	malformed  int64
	exceptions int64
	exception  string
}

func newTraffic(cfg config) *traffic {
	t := &traffic{cfg: cfg, global: cfg.Delivery == "global", latency: newHistogram(histShards), arrival: newHistogram(histShards), sendLag: newHistogram(histShards), padding: strings.Repeat("x", cfg.Size)}
	rooms, members := cfg.Rooms, cfg.Members
	if cfg.Scenario == scenarioBigRoom {
		rooms, t.big = 1, true
	}
	t.roomIndex = make(map[string]int, rooms)
	for r := range rooms {
		id := cfg.Prefix + "r" + strconv.Itoa(r)
		if t.big {
			id = cfg.Prefix + "big"
		}
		t.roomIDs = append(t.roomIDs, id)
		t.roomIndex[id] = r
	}
	streamsPerMember := 1
	if t.global {
		streamsPerMember = rooms
	}
	for i := range rooms * members {
		m := &member{t: t, idx: i, room: i % rooms, username: "u" + strconv.Itoa(i), streams: make([]stream, streamsPerMember)}
		m.watch = newJoinWatch(t.roomIDs[m.room], m.username)
		t.members = append(t.members, m)
	}
	t.perSender = cfg.Messages
	if t.big {
		t.bigCounts = make([]atomic.Int64, cfg.Messages)
		t.bigDone = make([]atomic.Int64, cfg.Messages)
	} else {
		t.closedLoop = cfg.Rate == 0
	}
	// A room's orders run to at most members x messages; twice that (plus
	// some) is still plausible for the checker, anything beyond is unexpected.
	t.orderLimit = 2*int64(members)*int64(t.perSender) + 1000
	return t
}

// onRaw handles every event of m's connection, on its reader goroutine.
func (m *member) onRaw(name, payload []byte, arrivedAt int64) {
	t := m.t
	if r, ok := t.roomIndex[string(name)]; ok {
		m.onMessage(r, payload, arrivedAt)
		return
	}
	if m.watch.observe(name, payload) {
		return
	}
	if string(name) == "exception" {
		m.exceptions++
		if m.exception == "" {
			m.exception = string(payload)
		}
	}
}

func (m *member) onMessage(room int, payload []byte, arrivedAt int64) {
	now := time.Now().UnixNano()
	t := m.t
	s := 0
	if t.global {
		s = room
	} else if room != m.room {
		m.foreign++
		return
	}
	msg, ok := parseMessage(payload)
	if !ok {
		m.malformed++
		return
	}
	isNew := m.streams[s].add(msg.order, t.orderLimit)
	m.recv.Add(1)
	m.lastRecv.Store(now)
	t.latency.record(m.idx, time.Duration(now-msg.sentAt))
	if arrivedAt > 0 {
		t.arrival.record(m.idx, time.Duration(max(arrivedAt-msg.sentAt, 0)))
	}
	if t.big && isNew && msg.seq >= 0 && msg.seq < int64(len(t.bigCounts)) {
		if t.bigCounts[msg.seq].Add(1) == t.bigReceivers.Load() {
			t.bigDone[msg.seq].Store(max(now-msg.sentAt, 1))
		}
	}
	if t.closedLoop && string(msg.username) == m.username {
		m.sendNext()
	}
}

// message is what the checker needs of a room event.
type message struct {
	order    int64
	username []byte
	sentAt   int64 // unix nanos, from the content
	seq      int64 // the sender's sequence number, from the content
}

// parseMessage reads {"order":N,"username":"..","content":"<sentAt> <seq>..",...}
// without a JSON decode: the load generator wrote every string in it, so
// none holds escapes.
func parseMessage(p []byte) (message, bool) {
	if m, ok := parseMessageInServerOrder(p); ok {
		return m, true
	}
	var m message
	var ok bool
	if m.order, ok = intAfter(p, `"order":`); !ok {
		return m, false
	}
	if m.username, ok = stringAfter(p, `"username":"`); !ok {
		return m, false
	}
	content, ok := stringAfter(p, `"content":"`)
	if !ok {
		return m, false
	}
	return parseContent(m, content)
}

// parseMessageInServerOrder is the fast path of parseMessage, for the
// fields in the order the server writes them.
func parseMessageInServerOrder(p []byte) (message, bool) {
	var m message
	const orderKey, userKey, contentKey = `{"order":`, `,"username":"`, `","content":"`
	if !bytes.HasPrefix(p, []byte(orderKey)) {
		return m, false
	}
	p = p[len(orderKey):]
	i := 0
	for ; i < len(p) && p[i] >= '0' && p[i] <= '9' && i < 19; i++ {
		m.order = m.order*10 + int64(p[i]-'0')
	}
	if i == 0 || !bytes.HasPrefix(p[i:], []byte(userKey)) {
		return m, false
	}
	p = p[i+len(userKey):]
	end := bytes.IndexByte(p, '"')
	if end < 0 || !bytes.HasPrefix(p[end:], []byte(contentKey)) {
		return m, false
	}
	m.username = p[:end]
	p = p[end+len(contentKey):]
	end = bytes.IndexByte(p, '"')
	if end < 0 {
		return m, false
	}
	return parseContent(m, p[:end])
}

// parseContent reads "<sentAt> <seq>..." into m.
func parseContent(m message, content []byte) (message, bool) {
	var ok bool
	if m.sentAt, ok = intAfter(content, ""); !ok {
		return m, false
	}
	sp := bytes.IndexByte(content, ' ')
	if sp < 0 {
		return m, false
	}
	if m.seq, ok = intAfter(content[sp+1:], ""); !ok {
		return m, false
	}
	return m, true
}

func intAfter(p []byte, key string) (int64, bool) {
	i := 0
	if key != "" {
		i = bytes.Index(p, []byte(key))
		if i < 0 {
			return 0, false
		}
		i += len(key)
		for i < len(p) && p[i] == ' ' {
			i++
		}
	}
	var n int64
	start := i
	for ; i < len(p) && p[i] >= '0' && p[i] <= '9' && i-start < 19; i++ {
		n = n*10 + int64(p[i]-'0')
	}
	return n, i > start
}

func stringAfter(p []byte, key string) ([]byte, bool) {
	i := bytes.Index(p, []byte(key))
	if i < 0 {
		return nil, false
	}
	i += len(key)
	end := bytes.IndexByte(p[i:], '"')
	if end < 0 {
		return nil, false
	}
	return p[i : i+end], true
}

var packetPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// send posts one message with "exchanges"; it reports success.
func (m *member) send(sentAt, seq int64) bool {
	c := m.client.Load()
	bp := packetPool.Get().(*[]byte)
	b := append((*bp)[:0], `42["exchanges",{"roomId":"`...)
	b = append(b, m.t.roomIDs[m.room]...)
	b = append(b, `","username":"`...)
	b = append(b, m.username...)
	b = append(b, `","content":"`...)
	content := len(b)
	b = strconv.AppendInt(b, sentAt, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, seq, 10)
	if n := len(b) - content; n < len(m.t.padding) {
		b = append(b, m.t.padding[n:]...)
	}
	b = append(b, `","createdAt":"`+createdAt+`"}]`...)
	var err error
	if c == nil {
		err = sioclient.ErrClosed
	} else {
		err = c.WritePacket(b)
	}
	*bp = b
	packetPool.Put(bp)
	if err != nil {
		m.sendErrs.Add(1)
		return false
	}
	m.sent.Add(1)
	return true
}

// sendNext sends the member's next message in closed loop, if any is left.
// A failed send never comes back to trigger the next one, so the rest of
// the quota is used up at once, as failures, rather than left hanging.
func (m *member) sendNext() {
	for !m.t.stopSending.Load() {
		n := m.claimed.Add(1)
		if n > int64(m.t.perSender) {
			return
		}
		if m.send(time.Now().UnixNano(), n-1) {
			return
		}
	}
}

// sendOpenLoop sends every sender's quota on a fixed schedule, message k
// of all at start + k/rate, whatever the server's pace. A message carries
// its scheduled time, so latency includes any lag of the load generator
// itself behind the schedule (no coordinated omission).
func (t *traffic) sendOpenLoop(ctx context.Context, rate float64, start time.Time) {
	total := len(t.senders) * t.perSender
	workers := min(len(t.senders), sendersPerCore*runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			timer := newScheduleWaiter(ctx, rate/float64(workers))
			defer timer.Close()
			for k := w; k < total; k += workers {
				due := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
				if err := timer.waitUntil(due); err != nil {
					return
				}
				if t.stopSending.Load() || ctx.Err() != nil {
					return
				}
				t.sendLag.record(w, time.Since(due))
				t.senders[k%len(t.senders)].send(due.UnixNano(), int64(k/len(t.senders)))
			}
		})
	}
	wg.Wait()
}

// sendClosedLoop starts every sender's window; the readers send the rest.
func (t *traffic) sendClosedLoop() {
	ramp(context.Background(), len(t.senders), 0, sendersPerCore*runtime.GOMAXPROCS(0), func(_ context.Context, i int) {
		for range t.cfg.Window {
			t.senders[i].sendNext()
		}
	})
}

// totals sums the counters of the connected members.
func (t *traffic) totals() (sent, attempts, recv int64) {
	for _, m := range t.senders {
		sent += m.sent.Load()
		attempts += m.sent.Load() + m.sendErrs.Load()
	}
	for _, m := range t.members {
		recv += m.recv.Load()
	}
	return sent, attempts, recv
}

// sentPerRoom is how many messages were posted to each room.
func (t *traffic) sentPerRoom() []int64 {
	n := make([]int64, len(t.roomIDs))
	for _, m := range t.senders {
		n[m.room] += m.sent.Load()
	}
	return n
}

// receiversPerRoom is how many connected members must get each message of
// each room.
func (t *traffic) receiversPerRoom() []int64 {
	n := make([]int64, len(t.roomIDs))
	var all int64
	for _, m := range t.members {
		if m.client.Load() != nil {
			n[m.room]++
			all++
		}
	}
	if t.global {
		for r := range n {
			n[r] = all
		}
	}
	return n
}

func (t *traffic) expectedDeliveries() int64 {
	var total int64
	receivers := t.receiversPerRoom()
	for r, sent := range t.sentPerRoom() {
		total += sent * receivers[r]
	}
	return total
}

// server is the index in cfg.URLs of the node m connects to (0 with one
// server).
func (t *traffic) server(m *member) int {
	n := len(t.cfg.URLs)
	if n == 0 {
		return 0
	}
	if t.cfg.Placement == placementRoom {
		return m.room % n
	}
	return (m.idx / len(t.roomIDs)) % n
}

func (t *traffic) urlOf(m *member) string {
	if len(t.cfg.URLs) == 0 {
		return t.cfg.URL
	}
	return t.cfg.URLs[t.server(m)]
}

// runTraffic is the fanout and bigroom scenarios.
func runTraffic(ctx context.Context, cfg config, rep *report) error {
	t := newTraffic(cfg)
	probe := serverProbe{pid: cfg.ServerPID}
	server := &serverStats{PID: cfg.ServerPID, RSSBeforeBytes: probe.rss()}
	rep.Server = server
	if cfg.CreateRooms {
		if err := createRooms(ctx, cfg.URL, t.roomIDs); err != nil {
			return err
		}
	}

	// Connect and join everyone before the first message, so every member
	// is owed every message of its room.
	d := &dialer{cfg: cfg}
	handshakes, joins := newHistogram(histShards), newHistogram(histShards)
	var failures errorSamples
	rampStart := time.Now()
	ramp(ctx, len(t.members), cfg.ConnectRate, cfg.ConnectConcurrency, func(ctx context.Context, i int) {
		m := t.members[i]
		began := time.Now()
		c, err := d.dialTraffic(ctx, t.urlOf(m), m.onRaw, m.watch.skip)
		if err != nil {
			failures.add(err)
			return
		}
		handshakes.record(i, time.Since(began))
		began = time.Now()
		if err := join(ctx, c, m.watch, t.roomIDs[m.room], m.username, cfg.JoinTimeout); err != nil {
			failures.add(err)
			c.Close()
			return
		}
		joins.record(i, time.Since(began))
		m.client.Store(&memberConn{c})
	})
	clients := make([]*memberConn, len(t.members))
	for i, m := range t.members {
		clients[i] = m.client.Load()
	}
	defer func() { closeAll(clients) }()
	joinSummary := joins.summary()
	rep.Connections = &connStats{
		Attempted:   len(t.members),
		Established: len(t.members) - failures.count,
		Failed:      failures.count,
		Handshake:   handshakes.summary(),
		Join:        &joinSummary,
		RampSeconds: time.Since(rampStart).Seconds(),
	}
	rep.AddErrors(failures.samples)
	server.RSSAfterBytes = probe.rss()
	server.SetPerConnection(rep.Connections.Established)
	if err := ctx.Err(); err != nil {
		return err
	}
	// Only connected members send: a member that is not there would never
	// get its own messages back.
	var connected []*member
	for _, m := range t.members {
		if m.client.Load() != nil {
			connected = append(connected, m)
		}
	}
	if len(connected) == 0 {
		return fmt.Errorf("no connection established (%d attempted)", len(t.members))
	}
	if t.big {
		t.senders = connected[:1]
		t.bigReceivers.Store(int64(len(connected)))
	} else {
		t.senders = connected
	}

	// Send, then drain.
	serverCPU := probe.markCPU()
	loadCPU := markCPU()
	sendStart := time.Now()
	sendCtx, stopSend := context.WithTimeout(ctx, cfg.Duration)
	defer stopSend()
	planned := int64(len(t.senders)) * int64(t.perSender)
	openLoopDone := make(chan struct{})
	switch {
	case t.big:
		go func() {
			defer close(openLoopDone)
			t.sendOpenLoop(sendCtx, float64(time.Second)/float64(cfg.Interval), sendStart)
		}()
	case t.closedLoop:
		close(openLoopDone)
		t.sendClosedLoop()
	default:
		go func() {
			defer close(openLoopDone)
			t.sendOpenLoop(sendCtx, cfg.Rate, sendStart)
		}()
	}
	poll := time.NewTicker(progressPoll)
	defer poll.Stop()
	for sending := true; sending; {
		select {
		case <-poll.C:
			if _, attempts, _ := t.totals(); attempts >= planned {
				sending = false
			}
		case <-sendCtx.Done():
			sending = false
		}
	}
	t.stopSending.Store(true)
	<-openLoopDone
	sendEnd := time.Now()
	drainEnd := sendEnd.Add(cfg.Drain)
	for draining := true; draining; {
		_, _, recv := t.totals()
		if recv >= t.expectedDeliveries() || !time.Now().Before(drainEnd) || ctx.Err() != nil {
			break
		}
		<-poll.C
	}
	rep.MeasureCPU = ptr(loadCPU.since())
	server.CPU = probe.cpuSince(serverCPU)
	var drops []string
	rep.Connections.DroppedDuringRun, drops = dropped(clients)
	rep.AddErrors(drops)

	closeAll(clients) // the readers are done: their counters are final
	t.report(rep, sendStart, sendEnd, planned)
	if sendCtx.Err() != nil && ctx.Err() == nil {
		rep.Warn(fmt.Sprintf("send phase stopped by -duration %v before every message was sent", cfg.Duration))
	}
	return ctx.Err()
}

func (t *traffic) report(rep *report, sendStart, sendEnd time.Time, planned int64) {
	sent, attempts, recv := t.totals()
	st := &trafficStats{
		Rooms:              len(t.roomIDs),
		MembersPerRoom:     t.cfg.Members,
		Senders:            len(t.senders),
		MessagesPlanned:    planned,
		MessagesSent:       sent,
		SendErrors:         attempts - sent,
		SendSeconds:        sendEnd.Sub(sendStart).Seconds(),
		TargetRate:         t.cfg.Rate,
		DeliveriesExpected: t.expectedDeliveries(),
		Received:           recv,
		Latency:            t.latency.summary(),
	}
	if !t.closedLoop {
		st.SendLag = ptr(t.sendLag.summary())
	}
	if a := t.arrival.summary(); a.Count > 0 {
		st.Arrival = &a
	}
	if t.big {
		st.TargetRate = float64(time.Second) / float64(t.cfg.Interval)
	}
	if st.SendSeconds > 0 {
		st.SendRate = float64(sent) / st.SendSeconds
	}
	var last int64
	sentPerRoom := t.sentPerRoom()
	for _, u := range t.cfg.URLs {
		st.PerServer = append(st.PerServer, loadreport.ServerShare{URL: u})
	}
	for _, m := range t.members {
		last = max(last, m.lastRecv.Load())
		st.Foreign += m.foreign
		st.Malformed += m.malformed
		st.Exceptions += m.exceptions
		if m.exception != "" && st.ExceptionSample == "" {
			st.ExceptionSample = m.exception
		}
		if m.client.Load() == nil {
			continue
		}
		for s := range m.streams {
			room := s
			if !t.global {
				room = m.room
			}
			str := &m.streams[s]
			n := sentPerRoom[room]
			missing := str.missing(n)
			st.StreamsChecked++
			st.Deliveries += str.distinct
			if st.PerServer != nil {
				st.PerServer[t.server(m)].Deliveries += str.distinct
			}
			st.Lost += missing
			st.Duplicated += str.duplicated
			st.OutOfOrder += str.outOfOrder
			// Orders beyond the room's count are messages nobody here sent.
			st.Unexpected += str.unexpected + max(0, str.distinct-(n-missing))
			if str.anomalous() || missing > 0 {
				st.StreamsWithAnomalies++
			}
		}
	}
	for _, m := range t.members {
		if st.PerServer != nil && m.client.Load() != nil {
			st.PerServer[t.server(m)].Members++
		}
	}
	if last > sendStart.UnixNano() {
		st.DeliverySeconds = float64(last-sendStart.UnixNano()) / 1e9
		st.DeliveriesPerSec = float64(st.Deliveries) / st.DeliverySeconds
		for i := range st.PerServer {
			st.PerServer[i].DeliveriesPerSec = float64(st.PerServer[i].Deliveries) / st.DeliverySeconds
		}
	}
	rep.Traffic = st
	if t.big {
		b := &bigRoomStats{Members: len(t.members), Receivers: t.bigReceivers.Load(), Messages: len(t.bigCounts)}
		all := newHistogram(1)
		for i := range t.bigDone {
			if d := t.bigDone[i].Load(); d > 0 {
				b.Complete++
				all.record(0, time.Duration(d))
			} else if int64(i) < sent {
				b.Incomplete++
			}
		}
		b.AllMembers = all.summary()
		rep.BigRoom = b
	}
}

func ptr[T any](v T) *T { return &v }
