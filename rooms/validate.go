package rooms

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"
)

// Violation is one failed constraint of an input field. Field is the wire
// (JSON) name of the field.
type Violation struct {
	Field   string
	Message string
}

// ValidationError reports every failed constraint of an input, in field
// declaration order, worded like class-validator (the original server's
// validator): "roomId should not be empty". The REST layer renders it as
// Nest's 400 body {"statusCode":400,"message":[...],"error":"Bad Request"}.
type ValidationError struct {
	Violations []Violation
}

// Messages returns the violation texts in order.
func (e *ValidationError) Messages() []string {
	out := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		out[i] = v.Message
	}
	return out
}

func (e *ValidationError) Error() string {
	return CodeValidation + ": " + strings.Join(e.Messages(), "; ")
}

// Is makes errors.Is(err, ErrInvalidInput) true for every ValidationError.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidInput }

// ErrInvalidInput matches any *ValidationError with errors.Is.
var ErrInvalidInput = errors.New("invalid input")

// TagContentBytes is the validator tag that enforces a Service's
// MaxContentBytes: a limit that is a setting, so it cannot be a static tag
// parameter like max=65536.
const TagContentBytes = "contentbytes"

// Validator checks input structs against their validate tags and words the
// failures like class-validator, the original server's validator, as a
// *ValidationError. It is the one validator setup of the project: the
// Service checks its inputs with one, the gateway its socket payloads.
type Validator struct {
	v      *validator.Validate
	limits map[string]int
}

// NewValidator returns a Validator that knows, beside validator's own
// tags, one tag per entry of byteLimits: a string field of at most that
// many bytes. Field names in messages come from the json tags, so they
// are the wire names.
func NewValidator(byteLimits map[string]int) *Validator {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			return f.Name
		}
		return name
	})
	for tag, limit := range byteLimits {
		// Registration only fails for an empty tag or a nil func.
		_ = v.RegisterValidation(tag, func(fl validator.FieldLevel) bool {
			return len(fl.Field().String()) <= limit
		})
	}
	return &Validator{v: v, limits: byteLimits}
}

// Struct validates in (a struct, or a pointer to one). validator walks
// fields in declaration order and stops at the first failed tag of each
// field, which matches the one-message-per-field output the original
// produced for its single-constraint DTOs.
func (v *Validator) Struct(in any) error {
	err := v.v.Struct(in)
	if err == nil {
		return nil
	}
	var fieldErrs validator.ValidationErrors
	if !errors.As(err, &fieldErrs) {
		// InvalidValidationError: a programming error (nil or non-struct input).
		return fmt.Errorf("validate %T: %w", in, err)
	}
	out := &ValidationError{Violations: make([]Violation, 0, len(fieldErrs))}
	for _, fe := range fieldErrs {
		out.Violations = append(out.Violations, Violation{Field: fe.Field(), Message: v.message(fe)})
	}
	return out
}

// message words a failure the way class-validator does for the equivalent
// decorator (IsNotEmpty -> "should not be empty").
func (v *Validator) message(fe validator.FieldError) string {
	if fe.Tag() == "required" {
		return fe.Field() + " should not be empty"
	}
	if limit, ok := v.limits[fe.Tag()]; ok {
		return fmt.Sprintf("%s must be shorter than or equal to %d bytes", fe.Field(), limit)
	}
	return fmt.Sprintf("%s failed the %q constraint", fe.Field(), fe.Tag())
}
