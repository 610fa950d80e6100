package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"chatgateway/cmd/chatserver/memtrim"
	"chatgateway/gateway"
	"chatgateway/gateway/admin"
	"chatgateway/gateway/engineio"
	"chatgateway/gateway/jwtauth"
	"chatgateway/gateway/socketio"
	"chatgateway/httpapi"
	"chatgateway/httpapi/edge"
	"chatgateway/httpapi/ops"
	"chatgateway/rooms"
	"chatgateway/rooms/redisstore"
	"chatgateway/rooms/sqlitestore"
)

// config is every setting of the server. Each has a flag, an environment
// variable and a documented default; a flag wins over the environment.
type config struct {
	Port            int
	Host            string
	Store           string
	Delivery        string
	CORSOrigins     []string
	LogLevel        slog.Level
	LogFormat       string
	PingInterval    time.Duration
	PingTimeout     time.Duration
	UpgradeTimeout  time.Duration
	ConnectTimeout  time.Duration
	MaxPayload      int64
	MaxFrame        int64
	MaxBuffered     int64
	MaxAttachments  int
	MaxJSONDepth    int
	MaxBodyBytes    int64
	MaxContentBytes int
	RejoinGrace     time.Duration
	RecoveryWindow  time.Duration
	Identity        string
	EventRate       float64
	EventBurst      int
	MaxRooms        int
	JWTSecret       string
	JWTPublicKey    string
	JWTClaim        string
	ReorderTimeout  time.Duration
	ReorderLimit    int
	StoreTimeout    time.Duration
	MaxFieldBytes   int
	ShutdownTimeout time.Duration
	Cookie          string
	NodeID          string
	HeartbeatEvery  time.Duration
	NodeTTL         time.Duration
	SQLiteMaxBatch  int
	PprofAddr       string
	ListBroadcast   int
	ListInterval    time.Duration
	MemoryTrim      time.Duration

	HeaderTimeout    time.Duration
	ReadTimeout      time.Duration
	WriteTimeout     time.Duration
	IdleTimeout      time.Duration
	MaxHeaderBytes   int
	MaxConns         int
	MaxConnsPerIP    int
	FDReserve        int
	MaxSessionsPerIP int
	TrustedProxies   []netip.Prefix
	MaxRange         int64
	RESTWriteRate    float64
	RESTWriteBurst   int
	AdminToken       string
	MaxParticipants  int
	Retention        time.Duration
	RESTCORSOrigins  []string

	AdminUIUsername string
	AdminUIPassword string
	AdminUIMode     string
	AdminUIReadOnly bool

	MetricsAddr  string
	ReadyTimeout time.Duration
	DrainDelay   time.Duration
	PubSub       string
	WaitReplicas int
	WaitTimeout  time.Duration
}

type setting struct {
	flag, env, def, help string
	set                  func(c *config, v string) error
}

// secretSettings hold secrets: how their values may appear in messages,
// by environment variable.
var secretSettings = map[string]func(v string) string{
	"STORE":           redactStore,
	"AUTH_JWT_SECRET": hideAll,
	"ADMIN_TOKEN":     hideAll,
	// A bcrypt hash, not the password, but nothing to show either.
	"ADMIN_UI_PASSWORD": hideAll,
}

// hideAll redacts a secret setting entirely.
func hideAll(string) string { return redactedSecret }

