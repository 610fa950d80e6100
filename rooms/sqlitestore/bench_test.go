package sqlitestore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"chatgateway/rooms"
)

// BenchmarkAppendParallel compares one fsync per append (MaxBatch=1) with
// group commit. Many goroutines per CPU stand for many chat clients
// waiting on the disk at once.
func BenchmarkAppendParallel(b *testing.B) {
	const (
		roomCount       = 16
		goroutinesCPU   = 16 // RunParallel goroutines per GOMAXPROCS
		messageTemplate = "a message of ordinary length, a few dozen characters"
	)
	for _, bc := range []struct {
		name     string
		maxBatch int
	}{
		{"MaxBatch=1", 1},
		{fmt.Sprintf("MaxBatch=%d(default)", DefaultMaxBatch), DefaultMaxBatch},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := openStore(b, filepath.Join(b.TempDir(), "chat.db"), WithMaxBatch(bc.maxBatch))
			ctx := context.Background()
			for i := range roomCount {
				if err := s.CreateRoom(ctx, rooms.Room{ID: roomName(i)}); err != nil {
					b.Fatal(err)
				}
			}
			before := s.Stats()
			var next atomic.Int64
			b.SetParallelism(goroutinesCPU)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				room := roomName(int(next.Add(1)) % roomCount)
				for pb.Next() {
					if _, err := s.AppendMessage(ctx, room, rooms.NewMessage{Username: "bench", Content: messageTemplate, CreatedAt: "2024-01-01T00:00:00.000Z"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			st := s.Stats()
			if commits := st.Commits - before.Commits; commits > 0 {
				b.ReportMetric(float64(st.Writes-before.Writes)/float64(commits), "writes/commit")
			}
		})
	}
}
