package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
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

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(config) bool
		wantErr bool
	}{
		{"defaults", nil, nil, func(c config) bool {
			return c.Port == 3000 && c.Store == "sqlite:./data/chat.db" && c.Delivery == "room" && c.PingInterval == 25*time.Second &&
				c.PingTimeout == 20*time.Second && c.MaxPayload == 1_000_000 && c.Cookie == "io" && c.CORSOrigins == nil
		}, false},
		{"env", nil, map[string]string{"PORT": "3456", "DELIVERY": "global", "CORS_ORIGINS": "http://a, http://b"}, func(c config) bool {
			return c.Port == 3456 && c.Delivery == "global" && len(c.CORSOrigins) == 2 && c.CORSOrigins[1] == "http://b"
		}, false},
		{"flag wins over env", []string{"--port", "4000"}, map[string]string{"PORT": "3456"}, func(c config) bool { return c.Port == 4000 }, false},
		{"bad delivery", nil, map[string]string{"DELIVERY": "everywhere"}, nil, true},
		{"bad duration", []string{"--ping-interval", "soon"}, nil, nil, true},
		{"non-positive limit", nil, map[string]string{"MAX_BUFFERED": "0"}, nil, true},
		{"bad log level", nil, map[string]string{"LOG_LEVEL": "loud"}, nil, true},
		{"memory store", nil, map[string]string{"STORE": "memory"}, func(c config) bool { return c.Store == "memory" }, false},
		{"sqlite store", []string{"--store", "sqlite:/tmp/x.db"}, nil, func(c config) bool { return c.Store == "sqlite:/tmp/x.db" }, false},
		{"redis store", nil, map[string]string{"STORE": "redis://127.0.0.1:6379/2"}, func(c config) bool { return c.Store == "redis://127.0.0.1:6379/2" }, false},
		{"sqlite without a path", nil, map[string]string{"STORE": "sqlite:"}, nil, true},
		{"unknown store", nil, map[string]string{"STORE": "postgres://x"}, nil, true},
		{"redis url without a host", nil, map[string]string{"STORE": "redis:///0"}, nil, true},
		{"redis over tls", nil, map[string]string{"STORE": "rediss://127.0.0.1:6380/0"}, func(c config) bool { return c.Store == "rediss://127.0.0.1:6380/0" }, false},
		{"redis cluster", nil, map[string]string{"STORE": "redis-cluster://u:p@127.0.0.1:7000,127.0.0.1:7001"}, func(c config) bool {
			spec, err := parseStore(c.Store)
			return err == nil && spec.kind == storeRedisCluster && spec.shared()
		}, false},
		{"redis cluster over tls", nil, map[string]string{"STORE": "rediss-cluster://[::1]:7000"}, func(c config) bool { return c.Store == "rediss-cluster://[::1]:7000" }, false},
		{"redis cluster node without a port", nil, map[string]string{"STORE": "redis-cluster://127.0.0.1:7000,127.0.0.1"}, nil, true},
		{"redis cluster with a database", nil, map[string]string{"STORE": "redis-cluster://127.0.0.1:7000/2"}, nil, true},
		{"redis cluster without nodes", nil, map[string]string{"STORE": "redis-cluster://"}, nil, true},
		{"redis defaults", nil, nil, func(c config) bool {
			return c.PubSub == pubsubAuto && c.WaitReplicas == 0 && c.WaitTimeout == redisstore.DefaultWaitTimeout
		}, false},
		{"redis settings", nil, map[string]string{"PUBSUB": "single", "REDIS_WAIT_REPLICAS": "1", "REDIS_WAIT_TIMEOUT": "2s"}, func(c config) bool {
			return c.PubSub == pubsubSingle && c.WaitReplicas == 1 && c.WaitTimeout == 2*time.Second
		}, false},
		{"unknown pubsub", nil, map[string]string{"PUBSUB": "both"}, nil, true},
		{"negative replicas", nil, map[string]string{"REDIS_WAIT_REPLICAS": "-1"}, nil, true},
		{"replica wait past the read timeout", nil, map[string]string{"REDIS_WAIT_TIMEOUT": "3s"}, nil, true},
		{"node ttl not above the heartbeat", nil, map[string]string{"NODE_TTL": "2s", "HEARTBEAT_INTERVAL": "2s"}, nil, true},
		{"edge defaults", nil, nil, func(c config) bool {
			return c.HeaderTimeout == edge.DefaultHeaderTimeout && c.HeaderTimeout <= 10*time.Second && c.ReadTimeout == edge.DefaultReadTimeout &&
				c.WriteTimeout == edge.DefaultWriteTimeout && c.IdleTimeout == edge.DefaultIdleTimeout && c.MaxHeaderBytes == edge.DefaultMaxHeaderBytes &&
				c.MaxConns == 0 && c.MaxConnsPerIP == edge.DefaultMaxConnsPerIP && c.FDReserve == edge.DefaultFDReserve &&
				c.MaxSessionsPerIP == edge.DefaultMaxSessionsPerIP && c.TrustedProxies == nil && c.MaxRange == rooms.DefaultMaxRange &&
				c.RESTWriteRate == httpapi.DefaultWriteRate && c.RESTWriteBurst == httpapi.DefaultWriteBurst && c.AdminToken == ""
		}, false},
		{"edge settings", nil, map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1", "MAX_CONNS": "100", "REST_WRITE_RATE": "0.5", "ADMIN_TOKEN": "t", "MAX_RANGE": "50"}, func(c config) bool {
			return len(c.TrustedProxies) == 2 && c.TrustedProxies[1].String() == "192.0.2.1/32" && c.MaxConns == 100 && c.RESTWriteRate == 0.5 && c.AdminToken == "t" && c.MaxRange == 50
		}, false},
		{"bad trusted proxy", nil, map[string]string{"TRUSTED_PROXIES": "10.0.0.0/40"}, nil, true},
		{"negative max conns", nil, map[string]string{"MAX_CONNS": "-1"}, nil, true},
		{"zero write rate", nil, map[string]string{"REST_WRITE_RATE": "0"}, nil, true},
		{"zero header timeout", nil, map[string]string{"HEADER_TIMEOUT": "0s"}, nil, true},
		{"participant limits default to the rooms package's", nil, nil, func(c config) bool {
			return c.MaxParticipants == rooms.DefaultMaxParticipants && c.Retention == rooms.DefaultParticipantRetention
		}, false},
		{"participant limits", nil, map[string]string{"MAX_PARTICIPANTS": "100", "PARTICIPANT_RETENTION": "3m"}, func(c config) bool {
			return c.MaxParticipants == 100 && c.Retention == 3*time.Minute
		}, false},
		{"no participants", nil, map[string]string{"MAX_PARTICIPANTS": "0"}, nil, true},
		{"retention shorter than the rejoin grace", nil, map[string]string{"PARTICIPANT_RETENTION": "3m", "REJOIN_GRACE": "4m"}, nil, true},
		{"retention shorter than the recovery window", []string{"--participant-retention", "1m"}, map[string]string{"REJOIN_GRACE": "30s"}, nil, true},
		{"retention shorter than the windows, which global delivery does not use", nil, map[string]string{"PARTICIPANT_RETENTION": "1s", "DELIVERY": "global"}, func(c config) bool {
			return c.Retention == time.Second
		}, false},
		{"retention with both windows off", nil, map[string]string{"PARTICIPANT_RETENTION": "1s", "REJOIN_GRACE": "off", "RECOVERY_WINDOW": "off"}, func(c config) bool {
			return c.Retention == time.Second
		}, false},
		{"admin UI off by default", nil, nil, func(c config) bool {
			return c.AdminUIUsername == "" && c.AdminUIPassword == "" && c.AdminUIMode == "development" && !c.AdminUIReadOnly
		}, false},
		{"admin UI", nil, map[string]string{"ADMIN_UI_USERNAME": "ops", "ADMIN_UI_PASSWORD": "$2a$10$x", "ADMIN_UI_MODE": "production", "ADMIN_UI_READONLY": "true"}, func(c config) bool {
			return c.AdminUIUsername == "ops" && c.AdminUIPassword == "$2a$10$x" && c.AdminUIMode == "production" && c.AdminUIReadOnly
		}, false},
		{"admin UI user without password", nil, map[string]string{"ADMIN_UI_USERNAME": "ops"}, nil, true},
		{"admin UI password without user", nil, map[string]string{"ADMIN_UI_PASSWORD": "$2a$10$x"}, nil, true},
		{"bad admin UI mode", nil, map[string]string{"ADMIN_UI_MODE": "staging"}, nil, true},
		{"bad admin UI readonly", nil, map[string]string{"ADMIN_UI_READONLY": "maybe"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.check != nil && !tc.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

// TestDefaultsAreThePackagesDefaults ties every default the command line
// states to the constant of the package that owns the setting, so the two
// cannot drift apart.
func TestDefaultsAreThePackagesDefaults(t *testing.T) {
	c, err := loadConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		setting   string
		got, want any
	}{
		{"DELIVERY", gateway.Delivery(c.Delivery), gateway.DefaultDelivery},
		{"PING_INTERVAL", c.PingInterval, engineio.DefaultPingInterval},
		{"PING_TIMEOUT", c.PingTimeout, engineio.DefaultPingTimeout},
		{"UPGRADE_TIMEOUT", c.UpgradeTimeout, engineio.DefaultUpgradeTimeout},
		{"CONNECT_TIMEOUT", c.ConnectTimeout, socketio.DefaultConnectTimeout},
		{"MAX_PAYLOAD", c.MaxPayload, int64(engineio.DefaultMaxPayload)},
		{"MAX_FRAME", c.MaxFrame, int64(engineio.DefaultMaxFrame)},
		{"MAX_BUFFERED", c.MaxBuffered, int64(engineio.DefaultMaxBufferedBytes)},
		{"MAX_ATTACHMENTS", c.MaxAttachments, socketio.DefaultMaxAttachments},
		{"MAX_JSON_DEPTH", c.MaxJSONDepth, socketio.DefaultMaxJSONDepth},
		{"MAX_BODY", c.MaxBodyBytes, int64(httpapi.DefaultMaxBodyBytes)},
		{"MAX_CONTENT", c.MaxContentBytes, rooms.DefaultMaxContentBytes},
		{"REJOIN_GRACE", c.RejoinGrace, gateway.DefaultRejoinGrace},
		{"RECOVERY_WINDOW", c.RecoveryWindow, gateway.DefaultRecoveryWindow},
		{"EVENT_RATE", c.EventRate, gateway.DefaultEventRate},
		{"EVENT_BURST", c.EventBurst, gateway.DefaultEventBurst},
		{"MAX_ROOMS", c.MaxRooms, gateway.DefaultMaxRoomsPerSocket},
		{"AUTH_JWT_CLAIM", c.JWTClaim, jwtauth.DefaultClaim},
		{"REORDER_TIMEOUT", c.ReorderTimeout, gateway.DefaultReorderTimeout},
		{"REORDER_LIMIT", c.ReorderLimit, gateway.DefaultReorderLimit},
		{"STORE_TIMEOUT", c.StoreTimeout, gateway.DefaultStoreTimeout},
		{"MAX_FIELD", c.MaxFieldBytes, gateway.DefaultMaxFieldBytes},
		{"HEARTBEAT_INTERVAL", c.HeartbeatEvery, gateway.DefaultHeartbeatInterval},
		{"NODE_TTL", c.NodeTTL, gateway.DefaultNodeTTL},
		{"LIST_BROADCAST_MAX", c.ListBroadcast, gateway.DefaultListBroadcastMax},
		{"LIST_INTERVAL", c.ListInterval, gateway.DefaultListInterval},
		{"SQLITE_MAX_BATCH", c.SQLiteMaxBatch, sqlitestore.DefaultMaxBatch},
		{"READY_TIMEOUT", c.ReadyTimeout, ops.DefaultReadyTimeout},
		{"ADMIN_UI_MODE", admin.Mode(c.AdminUIMode), admin.DefaultMode},
		{"MEMORY_TRIM", c.MemoryTrim, memtrim.DefaultInterval},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: the command line's default %v, the package's %v", tt.setting, tt.got, tt.want)
		}
	}
}

