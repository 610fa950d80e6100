// Package epollset waits for many sockets to become readable from one
// goroutine. It is the read side shared by the engine's WebSockets
// (gateway/engineio) and the load generator's raw clients (cmd/loadgen):
// an idle socket then costs no goroutine, stack or read buffer of its own.
//
// The epoll descriptor is itself waited on through the Go runtime's
// netpoller (an epoll descriptor is readable while it has events), so the
// waiting goroutine parks like any network read: no thread is blocked in
// epoll_wait, and the scheduler, timers and other sockets carry on as
// before. The sockets stay registered with the runtime too, which still
// does their writes and deadlines.
//
// Only Linux has it; elsewhere New fails and callers read each socket
// with a goroutine of its own.
package epollset