func settings() []setting {
	return []setting{
		{"port", "PORT", "3000", "TCP port for REST and Socket.IO", func(c *config, v string) (err error) { c.Port, err = strconv.Atoi(v); return }},
		{"host", "HOST", "", "interface to listen on (empty: all, as the original)", func(c *config, v string) error { c.Host = v; return nil }},
		{"store", "STORE", defaultStore, "storage: sqlite:PATH (durable, one node), memory (lost on exit), redis://[:PASSWORD@]HOST:PORT/DB (shared by several nodes; rediss:// for TLS) or redis-cluster://HOST:PORT,HOST:PORT,... (a Redis Cluster; rediss-cluster:// for TLS)", func(c *config, v string) error {
			if _, err := parseStore(v); err != nil {
				return err
			}
			c.Store = v
			return nil
		}},
		{"delivery", "DELIVERY", string(gateway.DefaultDelivery), "room: events reach only the room's members; global: every socket, as the original", func(c *config, v string) error {
			if v != "room" && v != "global" {
				return fmt.Errorf("must be room or global")
			}
			c.Delivery = v
			return nil
		}},
		{"cors-origins", "CORS_ORIGINS", "", "comma-separated origins allowed on /socket.io/ (polling CORS and WebSocket Origin); empty reflects every origin with credentials, as the original", func(c *config, v string) error {
			c.CORSOrigins = splitList(v)
			return nil
		}},
		{"log-level", "LOG_LEVEL", "info", "debug, info, warn or error", func(c *config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
		{"log-format", "LOG_FORMAT", logFormatText, "text (key=value lines) or json (one object per line)", func(c *config, v string) error {
			if v != logFormatText && v != logFormatJSON {
				return fmt.Errorf("must be %s or %s", logFormatText, logFormatJSON)
			}
			c.LogFormat = v
			return nil
		}},
		{"ping-interval", "PING_INTERVAL", engineio.DefaultPingInterval.String(), "Engine.IO heartbeat interval", durationSetter(func(c *config) *time.Duration { return &c.PingInterval })},
		{"ping-timeout", "PING_TIMEOUT", engineio.DefaultPingTimeout.String(), "Engine.IO heartbeat timeout", durationSetter(func(c *config) *time.Duration { return &c.PingTimeout })},
		{"upgrade-timeout", "UPGRADE_TIMEOUT", engineio.DefaultUpgradeTimeout.String(), "time allowed for the polling-to-WebSocket upgrade", durationSetter(func(c *config) *time.Duration { return &c.UpgradeTimeout })},
		{"connect-timeout", "CONNECT_TIMEOUT", socketio.DefaultConnectTimeout.String(), "time a v4 client has to connect a namespace", durationSetter(func(c *config) *time.Duration { return &c.ConnectTimeout })},
		{"max-payload", "MAX_PAYLOAD", strconv.FormatInt(engineio.DefaultMaxPayload, 10), "max HTTP long-polling body, bytes (maxHttpBufferSize)", int64Setter(func(c *config) *int64 { return &c.MaxPayload })},
		{"max-frame", "MAX_FRAME", strconv.FormatInt(engineio.DefaultMaxFrame, 10), "max WebSocket message, bytes", int64Setter(func(c *config) *int64 { return &c.MaxFrame })},
		{"max-buffered", "MAX_BUFFERED", strconv.FormatInt(engineio.DefaultMaxBufferedBytes, 10), "max queued outbound bytes per session before it is cut off as a slow consumer", int64Setter(func(c *config) *int64 { return &c.MaxBuffered })},
		{"max-attachments", "MAX_ATTACHMENTS", strconv.Itoa(socketio.DefaultMaxAttachments), "max binary attachments per Socket.IO packet", intSetter(func(c *config) *int { return &c.MaxAttachments })},
		{"max-json-depth", "MAX_JSON_DEPTH", strconv.Itoa(socketio.DefaultMaxJSONDepth), "max JSON nesting depth per Socket.IO packet", intSetter(func(c *config) *int { return &c.MaxJSONDepth })},
		{"max-body", "MAX_BODY", strconv.Itoa(httpapi.DefaultMaxBodyBytes), "max REST request body, bytes (body-parser's 100kb)", int64Setter(func(c *config) *int64 { return &c.MaxBodyBytes })},
		{"max-content", "MAX_CONTENT", strconv.Itoa(rooms.DefaultMaxContentBytes), "max chat message content, bytes", intSetter(func(c *config) *int { return &c.MaxContentBytes })},
		{"rejoin-grace", "REJOIN_GRACE", gateway.DefaultRejoinGrace.String(), "how long a disconnected 2.x client's rooms are kept for its reconnection (room delivery); off disables it", durationOrOffSetter(func(c *config) *time.Duration { return &c.RejoinGrace })},
		{"recovery-window", "RECOVERY_WINDOW", gateway.DefaultRecoveryWindow.String(), "how long a disconnected socket.io-client 4.x can recover its socket, rooms and missed messages (connection state recovery, room delivery); off disables it", durationOrOffSetter(func(c *config) *time.Duration { return &c.RecoveryWindow })},
		{"identity", "IDENTITY", "", "bound: a socket posts only into rooms it joined, under the name it joined with; open: anyone as anyone, as the original; empty: bound with DELIVERY=room, open with global", func(c *config, v string) error {
			if v != "" && v != string(gateway.IdentityBound) && v != string(gateway.IdentityOpen) {
				return fmt.Errorf("must be bound, open or empty")
			}
			c.Identity = v
			return nil
		}},
		{"event-rate", "EVENT_RATE", strconv.FormatFloat(gateway.DefaultEventRate, 'g', -1, 64), "events per second each socket may send (token bucket; over it: code rate-limited); off lifts it", func(c *config, v string) error {
			if v == "off" {
				c.EventRate = -1
				return nil
			}
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || r <= 0 {
				return fmt.Errorf("must be a positive number or off")
			}
			c.EventRate = r
			return nil
		}},
		{"event-burst", "EVENT_BURST", strconv.Itoa(gateway.DefaultEventBurst), "events a socket may send at once above EVENT_RATE", intSetter(func(c *config) *int { return &c.EventBurst })},
		{"max-rooms", "MAX_ROOMS", strconv.Itoa(gateway.DefaultMaxRoomsPerSocket), "rooms one socket may be in at once (over it: code rooms.too-many)", intSetter(func(c *config) *int { return &c.MaxRooms })},
		{"auth-jwt-secret", "AUTH_JWT_SECRET", "", "HS256 secret (32 bytes or more): sockets must present a JWT (auth.token, or ?token= for 2.x clients) and join under its username; empty: no authentication", func(c *config, v string) error { c.JWTSecret = v; return nil }},
		{"auth-jwt-public-key", "AUTH_JWT_PUBLIC_KEY", "", "PEM file of the RSA (RS256) or EC P-256 (ES256) public key tokens are signed for, instead of AUTH_JWT_SECRET", func(c *config, v string) error { c.JWTPublicKey = v; return nil }},
		{"auth-jwt-claim", "AUTH_JWT_CLAIM", jwtauth.DefaultClaim, "JWT claim holding the username", func(c *config, v string) error { c.JWTClaim = v; return nil }},
		{"reorder-timeout", "REORDER_TIMEOUT", gateway.DefaultReorderTimeout.String(), "how long a room message that arrived ahead of its predecessor waits before the gap is read back from the store", durationSetter(func(c *config) *time.Duration { return &c.ReorderTimeout })},
		{"reorder-limit", "REORDER_LIMIT", strconv.Itoa(gateway.DefaultReorderLimit), "max out-of-order messages held per room before the gap is filled from the store", intSetter(func(c *config) *int { return &c.ReorderLimit })},
		{"store-timeout", "STORE_TIMEOUT", gateway.DefaultStoreTimeout.String(), "bound on each store call made for one socket event or delivery", durationSetter(func(c *config) *time.Duration { return &c.StoreTimeout })},
		{"max-field", "MAX_FIELD", strconv.Itoa(gateway.DefaultMaxFieldBytes), "max bytes of identifier-like socket fields (roomId, username, avatar, to, type, createdAt) and of REST roomId and creatorUsername", intSetter(func(c *config) *int { return &c.MaxFieldBytes })},
		{"shutdown-timeout", "SHUTDOWN_TIMEOUT", "10s", "grace period for a clean shutdown on SIGTERM/SIGINT", durationSetter(func(c *config) *time.Duration { return &c.ShutdownTimeout })},
		{"cookie", "COOKIE", "io", "name of the EIO3-style session cookie; empty disables it", func(c *config, v string) error { c.Cookie = v; return nil }},
		{"node-id", "NODE_ID", "", "name of this node in participant entries and the Redis node registry; empty: hostname plus a random suffix", func(c *config, v string) error { c.NodeID = v; return nil }},
		{"heartbeat-interval", "HEARTBEAT_INTERVAL", gateway.DefaultHeartbeatInterval.String(), "with a Redis store: how often a node renews its liveness entry and looks for dead nodes", durationSetter(func(c *config) *time.Duration { return &c.HeartbeatEvery })},
		{"node-ttl", "NODE_TTL", gateway.DefaultNodeTTL.String(), "with a Redis store: a node silent this long is dead, and its participants become connected:false; must exceed HEARTBEAT_INTERVAL", durationSetter(func(c *config) *time.Duration { return &c.NodeTTL })},
		{"list-broadcast-max", "LIST_BROADCAST_MAX", strconv.Itoa(gateway.DefaultListBroadcastMax), "rooms with more recipients than this send a changed participant list only to the socket that joined (re-broadcasting n entries to n members is O(n²) bytes)", intSetter(func(c *config) *int { return &c.ListBroadcast })},
		{"list-interval", "LIST_INTERVAL", gateway.DefaultListInterval.String(), "least time between two participant-list deliveries of a room above LIST_BROADCAST_MAX; its joiners within it share one list", durationSetter(func(c *config) *time.Duration { return &c.ListInterval })},
		{"max-participants", "MAX_PARTICIPANTS", strconv.Itoa(rooms.DefaultMaxParticipants), "most entries in one room's participant list; a new name joining a full room evicts the entry disconnected longest ago, or is refused with code room.full when all are connected", intSetter(func(c *config) *int { return &c.MaxParticipants })},
		{"participant-retention", "PARTICIPANT_RETENTION", rooms.DefaultParticipantRetention.String(), "how long a disconnected participant stays listed (pruned when the room gets a new entry); at least REJOIN_GRACE and RECOVERY_WINDOW", durationSetter(func(c *config) *time.Duration { return &c.Retention })},
		{"pprof-addr", "PPROF_ADDR", "", "address of a separate listener serving net/http/pprof (e.g. 127.0.0.1:6060); empty: off", func(c *config, v string) error { c.PprofAddr = v; return nil }},
		{"memory-trim", "MEMORY_TRIM", memtrim.DefaultInterval.String(), "how often the server checks whether it went quiet after a burst (connections, joins) and then returns the memory the burst left free to the system, once per burst, as V8's memory reducer does for Node; off disables it", durationOrOffSetter(func(c *config) *time.Duration { return &c.MemoryTrim })},
		{"pubsub", "PUBSUB", pubsubAuto, "with a Redis store: sharded: one sharded pub/sub channel per room (Redis 7), each node subscribed only to the rooms it has members in; single: one channel every node reads whole; auto: sharded on a cluster or a Redis 7 server in room delivery, else single (global delivery is always single)", func(c *config, v string) error {
			if v != pubsubAuto && v != pubsubSharded && v != pubsubSingle {
				return fmt.Errorf("must be auto, sharded or single")
			}
			c.PubSub = v
			return nil
		}},
		{"redis-wait-replicas", "REDIS_WAIT_REPLICAS", "0", "with a Redis store: a message is acknowledged only once this many replicas of its master have it (WAIT), so a failover loses no acknowledged message; 0: replication is asynchronous", nonNegativeIntSetter(func(c *config) *int { return &c.WaitReplicas })},
		{"redis-wait-timeout", "REDIS_WAIT_TIMEOUT", redisstore.DefaultWaitTimeout.String(), "with REDIS_WAIT_REPLICAS: how long a post waits for the replicas; past it the post fails with store.unavailable although the master stored it (members get it with the next message); below 3s", durationSetter(func(c *config) *time.Duration { return &c.WaitTimeout })},
		{"sqlite-max-batch", "SQLITE_MAX_BATCH", strconv.Itoa(sqlitestore.DefaultMaxBatch), "with a SQLite store: max writes group-committed in one transaction", intSetter(func(c *config) *int { return &c.SQLiteMaxBatch })},

		// The HTTP edge, on every listener (see README, Security).
		{"header-timeout", "HEADER_TIMEOUT", edge.DefaultHeaderTimeout.String(), "most time to read a request head; a slower connection is closed", durationSetter(func(c *config) *time.Duration { return &c.HeaderTimeout })},
		{"read-timeout", "READ_TIMEOUT", edge.DefaultReadTimeout.String(), "most time to read a whole request with its body (requests without a body, such as long-polls, are exempt)", durationSetter(func(c *config) *time.Duration { return &c.ReadTimeout })},
		{"write-timeout", "WRITE_TIMEOUT", edge.DefaultWriteTimeout.String(), "most time one write of an answer may stall; every write moves the deadline, so long-polls and long histories are not cut", durationSetter(func(c *config) *time.Duration { return &c.WriteTimeout })},
		{"idle-timeout", "IDLE_TIMEOUT", edge.DefaultIdleTimeout.String(), "a keep-alive connection idle this long is closed", durationSetter(func(c *config) *time.Duration { return &c.IdleTimeout })},
		{"max-header-bytes", "MAX_HEADER_BYTES", strconv.Itoa(edge.DefaultMaxHeaderBytes), "max request head, bytes (431 beyond)", intSetter(func(c *config) *int { return &c.MaxHeaderBytes })},
		{"max-conns", "MAX_CONNS", "0", "max connections open at once, WebSockets included; 0: the descriptor limit (RLIMIT_NOFILE) minus FD_RESERVE, and a larger value is lowered to that", nonNegativeIntSetter(func(c *config) *int { return &c.MaxConns })},
		{"max-conns-per-ip", "MAX_CONNS_PER_IP", strconv.Itoa(edge.DefaultMaxConnsPerIP), "max connections open at once from one address (IPv6: one /64); trusted proxies are exempt", intSetter(func(c *config) *int { return &c.MaxConnsPerIP })},
		{"fd-reserve", "FD_RESERVE", strconv.Itoa(edge.DefaultFDReserve), "file descriptors kept out of MAX_CONNS for the store, the listeners and refusals", intSetter(func(c *config) *int { return &c.FDReserve })},
		{"max-sessions-per-ip", "MAX_SESSIONS_PER_IP", strconv.Itoa(edge.DefaultMaxSessionsPerIP), "max Engine.IO sessions open at once for one client address (polling sessions hold no connection)", intSetter(func(c *config) *int { return &c.MaxSessionsPerIP })},
		{"trusted-proxies", "TRUSTED_PROXIES", "", "comma-separated CIDR prefixes or addresses of reverse proxies whose X-Forwarded-For is believed; empty: none, the peer address is the client", func(c *config, v string) (err error) {
			c.TrustedProxies, err = edge.ParsePrefixes(v)
			return err
		}},
		{"max-range", "MAX_RANGE", strconv.Itoa(rooms.DefaultMaxRange), "widest history range one REST read may ask for (toIndex-fromIndex+1); wider gets 400 req-params.validation", int64Setter(func(c *config) *int64 { return &c.MaxRange })},
		{"rest-write-rate", "REST_WRITE_RATE", strconv.Itoa(httpapi.DefaultWriteRate), "REST room creations and closings per second allowed per client address, on average (token bucket); over it: 429 with Retry-After", func(c *config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return err
			}
			if !(f > 0) || math.IsInf(f, 0) {
				return fmt.Errorf("must be a positive number")
			}
			c.RESTWriteRate = f
			return nil
		}},
		{"rest-write-burst", "REST_WRITE_BURST", strconv.Itoa(httpapi.DefaultWriteBurst), "REST room creations and closings one client address may make at once before REST_WRITE_RATE applies", intSetter(func(c *config) *int { return &c.RESTWriteBurst })},
		{"admin-ui-username", "ADMIN_UI_USERNAME", "", "user name of the Socket.IO Admin UI (namespace /admin); with ADMIN_UI_PASSWORD it turns the admin namespace on; empty: off", func(c *config, v string) error { c.AdminUIUsername = v; return nil }},
		{"admin-ui-password", "ADMIN_UI_PASSWORD", "", "bcrypt hash of the Admin UI password (as @socket.io/admin-ui takes it, e.g. from htpasswd -nbBC 12 \"\" 'secret' | cut -d: -f2); prefer the environment variable", func(c *config, v string) error { c.AdminUIPassword = v; return nil }},
		{"admin-ui-mode", "ADMIN_UI_MODE", string(admin.DefaultMode), "development: the Admin UI sees every socket, room and event; production: only the server's figures every 2s", func(c *config, v string) error {
			if v != string(admin.ModeDevelopment) && v != string(admin.ModeProduction) {
				return fmt.Errorf("must be %s or %s", admin.ModeDevelopment, admin.ModeProduction)
			}
			c.AdminUIMode = v
			return nil
		}},
		{"admin-ui-readonly", "ADMIN_UI_READONLY", "false", "true: the Admin UI may look but not disconnect sockets", func(c *config, v string) (err error) { c.AdminUIReadOnly, err = strconv.ParseBool(v); return }},
		{"admin-token", "ADMIN_TOKEN", "", "when set, REST room creation and closing require Authorization: Bearer <token> (401 otherwise); prefer the environment variable, a flag shows in ps", func(c *config, v string) error { c.AdminToken = v; return nil }},
		{"rest-cors-origins", "REST_CORS_ORIGINS", "", "comma-separated origins (scheme://host[:port], or *) whose pages may call the REST API: preflights answered, answers marked readable; listed origins may also create and close rooms from a browser; empty: no CORS on REST, as the original", func(c *config, v string) error {
			c.RESTCORSOrigins = splitList(v)
			return httpapi.CheckCORSOrigins(c.RESTCORSOrigins)
		}},

		// Operations (see README, Operations).
		{"metrics-addr", "METRICS_ADDR", "", "address of a separate listener for /metrics (e.g. 127.0.0.1:9090); empty: /metrics on the main port", func(c *config, v string) error { c.MetricsAddr = v; return nil }},
		{"ready-timeout", "READY_TIMEOUT", ops.DefaultReadyTimeout.String(), "bound on the store and broker checks of one /readyz probe; slower is not ready (503)", durationSetter(func(c *config) *time.Duration { return &c.ReadyTimeout })},
		{"drain-delay", "DRAIN_DELAY", "0s", "on SIGTERM/SIGINT, how long /readyz answers 503 while everything still works, before sockets are closed and the listener stops: set it to your load balancer's probe interval so it stops sending first", func(c *config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return err
			}
			if d < 0 {
				return fmt.Errorf("must not be negative")
			}
			c.DrainDelay = d
			return nil
		}},
	}
}

