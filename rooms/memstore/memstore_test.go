package memstore_test

import (
	"testing"

	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
	"chatgateway/rooms/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) rooms.Store { return memstore.New() })
}

func TestSessionContract(t *testing.T) {
	storetest.RunSessions(t, func(t *testing.T) rooms.SessionStore { return memstore.New() })
}
