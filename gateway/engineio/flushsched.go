package engineio

import (
	"hash/maphash"
	"runtime"
	"sync"
)

// Flush shards: where sessions' WebSocket flushes run.
//
// A broadcast queues one message on each recipient; somebody must then
// write each recipient's socket. A goroutine per write (what this engine
// did first) costs a goroutine start, a stack that grows on the way into
// writev and an exit per recipient, and under load it starves the readers:
// with one P, a burst of thousands of new goroutines overflows the local
// run queue, the runtime moves the oldest half (the dispatchers of the
// messages read next) to the global queue, which it serves once every 61
// scheduling rounds, and the messages already read then wait there for
// hundreds of milliseconds. That was the 217 ms p99 at half of our own
// saturation in make bench.
//
// So a session's flush is queued on a shard, and one goroutine per shard
// (started when the shard gets work, gone when it has none) writes the
// queued sessions in turn, each socket with one non-blocking writev of
// everything queued for it. The goroutine yields once before each round,
// so that the producers of the round (every message read with it) queue
// their deliveries first and a socket gets them in one write: under load
// rounds grow, and so do writes, which is what keeps a saturated server
// from spending itself on syscalls. A socket that cannot take its whole
// batch (a slow or stalled client) leaves the shard for a goroutine of its
// own, which waits for it; the shard never waits for anybody.
type flushShard struct {
	mu      sync.Mutex
	ready   []*flushRun
	spare   []*flushRun
	running bool
	run     func() // write, bound once
	// writev is the shard goroutine's scratch for its writes.
	writev *writevScratch
}

var flushShards struct {
	once sync.Once
	list []*flushShard
	seed maphash.Seed
}

// flushShardOf is the session's shard: there are GOMAXPROCS of them, so
// flushes use every core, and a session always uses the same one.
func flushShardOf(s *Session) *flushShard {
	flushShards.once.Do(func() {
		flushShards.seed = maphash.MakeSeed()
		n := max(runtime.GOMAXPROCS(0), 1)
		flushShards.list = make([]*flushShard, n)
		for i := range flushShards.list {
			sh := &flushShard{writev: newWritevScratch()}
			sh.run = sh.write
			flushShards.list[i] = sh
		}
	})
	list := flushShards.list
	if len(list) == 1 {
		return list[0]
	}
	return list[maphash.String(flushShards.seed, s.id)%uint64(len(list))]
}

// add queues a run on the shard and starts the shard's goroutine if it is
// not running. The caller may hold the session's lock: the shard's lock is
// taken under it, never the other way round.
func (sh *flushShard) add(f *flushRun) {
	sh.mu.Lock()
	sh.ready = append(sh.ready, f)
	start := !sh.running
	sh.running = true
	sh.mu.Unlock()
	if start {
		go sh.run()
	}
}

// write runs rounds until the shard has nothing queued.
func (sh *flushShard) write() {
	for {
		sh.awaitProducers()
		sh.mu.Lock()
		round := sh.ready
		if len(round) == 0 {
			sh.running = false
			sh.mu.Unlock()
			return
		}
		sh.ready = sh.spare[:0]
		sh.spare = nil
		sh.mu.Unlock()
		for i, f := range round {
			round[i] = nil
			sh.flush(f)
		}
		sh.mu.Lock()
		if sh.spare == nil && cap(round) <= maxRetainedRound {
			sh.spare = round[:0]
		}
		sh.mu.Unlock()
	}
}

// awaitProducers lets the goroutines that are runnable now queue their
// deliveries before a round takes the list. A message read goes through a
// chain of them (the socket's dispatcher, then the room's drain, which
// queues the recipients): one yield let only the first link run, so under
// load a round wrote the sockets of half-delivered messages and the next
// round wrote them again, with fewer frames per writev. So the shard yields
// again while the last yield added sessions to its list, up to
// maxRoundYields times; when nothing is left to run (a quiet server), the
// first yield adds nothing and the round starts at once.
func (sh *flushShard) awaitProducers() {
	sh.mu.Lock()
	queued := len(sh.ready)
	sh.mu.Unlock()
	for range maxRoundYields {
		runtime.Gosched()
		sh.mu.Lock()
		now := len(sh.ready)
		sh.mu.Unlock()
		if now == queued {
			return
		}
		queued = now
	}
}

// maxRoundYields bounds the yields before a round: measured at half our
// saturation (10,355 msgs/s in rooms of 50, one core), p99 went from 29-35
// ms with one yield to 25-27 with two, 19-21 with three and 18-20 with
// five; more only delays the round behind producers of the next one.
const maxRoundYields = 4

// maxRetainedRound caps the capacity of the round slice a shard keeps
// between rounds (8 KiB of pointers).
const maxRetainedRound = 1024

// maxBatchesPerTurn bounds what one session writes in a round: a session
// whose queue keeps filling (other cores deliver to it meanwhile) goes to
// the back of the shard's list instead of holding the sessions behind it.
const maxBatchesPerTurn = 4

// flush writes a session's queue without blocking, until it is empty; a
// socket that would block, or a failed write, continues on a goroutine.
func (sh *flushShard) flush(f *flushRun) {
	for range maxBatchesPerTurn {
		switch step, err := f.step(sh.writev); step {
		case flushDone:
			return
		case flushBlocked:
			go f.run()
			return
		case flushFailed:
			go f.fail(err)
			return
		}
	}
	sh.add(f)
}
