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

// tagContentBytes is the custom validator tag that enforces the service's
// MaxContentBytes; its limit is per Service, so it cannot be a static tag
// parameter like max=65536.
const tagContentBytes = "contentbytes"

// newValidator builds the validator for one Service. Field names in messages
// come from the json tags so they match the wire names.
func newValidator(maxContentBytes int) *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			return f.Name
		}
		return name
	})
	// Registration only fails for an empty tag or nil func, both impossible here.
	_ = v.RegisterValidation(tagContentBytes, func(fl validator.FieldLevel) bool {
		return len(fl.Field().String()) <= maxContentBytes
	})
	return v
}

// validateStruct runs v on in and converts failures to a *ValidationError.
// validator walks fields in declaration order and stops at the first failed
// tag of each field, which matches the one-message-per-field output the
// original produced for its single-constraint DTOs.
func validateStruct(v *validator.Validate, in any, maxContentBytes int) error {
	err := v.Struct(in)
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
		out.Violations = append(out.Violations, Violation{
			Field:   fe.Field(),
			Message: violationMessage(fe, maxContentBytes),
		})
	}
	return out
}

// violationMessage words a failure the way class-validator does for the
// equivalent decorator (IsNotEmpty -> "should not be empty").
func violationMessage(fe validator.FieldError, maxContentBytes int) string {
	switch fe.Tag() {
	case "required":
		return fe.Field() + " should not be empty"
	case tagContentBytes:
		return fmt.Sprintf("%s must be shorter than or equal to %d bytes", fe.Field(), maxContentBytes)
	default:
		return fmt.Sprintf("%s failed the %q constraint", fe.Field(), fe.Tag())
	}
}
