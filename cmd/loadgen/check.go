package main

import "math/bits"

// stream checks the room messages one receiver gets from one room: the
// server numbers a room's messages 1..N, and every receiver must see each
// exactly once, in that order.
//
// The common case costs two integers: while orders arrive as 1, 2, 3...
// only the length of that prefix is kept. The first order that breaks the
// sequence switches the stream to a bitset of the orders seen, so memory is
// spent only on streams that misbehave.
type stream struct {
	prefix int64    // orders 1..prefix have all been seen
	seen   []uint64 // nil until the sequence first breaks; bit k-1 = order k
	max    int64    // highest order seen

	distinct   int64
	duplicated int64
	outOfOrder int64 // arrived after a higher order
	unexpected int64 // order below 1 or beyond any plausible N
}

// add records order; limit is the highest order worth tracking (beyond it
// the order is counted unexpected and not stored, bounding the bitset). It
// reports whether the order was new.
func (s *stream) add(order, limit int64) bool {
	if s.seen == nil && order == s.prefix+1 {
		s.prefix = order
		s.max = order
		s.distinct++
		return true
	}
	if order < 1 || order > limit {
		s.unexpected++
		return false
	}
	if s.seen == nil {
		s.seen = make([]uint64, (s.prefix+63)/64)
		for k := int64(0); k < s.prefix; k++ {
			s.seen[k/64] |= 1 << (k % 64)
		}
	}
	k := order - 1
	for int64(len(s.seen)) <= k/64 {
		s.seen = append(s.seen, 0)
	}
	if s.seen[k/64]&(1<<(k%64)) != 0 {
		s.duplicated++
		return false
	}
	s.seen[k/64] |= 1 << (k % 64)
	s.distinct++
	if order < s.max {
		s.outOfOrder++
	} else {
		s.max = order
	}
	return true
}

// missing is how many of orders 1..n were never seen.
func (s *stream) missing(n int64) int64 {
	if s.seen == nil {
		return max(0, n-s.prefix)
	}
	var have int64
	full := n / 64
	for i := int64(0); i < full && i < int64(len(s.seen)); i++ {
		have += int64(bits.OnesCount64(s.seen[i]))
	}
	if rest := n % 64; rest > 0 && full < int64(len(s.seen)) {
		have += int64(bits.OnesCount64(s.seen[full] & (1<<rest - 1)))
	}
	return n - have
}

// anomalous reports whether the sequence ever broke.
func (s *stream) anomalous() bool { return s.seen != nil || s.unexpected > 0 }