// nonNegativeIntSetter is intSetter that also takes 0 (an automatic value).
func nonNegativeIntSetter(field func(*config) *int) func(*config, string) error {
	return func(c *config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		if n < 0 {
			return fmt.Errorf("must not be negative")
		}
		*field(c) = n
		return nil
	}
}

func durationSetter(field func(*config) *time.Duration) func(*config, string) error {
	return func(c *config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		if d <= 0 {
			return fmt.Errorf("must be positive")
		}
		*field(c) = d
		return nil
	}
}

// durationOrOffSetter is durationSetter that also takes "off", stored as a
// negative duration (the gateway's "disabled").
func durationOrOffSetter(field func(*config) *time.Duration) func(*config, string) error {
	positive := durationSetter(field)
	return func(c *config, v string) error {
		if v == "off" {
			*field(c) = -1
			return nil
		}
		return positive(c, v)
	}
}

func int64Setter(field func(*config) *int64) func(*config, string) error {
	return func(c *config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return err
		}
		if n <= 0 {
			return fmt.Errorf("must be positive")
		}
		*field(c) = n
		return nil
	}
}

func intSetter(field func(*config) *int) func(*config, string) error {
	return func(c *config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		if n <= 0 {
			return fmt.Errorf("must be positive")
		}
		*field(c) = n
		return nil
	}
}

