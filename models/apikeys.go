package models

import (
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// APIKey is a workspace's key for the JSON API. Only the SHA-256 of its secret is stored.
type APIKey struct {
	bun.BaseModel `bun:"table:api_keys,alias:k"`
	Scoped

	ID         uuid.UUID  `bun:"id,pk,type:uuid"`
	Name       string     `bun:"name"`
	Prefix     string     `bun:"prefix"`
	SecretHash []byte     `bun:"secret_hash"`
	Scope      string     `bun:"scope"`
	CreatedBy  *uuid.UUID `bun:"created_by,type:uuid"`
	CreatedAt  time.Time  `bun:"created_at,nullzero,notnull,default:current_timestamp"`
	ExpiresAt  *time.Time `bun:"expires_at"`
	LastUsedAt *time.Time `bun:"last_used_at"`
	RevokedAt  *time.Time `bun:"revoked_at"`
}

// Invitation asks someone by email to join a workspace. Only the token's hash is stored.
type Invitation struct {
	bun.BaseModel `bun:"table:invitations,alias:inv"`
	Scoped

	ID         uuid.UUID  `bun:"id,pk,type:uuid"`
	Email      string     `bun:"email"`
	Role       Role       `bun:"role"`
	TokenHash  string     `bun:"token_hash"`
	InvitedBy  *uuid.UUID `bun:"invited_by,type:uuid"`
	CreatedAt  time.Time  `bun:"created_at,nullzero,notnull,default:current_timestamp"`
	ExpiresAt  time.Time  `bun:"expires_at"`
	AcceptedAt *time.Time `bun:"accepted_at"`
	RevokedAt  *time.Time `bun:"revoked_at"`
}
