package models

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Domain errors. Handlers map them to HTTP statuses in one place.
var (
	// ErrNoWorkspace is returned by any tenant query whose context carries no workspace.
	ErrNoWorkspace = errors.New("no workspace in context: tenant query refused")
	// ErrNotFound means the row does not exist or belongs to another workspace.
	ErrNotFound = errors.New("not found")
	// ErrForbidden means the actor's role does not allow the action.
	ErrForbidden = errors.New("forbidden")
	// ErrConflict means the action lost a race or contradicts current state.
	ErrConflict = errors.New("conflict")
	// ErrLimitReached means a tier limit stops the action.
	ErrLimitReached = errors.New("limit reached")
)

// Error carries a user-facing message with one of the sentinel errors above as its kind.
type Error struct {
	Kind    error
	Message string
}

// Error returns the user-facing message.
func (e *Error) Error() string { return e.Message }

// Unwrap exposes the kind for errors.Is.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf makes an Error of the given kind with a formatted user-facing message.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// ValidationError lists what is wrong with a form or body, field by field. Its messages come out
// in the order the fields were added (fields set directly in Fields follow, by name), so the same
// input always reads the same.
type ValidationError struct {
	Fields map[string]string
	order  []string
}

// Invalid makes a ValidationError with one field's message.
func Invalid(field, msg string) *ValidationError {
	var v ValidationError
	v.Add(field, msg)
	return &v
}

// Error joins the field messages, in order: "invalid input: name: …; slug: …".
func (v *ValidationError) Error() string {
	keys := v.Keys()
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+v.Fields[k])
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Keys returns the fields with a message: in the order they were added, then any others by name.
func (v *ValidationError) Keys() []string {
	keys := make([]string, 0, len(v.Fields))
	seen := make(map[string]bool, len(v.Fields))
	for _, k := range v.order {
		if _, ok := v.Fields[k]; ok && !seen[k] {
			keys = append(keys, k)
			seen[k] = true
		}
	}
	rest := make([]string, 0, len(v.Fields)-len(keys))
	for k := range v.Fields {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(keys, rest...)
}

// Add records a message for a field, keeping the first one.
func (v *ValidationError) Add(field, msg string) {
	if v.Fields == nil {
		v.Fields = map[string]string{}
	}
	if _, ok := v.Fields[field]; !ok {
		v.Fields[field] = msg
		v.order = append(v.order, field)
	}
}

// Err returns v when it holds any message, nil otherwise.
func (v *ValidationError) Err() error {
	if len(v.Fields) == 0 {
		return nil
	}
	return v
}

// notFound turns sql.ErrNoRows into ErrNotFound; every other error passes through wrapped.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return Errorf(ErrNotFound, "%s not found", what)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