func TestRedisStoreURLs(t *testing.T) {
	tests := []struct {
		store, shown string
		ok           bool
	}{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", true},
		{"rediss://cache.example:6380/1", "rediss://cache.example:6380/1", true},
		{"redis://:s3cretpw@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0", true},
		{"rediss://app:s3cretpw@cache.example:6380/0", "rediss://app:xxxxx@cache.example:6380/0", true},
		{"redis://user@127.0.0.1:6379/0", "redis://user@127.0.0.1:6379/0", true},
		// Does not parse (an unescaped '#' cuts the host): still redacted.
		{"redis://:pa#ss@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0", false},
		{"redis://:s3cretpw@/0", "redis://:xxxxx@/0", false},
	}
	for _, tc := range tests {
		t.Run(tc.store, func(t *testing.T) {
			if got := redactStore(tc.store); got != tc.shown {
				t.Errorf("redactStore = %q, want %q", got, tc.shown)
			}
			_, err := loadConfig(nil, func(k string) string {
				if k == "STORE" {
					return tc.store
				}
				return ""
			}, io.Discard)
			if (err == nil) != tc.ok {
				t.Fatalf("loadConfig: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && (strings.Contains(err.Error(), "s3cretpw") || strings.Contains(err.Error(), "pa#ss")) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestOperationsSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(config) bool
		wantErr bool
	}{
		{"defaults", nil, func(c config) bool {
			return c.LogFormat == "text" && c.MetricsAddr == "" && c.ReadyTimeout == ops.DefaultReadyTimeout && c.DrainDelay == 0 && c.RESTCORSOrigins == nil
		}, false},
		{"json logs", map[string]string{"LOG_FORMAT": "json"}, func(c config) bool { return c.LogFormat == "json" }, false},
		{"bad log format", map[string]string{"LOG_FORMAT": "xml"}, nil, true},
		{"drain delay", map[string]string{"DRAIN_DELAY": "5s", "READY_TIMEOUT": "500ms"}, func(c config) bool {
			return c.DrainDelay == 5*time.Second && c.ReadyTimeout == 500*time.Millisecond
		}, false},
		{"negative drain delay", map[string]string{"DRAIN_DELAY": "-1s"}, nil, true},
		{"REST CORS origins", map[string]string{"REST_CORS_ORIGINS": "https://app.example, http://localhost:4200"}, func(c config) bool {
			return len(c.RESTCORSOrigins) == 2 && c.RESTCORSOrigins[1] == "http://localhost:4200"
		}, false},
		{"REST CORS any origin", map[string]string{"REST_CORS_ORIGINS": "*"}, func(c config) bool { return c.RESTCORSOrigins[0] == "*" }, false},
		{"REST CORS origin with a path", map[string]string{"REST_CORS_ORIGINS": "https://app.example/x"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(nil, func(k string) string { return tc.env[k] }, io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.check != nil && !tc.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

// TestLogsNeverShowSecrets: whatever a record carries (a message, a
// string, an error, a group), the Redis password, ADMIN_TOKEN and
// AUTH_JWT_SECRET are replaced.
func TestLogsNeverShowSecrets(t *testing.T) {
	const (
		password = "pass%40word" // as written in the URL; Redis gets "pass@word"
		token    = "admin-token-value"
		secret   = "an-hs256-secret-of-at-least-32-bytes!"
	)
	cfg, err := loadConfig(nil, func(k string) string {
		return map[string]string{"STORE": "redis://:" + password + "@127.0.0.1:6379/0", "ADMIN_TOKEN": token, "AUTH_JWT_SECRET": secret}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{logFormatText, logFormatJSON} {
		cfg.LogFormat = format
		var out strings.Builder
		logger := newLogger(&out, cfg).With("store", cfg.Store)
		logger.Error("dial redis://:"+password+"@127.0.0.1 failed", "err", fmt.Errorf("auth pass@word rejected"),
			"token", token, slog.Group("auth", "secret", secret))
		got := out.String()
		for _, leaked := range []string{password, "pass@word", token, secret} {
			if strings.Contains(got, leaked) {
				t.Errorf("%s log shows %q: %s", format, leaked, got)
			}
		}
		if !strings.Contains(got, redactedSecret) {
			t.Errorf("%s log has no redaction mark: %s", format, got)
		}
	}
}
