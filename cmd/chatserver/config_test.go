package main

import (
	"io"
	"testing"
	"time"

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