// loadConfig applies defaults, then the environment, then flags.
func loadConfig(args []string, getenv func(string) string, usageOut io.Writer) (config, error) {
	var c config
	all := settings()
	fs := flag.NewFlagSet("chatserver", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	flagValues := make(map[string]*string, len(all))
	for _, s := range all {
		flagValues[s.flag] = fs.String(s.flag, "", fmt.Sprintf("%s (env %s, default %q)", s.help, s.env, s.def))
	}
	fs.Usage = func() {
		fmt.Fprintf(usageOut, "Usage: chatserver [flags]\n\nA Socket.IO chat gateway and rooms REST API, drop-in for the NestJS chat server.\nEvery flag can also be set by its environment variable; a flag wins.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	setFlags := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setFlags[f.Name] = true })
	for _, s := range all {
		v := s.def
		if e, ok := lookupEnv(getenv, s.env); ok {
			v = e
		}
		if setFlags[s.flag] {
			v = *flagValues[s.flag]
		}
		if err := s.set(&c, v); err != nil {
			shown := v
			if redact := secretSettings[s.env]; redact != nil {
				shown = redact(v)
			}
			return c, fmt.Errorf("%s (%s=%q): %w", s.flag, s.env, shown, err)
		}
	}
	if (c.AdminUIUsername == "") != (c.AdminUIPassword == "") {
		return c, fmt.Errorf("admin-ui-username (ADMIN_UI_USERNAME) and admin-ui-password (ADMIN_UI_PASSWORD) go together: set both or neither")
	}
	if c.WaitTimeout >= redisIOTimeout {
		return c, fmt.Errorf("redis-wait-timeout (REDIS_WAIT_TIMEOUT=%v) must be below the Redis read timeout %v", c.WaitTimeout, redisIOTimeout)
	}
	if c.NodeTTL <= c.HeartbeatEvery {
		return c, fmt.Errorf("node-ttl (NODE_TTL=%v) must exceed heartbeat-interval (HEARTBEAT_INTERVAL=%v)", c.NodeTTL, c.HeartbeatEvery)
	}
	// A reconnecting client reclaims its participant entry within these
	// windows (room delivery only), so the entry must still be there.
	for _, w := range []struct {
		name string
		d    time.Duration
	}{{"rejoin-grace (REJOIN_GRACE", c.RejoinGrace}, {"recovery-window (RECOVERY_WINDOW", c.RecoveryWindow}} {
		if c.Delivery == string(gateway.DeliveryRoom) && c.Retention < w.d {
			return c, fmt.Errorf("participant-retention (PARTICIPANT_RETENTION=%v) must be at least %s=%v): a reconnecting client's entry would be pruned before it is back", c.Retention, w.name, w.d)
		}
	}
	return c, nil
}

// splitList reads a comma-separated list, ignoring blanks.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	if getenv == nil {
		getenv = os.Getenv
	}
	v := getenv(name)
	return v, v != ""
}
