package models

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// AuditEvent is one appended line of a workspace's audit log.
type AuditEvent struct {
	bun.BaseModel `bun:"table:audit_events,alias:ae"`
	Scoped

	ID          uuid.UUID  `bun:"id,pk,type:uuid"`
	ActorUserID *uuid.UUID `bun:"actor_user_id,type:uuid"`
	ActorKeyID  *uuid.UUID `bun:"actor_key_id,type:uuid"`
	Action      string     `bun:"action"`
	Target      string     `bun:"target"`
	Details     Details    `bun:"details,type:jsonb"`
	IP          string     `bun:"ip"`
	CreatedAt   time.Time  `bun:"created_at,nullzero,notnull"`
	// The event's place in its workspace's hash chain, assigned by the database as it is inserted
	// (see auditchain.go).
	Seq      int64  `bun:"seq,scanonly"`
	PrevHash string `bun:"prev_hash,scanonly"`
	Hash     string `bun:"hash,scanonly"`
}

// platformEvent is an audit line that belongs to no workspace (sign-ups, password changes, a
// workspace's deletion). It has a table of its own, so that every row of audit_events belongs to a
// workspace and its key leads with workspace_id.
type platformEvent struct {
	bun.BaseModel `bun:"table:platform_events"`

	ID          uuid.UUID  `bun:"id,pk,type:uuid"`
	ActorUserID *uuid.UUID `bun:"actor_user_id,type:uuid"`
	Action      string     `bun:"action"`
	Target      string     `bun:"target"`
	Details     Details    `bun:"details,type:jsonb"`
	IP          string     `bun:"ip"`
	CreatedAt   time.Time  `bun:"created_at,notnull"`
}

// Details are an audit event's details, stored as jsonb. They encode themselves: the ORM's own
// jsonb literal turns an escaped backslash followed by "u0000" (text anyone may type) into a NUL
// escape, which PostgreSQL refuses.
type Details map[string]any

// Value encodes the details as JSON text.
func (d Details) Value() (driver.Value, error) {
	if d == nil {
		return "{}", nil
	}
	b, err := json.Marshal(map[string]any(d))
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// Event describes what to record.
type Event struct {
	ActorUserID uuid.UUID
	ActorKeyID  uuid.UUID
	Action      string
	Target      string
	Details     map[string]any
	IP          string
	// At is when it happened, from the caller's clock; it is the time stored and hashed. It is
	// required: the database's clock never stands in for it.
	At time.Time
}

type ipKey struct{}

// WithClientIP returns a context whose audit events record ip.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, ipKey{}, ip)
}

// errNoEventTime refuses an event without its time, which the database would otherwise take from
// its own clock.
var errNoEventTime = errors.New("audit event without a time: pass the caller's now as Event.At")

// Record appends an event to the audit log of the tenant's workspace.
func Record(ctx context.Context, tn *Tenant, e Event) error {
	if e.At.IsZero() {
		return errNoEventTime
	}
	if e.IP == "" {
		e.IP, _ = ctx.Value(ipKey{}).(string)
	}
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	ev := &AuditEvent{ID: NewID(), Action: e.Action, Target: e.Target, Details: e.Details, IP: e.IP, CreatedAt: e.At}
	if e.ActorUserID != uuid.Nil {
		ev.ActorUserID = &e.ActorUserID
	}
	if e.ActorKeyID != uuid.Nil {
		ev.ActorKeyID = &e.ActorKeyID
	}
	// One statement: the trigger links the event into the chain under the head's row lock.
	_, err := tn.db().NewInsert().Model(ev).Returning("seq, prev_hash, hash, created_at").Exec(ctx)
	return err
}

// RecordPlatform appends an event that belongs to no workspace.
func RecordPlatform(ctx context.Context, db bun.IDB, e Event) error {
	if e.At.IsZero() {
		return errNoEventTime
	}
	if e.IP == "" {
		e.IP, _ = ctx.Value(ipKey{}).(string)
	}
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	ev := &platformEvent{ID: NewID(), Action: e.Action, Target: e.Target, Details: e.Details, IP: e.IP, CreatedAt: e.At}
	if e.ActorUserID != uuid.Nil {
		ev.ActorUserID = &e.ActorUserID
	}
	// No RETURNING: platform rows are not readable by the runtime role, and RETURNING would ask to.
	_, err := db.NewInsert().Model(ev).Returning("NULL").Exec(ctx)
	return err
}
