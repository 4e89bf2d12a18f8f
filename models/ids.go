package models

import "github.com/google/uuid"

// NewID returns a time-ordered UUIDv7, so new rows append to the end of their indexes.
func NewID() uuid.UUID {
	return uuid.Must(uuid.NewV7())
}
