package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"chatgateway/rooms"
)

// tagFieldBytes is the validator tag of identifier-like fields, whose
// limit is a setting (Config.MaxFieldBytes); content fields use
// rooms.TagContentBytes.
const tagFieldBytes = "fieldbytes"

// payloadValidator decodes socket payloads and checks them with the
// domain's validator, so failures are worded like the REST API's.
type payloadValidator struct {
	v *rooms.Validator
}

func newPayloadValidator(maxFieldBytes, maxContentBytes int) *payloadValidator {
	return &payloadValidator{v: rooms.NewValidator(map[string]int{
		tagFieldBytes:         maxFieldBytes,
		rooms.TagContentBytes: maxContentBytes,
	})}
}

// decode fills dst (a pointer to a struct with json and validate tags) from
// a socket event argument and validates it. A missing argument counts as an
// empty object, so its required fields are reported.
func (p *payloadValidator) decode(raw json.RawMessage, dst any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		raw = []byte("{}")
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return invalid("", decodeMessage(err))
	}
	if err := p.v.Struct(dst); err != nil {
		var ve *rooms.ValidationError
		if !errors.As(err, &ve) {
			return fmt.Errorf("gateway: %w", err) // a programming error
		}
		return err
	}
	return nil
}

func decodeMessage(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return "payload must be an object"
		}
		return fmt.Sprintf("%s must be a %s", typeErr.Field, jsonKind(typeErr.Type))
	}
	return "payload is not valid JSON"
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	default:
		return "object"
	}
}

func invalid(field, message string) *rooms.ValidationError {
	return &rooms.ValidationError{Violations: []rooms.Violation{{Field: field, Message: message}}}
}
