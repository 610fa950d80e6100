package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"

	"chatgateway/rooms"
)

// Custom validator tags: their limits are settings, so they cannot be static
// tag parameters such as max=1024.
const (
	tagFieldBytes   = "fieldbytes"   // Config.MaxFieldBytes
	tagContentBytes = "contentbytes" // rooms.Service.MaxContentBytes
)

// payloadValidator checks socket payloads and words failures like the REST
// API (class-validator's texts), as a *rooms.ValidationError.
type payloadValidator struct {
	v               *validator.Validate
	maxFieldBytes   int
	maxContentBytes int
}

func newPayloadValidator(maxFieldBytes, maxContentBytes int) *payloadValidator {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			return f.Name
		}
		return name
	})
	// Registration fails only for an empty tag or a nil func.
	_ = v.RegisterValidation(tagFieldBytes, func(fl validator.FieldLevel) bool {
		return len(fl.Field().String()) <= maxFieldBytes
	})
	_ = v.RegisterValidation(tagContentBytes, func(fl validator.FieldLevel) bool {
		return len(fl.Field().String()) <= maxContentBytes
	})
	return &payloadValidator{v: v, maxFieldBytes: maxFieldBytes, maxContentBytes: maxContentBytes}
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
	err := p.v.Struct(dst)
	if err == nil {
		return nil
	}
	var fieldErrs validator.ValidationErrors
	if !errors.As(err, &fieldErrs) {
		return fmt.Errorf("gateway: validate %T: %w", dst, err) // a programming error
	}
	out := &rooms.ValidationError{}
	for _, fe := range fieldErrs {
		out.Violations = append(out.Violations, rooms.Violation{Field: fe.Field(), Message: p.message(fe)})
	}
	return out
}

func (p *payloadValidator) message(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return fe.Field() + " should not be empty"
	case tagFieldBytes:
		return fmt.Sprintf("%s must be shorter than or equal to %d bytes", fe.Field(), p.maxFieldBytes)
	case tagContentBytes:
		return fmt.Sprintf("%s must be shorter than or equal to %d bytes", fe.Field(), p.maxContentBytes)
	default:
		return fmt.Sprintf("%s failed the %q constraint", fe.Field(), fe.Tag())
	}
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
