package socketio

import (
	"errors"
	"reflect"
)

// newAckCallback adapts a func(args...) given to Emit: its parameters are
// bound from the client's ack arguments like an OnEvent handler's.
func newAckCallback(fn reflect.Value) (h *handlerFunc, err error) {
	defer func() {
		// newHandler panics on a bad shape; for Emit that is an error return.
		if r := recover(); r != nil {
			err = errors.New("socketio: bad ack callback: " + toString(r))
		}
	}()
	return newHandler(fn.Interface(), nil), nil
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return "invalid function"
}

// reservedEvents cannot be sent by a client: socket.io uses these names
// for its own lifecycle events.
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}
