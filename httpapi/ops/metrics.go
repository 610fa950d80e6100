package ops

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"chatgateway/gateway"
	"chatgateway/gateway/engineio"
	"chatgateway/gateway/redisbroker"
	"chatgateway/httpapi"
)

// The sources a scrape reads; each is a small view of one package.
type (
	// EngineStats is the Engine.IO server (engineio.Server).
	EngineStats interface{ Stats() engineio.Stats }
	// EventCounter is the Socket.IO server (socketio.Server).
	EventCounter interface {
		EventCounts() (handled map[string]uint64, unhandled uint64)
	}
	// GatewayStats is the chat gateway (gateway.Gateway).
	GatewayStats interface{ Stats() gateway.Stats }
	// ConnCounter is the public listener (edge.Listener).
	ConnCounter interface {
		Open() int
		Refused() (total, perIP uint64)
	}
	// RefusalCounter is the Engine.IO session cap (edge.SessionCap).
	RefusalCounter interface{ Refused() uint64 }
	// BrokerStats is a broker between nodes (redisbroker.Broker or
	// redisbroker.Sharded).
	BrokerStats interface{ Stats() redisbroker.Stats }
)

// Sources are what the metrics report on; nil ones are left out.
type Sources struct {
	Engine   EngineStats
	Events   EventCounter
	Gateway  GatewayStats
	Listener ConnCounter
	Sessions RefusalCounter
	Broker   BrokerStats
}

// Refusal reasons of the HTTP edge in chat_refusals_total, beside the
// gateway's codes and httpapi's Refusal* reasons.
const (
	RefusalMaxConns         = "max-conns"
	RefusalMaxConnsPerIP    = "max-conns-per-ip"
	RefusalMaxSessionsPerIP = "max-sessions-per-ip"
)

// eventOther labels events no handler knows: client-chosen names must not
// grow the label set.
const eventOther = "other"

// Metrics is the server's Prometheus registry: Go runtime and process
// metrics, the collector of Sources, the store timings of
// InstrumentStore and friends, and the REST refusals of RESTRefused.
type Metrics struct {
	reg   *prometheus.Registry
	src   atomic.Pointer[Sources]
	store *storeMetrics
	// restRefusals counts httpapi's refusals by reason, read by Collect
	// alongside the other refusals of chat_refusals_total.
	restRefusals map[string]*atomic.Uint64
}

// NewMetrics registers everything on a new registry. The store decorators
// can be made at once; Observe names the Sources once they exist.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		restRefusals: map[string]*atomic.Uint64{
			httpapi.RefusalWriteRate:   new(atomic.Uint64),
			httpapi.RefusalAdminToken:  new(atomic.Uint64),
			httpapi.RefusalCrossOrigin: new(atomic.Uint64),
		},
	}
	m.store = newStoreMetrics()
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.store.duration, m.store.errors,
		(*sourceCollector)(m),
	)
	return m
}

// Observe makes scrapes report on src.
func (m *Metrics) Observe(src Sources) { m.src.Store(&src) }

// Registry is the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format (or
// OpenMetrics when asked).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// RESTRefused is httpapi's refusal hook (httpapi.WithRefusalHook).
func (m *Metrics) RESTRefused(reason string) {
	if c := m.restRefusals[reason]; c != nil {
		c.Add(1)
	}
}

var (
	descSessions = prometheus.NewDesc("chat_engineio_sessions",
		"Engine.IO sessions open now, by protocol revision and transport.", []string{"eio", "transport"}, nil)
	descSessionsOpened = prometheus.NewDesc("chat_engineio_sessions_opened_total",
		"Engine.IO sessions opened, by protocol revision and first transport.", []string{"eio", "transport"}, nil)
	descUpgrades = prometheus.NewDesc("chat_engineio_upgrades_total",
		"Polling sessions upgraded to WebSocket, by protocol revision.", []string{"eio"}, nil)
	descHandshakeFailures = prometheus.NewDesc("chat_engineio_handshake_failures_total",
		"Error answers to requests that would have opened a session, by reason.", []string{"reason"}, nil)
	descRequestErrors = prometheus.NewDesc("chat_engineio_request_errors_total",
		"Error answers to requests of a session, by reason (unknown_sid: a request reached a node that does not hold its session).", []string{"reason"}, nil)
	descDisconnects = prometheus.NewDesc("chat_engineio_disconnects_total",
		"Engine.IO sessions ended, by reason (slow_consumer: cut off for not reading its queue).", []string{"reason"}, nil)
	descSentMessages = prometheus.NewDesc("chat_engineio_sent_messages_total",
		"Engine.IO packets written to clients, by transport.", []string{"transport"}, nil)
	descSentBytes = prometheus.NewDesc("chat_engineio_sent_bytes_total",
		"Bytes written to clients (WebSocket frames, polling bodies), by transport.", []string{"transport"}, nil)
	descEvents = prometheus.NewDesc("chat_socketio_events_received_total",
		"Socket.IO events received, by event name (other: names no handler knows).", []string{"event"}, nil)
	descSockets = prometheus.NewDesc("chat_sockets",
		"Chat sockets connected to this node.", nil, nil)
	descRooms = prometheus.NewDesc("chat_rooms_with_local_members",
		"Rooms with at least one member connected to this node.", nil, nil)
	descDeliveries = prometheus.NewDesc("chat_deliveries_total",
		"Events queued to sockets, one per recipient, by kind.", []string{"kind"}, nil)
	descRefusals = prometheus.NewDesc("chat_refusals_total",
		"Requests, connections and events refused by a limit or a check, by reason.", []string{"reason"}, nil)
	descPublishes = prometheus.NewDesc("chat_broker_publishes_total",
		"Envelopes published to the broker.", nil, nil)
	descPublishErrors = prometheus.NewDesc("chat_broker_publish_errors_total",
		"Envelopes the broker failed to publish (other nodes may miss them until they resync).", nil, nil)
	descReceives = prometheus.NewDesc("chat_broker_receives_total",
		"Envelopes received from the broker, this node's own included.", nil, nil)
	descReceivesRemote = prometheus.NewDesc("chat_broker_remote_receives_total",
		"Envelopes received from other nodes.", nil, nil)
	descResyncs = prometheus.NewDesc("chat_broker_resyncs_total",
		"Times the broker may have lost envelopes and the rooms were read back from the store.", nil, nil)
	descBrokerBytes = prometheus.NewDesc("chat_broker_received_bytes_total",
		"Bytes of frames Redis delivered to this node, its own echoes included: with sharded pub/sub, only rooms this node has members in.", nil, nil)
	descRoomsWatched = prometheus.NewDesc("chat_broker_rooms_watched",
		"Rooms this node is subscribed to on sharded pub/sub (0 on the single channel).", nil, nil)
	descSubscriptionsLost = prometheus.NewDesc("chat_broker_subscriptions_lost_total",
		"Times the broker's subscription to other nodes was lost.", nil, nil)
	descHeartbeats = prometheus.NewDesc("chat_node_heartbeats_total",
		"Renewals of this node's liveness entry, by outcome.", []string{"outcome"}, nil)
	descReaped = prometheus.NewDesc("chat_nodes_reaped_total",
		"Dead nodes whose participants this node marked disconnected.", nil, nil)
	descRestores = prometheus.NewDesc("chat_session_restores_total",
		"Reconnecting clients asking for their previous socket, by kind (cookie: socket.io-client 2.x, recovery: v5 connection state recovery) and outcome.", []string{"kind", "outcome"}, nil)
	descConns = prometheus.NewDesc("chat_http_connections",
		"Connections open on the public listener, WebSockets included.", nil, nil)
)

