package models

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// The audit log's export for SIEMs (GET /api/v1/audit): events in chain order, after an opaque
// cursor that names a place in the chain (a seq). Because an event takes its seq under the chain
// head's lock, held until its transaction commits, no event ever appears before a seq a reader has
// already passed: a cursor stays valid while events arrive, and following it misses nothing.

// Audit export page sizes.
const (
	AuditExportDefaultLimit = 100
	AuditExportMaxLimit     = 1000
	// AuditStreamMaxLimit bounds an NDJSON stream, read AuditExportMaxLimit events at a time.
	AuditStreamMaxLimit = 100_000
)

// AuditCursor is the opaque cursor that continues after the event of chain place seq.
func AuditCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("audit." + strconv.FormatInt(seq, 10)))
}

// ParseAuditExport reads the limit (at most max) and cursor as clients send them: the seq to
// continue after (0 from the start).
func ParseAuditExport(limit, cursor string, max int) (after int64, n int, err error) {
	n = AuditExportDefaultLimit
	if limit != "" {
		v, err := strconv.Atoi(limit)
		if err != nil || v < 1 || v > max {
			return 0, 0, &PageError{fmt.Sprintf("limit must be a whole number from 1 to %d.", max)}
		}
		n = v
	}
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		s, ok := strings.CutPrefix(string(b), "audit.")
		if err == nil && ok {
			after, err = strconv.ParseInt(s, 10, 64)
		}
		if err != nil || !ok || after < 0 {
			return 0, 0, &PageError{"cursor is not one this API gave out; start again without it."}
		}
	}
	return after, n, nil
}

// ReadAuditExport reads up to limit events of the read's workspace after seq, in chain order, in
// one round trip.
func ReadAuditExport(ctx context.Context, r *TenantRead, after int64, limit int) ([]ChainEvent, error) {
	out := make([]ChainEvent, 0, limit)
	var e ChainEvent
	var actorUser, actorKey, details string
	dest := []any{&e.Seq, (*[16]byte)(&e.ID), &actorUser, &actorKey, &e.Action, &e.Target, &details, &e.IP, &e.CreatedAt,
		&e.PrevHash, &e.Hash, &e.Redacted, &e.RedactionSig}
	err := r.query(ctx, `SELECT e.seq, e.id, coalesce(e.actor_user_id::text, ''), coalesce(e.actor_key_id::text, ''), e.action,
		  e.target, e.details::text, e.ip, e.created_at, e.prev_hash, e.hash, e.redacted, coalesce(e.redaction_sig, '')
		FROM audit_events AS e WHERE e.workspace_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3`,
		[]string{r.ws.String(), strconv.FormatInt(after, 10), strconv.Itoa(limit)}, dest,
		func() error {
			ev := e
			ev.WorkspaceID = r.ws
			ev.CreatedAt = e.CreatedAt.UTC()
			ev.Details = json.RawMessage(details)
			ev.ActorUserID, ev.ActorKeyID = optionalID(actorUser), optionalID(actorKey)
			out = append(out, ev)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("audit export: %w", err)
	}
	return out, nil
}

func optionalID(s string) *uuid.UUID {
	if s == "" {
		return nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return nil
	}
	return &id
}

// AuditExportEvent is one event as the export writes it: the event, its place in the chain and
// the cursor that continues after it.
type AuditExportEvent struct {
	Seq          int64           `json:"seq"`
	ID           uuid.UUID       `json:"id"`
	CreatedAt    string          `json:"created_at"`
	ActorUserID  *uuid.UUID      `json:"actor_user_id"`
	ActorKeyID   *uuid.UUID      `json:"actor_key_id"`
	Action       string          `json:"action"`
	Target       string          `json:"target"`
	Details      json.RawMessage `json:"details"`
	IP           string          `json:"ip"`
	PrevHash     string          `json:"prev_hash"`
	Hash         string          `json:"hash"`
	Redacted     bool            `json:"redacted"`
	RedactionSig *string         `json:"redaction_signature,omitempty"`
	Cursor       string          `json:"cursor"`
}

// Export is the event as the export writes it; created_at in the canonical form's format, so the
// hash can be recomputed from the fields as written.
func (e *ChainEvent) Export() AuditExportEvent {
	out := AuditExportEvent{Seq: e.Seq, ID: e.ID, CreatedAt: e.CreatedAt.UTC().Format(ChainTimeFormat), ActorUserID: e.ActorUserID,
		ActorKeyID: e.ActorKeyID, Action: e.Action, Target: e.Target, Details: e.Details, IP: e.IP, PrevHash: e.PrevHash,
		Hash: e.Hash, Redacted: e.Redacted, Cursor: AuditCursor(e.Seq)}
	if len(out.Details) == 0 {
		out.Details = json.RawMessage("{}")
	}
	if e.Redacted && e.RedactionSig != "" {
		sig := e.RedactionSig
		out.RedactionSig = &sig
	}
	return out
}
