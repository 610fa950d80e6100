package rooms

import (
	"errors"
	"fmt"
)

// Error codes. The texts, typos included, are the original server's wire contract.
const (
	CodeRoomConflict    = "room.conflict"
	CodeRoomNotFound    = "room.not-fond"
	CodeAccessForbidden = "access-forbidden"
	CodeValidation      = "req-params.validation"
	CodeRoomFull        = "room.full"
	CodeUnavailable     = "store.unavailable"
	CodeInternal        = "internal"
)

// Error is a domain error with a stable code and a human message.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is matches on code so errors.Is(err, ErrRoomNotFound) works for any room id.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// Sentinels for errors.Is; use the constructors for wire messages.
var (
	ErrRoomConflict = &Error{Code: CodeRoomConflict}
	ErrRoomNotFound = &Error{Code: CodeRoomNotFound}
	ErrUnavailable  = &Error{Code: CodeUnavailable}
	ErrRoomFull     = &Error{Code: CodeRoomFull}
)

func RoomConflict(roomID string) *Error {
	return &Error{Code: CodeRoomConflict, Message: fmt.Sprintf("Room with '%s' already exists", roomID)}
}

func RoomNotFound(roomID string) *Error {
	return &Error{Code: CodeRoomNotFound, Message: fmt.Sprintf("Room with '%s' not found", roomID)}
}

// RoomFull refuses a new participant: the room has max entries, all of them
// connected (the original had no bound, so no wire text; this one is
// worded like its others).
func RoomFull(roomID string, max int) *Error {
	return &Error{Code: CodeRoomFull, Message: fmt.Sprintf("Room with '%s' is full: its %d participants are connected", roomID, max)}
}

// Forbidden is the original's answer to a read of, or a join to, a room
// that does not exist: the REST API's history read and the gateway's join
// answer RoomNotFound with it, as the original did.
func Forbidden() *Error {
	return &Error{Code: CodeAccessForbidden, Message: "The access is forbidden"}
}

// unavailableMessage is what callers are told while the store cannot be
// reached; the cause is for the logs only.
const unavailableMessage = "The storage is unavailable, retry later"

// Unavailable wraps a storage failure that is not the caller's fault (the
// database cannot be reached, a call timed out), so adapters answer 503 or
// an error ack without knowing the store. errors.Is(err, ErrUnavailable)
// holds for the result, and errors.Is/As also see cause.
func Unavailable(cause error) error {
	return &unavailableError{domain: &Error{Code: CodeUnavailable, Message: unavailableMessage}, cause: cause}
}

type unavailableError struct {
	domain *Error
	cause  error
}

func (e *unavailableError) Error() string { return e.domain.Error() + ": " + e.cause.Error() }

func (e *unavailableError) Unwrap() []error { return []error{e.domain, e.cause} }

// ErrorCode extracts the code of a domain error, or CodeInternal.
// A *ValidationError has CodeValidation.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var v *ValidationError
	if errors.As(err, &v) {
		return CodeValidation
	}
	return CodeInternal
}