// sourceCollector turns the Sources' counters into metrics at scrape time.
type sourceCollector Metrics

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descSessionsOpened, descUpgrades, descHandshakeFailures,
		descRequestErrors, descDisconnects, descSentMessages, descSentBytes, descEvents, descSockets, descRooms,
		descDeliveries, descRefusals, descPublishes, descPublishErrors, descReceives, descReceivesRemote,
		descResyncs, descSubscriptionsLost, descBrokerBytes, descRoomsWatched, descHeartbeats, descReaped, descRestores, descConns} {
		ch <- d
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	src := Sources{}
	if p := c.src.Load(); p != nil {
		src = *p
	}
	refusals := map[string]uint64{}
	for reason, n := range c.restRefusals {
		refusals[reason] = n.Load()
	}
	if src.Engine != nil {
		st := src.Engine.Stats()
		for eio, byTransport := range st.Open {
			for tr, n := range byTransport {
				gauge(ch, descSessions, float64(n), eio, tr)
				counter(ch, descSessionsOpened, st.Opened[eio][tr], eio, tr)
			}
			counter(ch, descUpgrades, st.Upgrades[eio], eio)
		}
		for reason, n := range st.HandshakeFailures {
			counter(ch, descHandshakeFailures, n, reason)
		}
		for reason, n := range st.RequestErrors {
			counter(ch, descRequestErrors, n, reason)
		}
		for reason, n := range st.Closed {
			counter(ch, descDisconnects, n, reason)
		}
		for tr, n := range st.SentMessages {
			counter(ch, descSentMessages, n, tr)
			counter(ch, descSentBytes, st.SentBytes[tr], tr)
		}
	}
	if src.Events != nil {
		handled, other := src.Events.EventCounts()
		for name, n := range handled {
			counter(ch, descEvents, n, name)
		}
		counter(ch, descEvents, other, eventOther)
	}
	if src.Gateway != nil {
		st := src.Gateway.Stats()
		gauge(ch, descSockets, float64(st.Sockets))
		gauge(ch, descRooms, float64(st.Rooms))
		for kind, n := range st.Deliveries {
			counter(ch, descDeliveries, n, kind)
		}
		for code, n := range st.Refusals {
			refusals[code] = n
		}
		counter(ch, descPublishes, st.Published)
		counter(ch, descPublishErrors, st.PublishErrors)
		counter(ch, descReceives, st.Received)
		counter(ch, descResyncs, st.Resyncs)
		counter(ch, descHeartbeats, st.Heartbeats, "ok")
		counter(ch, descHeartbeats, st.HeartbeatsFailed, "failed")
		counter(ch, descReaped, st.NodesReaped)
		for kind, byOutcome := range st.Restores {
			for outcome, n := range byOutcome {
				counter(ch, descRestores, n, kind, outcome)
			}
		}
	}
	if src.Broker != nil {
		st := src.Broker.Stats()
		counter(ch, descReceivesRemote, st.FromOthers)
		counter(ch, descSubscriptionsLost, st.SubscriptionsLost)
		counter(ch, descBrokerBytes, st.ReceivedBytes)
		gauge(ch, descRoomsWatched, float64(st.Watched))
	}
	if src.Listener != nil {
		gauge(ch, descConns, float64(src.Listener.Open()))
		total, perIP := src.Listener.Refused()
		refusals[RefusalMaxConns], refusals[RefusalMaxConnsPerIP] = total, perIP
	}
	if src.Sessions != nil {
		refusals[RefusalMaxSessionsPerIP] = src.Sessions.Refused()
	}
	for reason, n := range refusals {
		counter(ch, descRefusals, n, reason)
	}
}
