package main

import (
	"io"
	"testing"
	"time"

	"chatgateway/httpapi"
	"chatgateway/httpapi/edge"
	"chatgateway/rooms"
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
