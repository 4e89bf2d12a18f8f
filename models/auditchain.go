package models

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// The audit log's hash chain. Each workspace's events carry seq (1, 2, 3, … in commit order),
// prev_hash (the previous event's hash, "" for the first) and hash: the lowercase hex SHA-256 of
// the event's canonical form (Canonical). The database assigns all three as the event is inserted
// (the BEFORE INSERT trigger atrium_audit_link, under the workspace's chain-head row lock); this
// file checks them, independently of the database's own functions, and signs what only the server
// may vouch for: retention checkpoints and erasure redactions.

// ChainEvent is an audit event with its place in the chain, as stored.
type ChainEvent struct {
	Seq          int64           `bun:"seq" json:"seq"`
	ID           uuid.UUID       `bun:"id" json:"id"`
	WorkspaceID  uuid.UUID       `bun:"workspace_id" json:"workspace_id"`
	ActorUserID  *uuid.UUID      `bun:"actor_user_id" json:"actor_user_id"`
	ActorKeyID   *uuid.UUID      `bun:"actor_key_id" json:"actor_key_id"`
	Action       string          `bun:"action" json:"action"`
	Target       string          `bun:"target" json:"target"`
	Details      json.RawMessage `bun:"details" json:"details"`
	IP           string          `bun:"ip" json:"ip"`
	CreatedAt    time.Time       `bun:"created_at" json:"created_at"`
	PrevHash     string          `bun:"prev_hash" json:"prev_hash"`
	Hash         string          `bun:"hash" json:"hash"`
	Redacted     bool            `bun:"redacted" json:"redacted"`
	RedactionSig string          `bun:"redaction_sig" json:"redaction_sig,omitempty"`
}

// chainColumns are ChainEvent's columns; details as jsonb's text, which keeps numbers as stored.
const chainColumns = `seq, id, workspace_id, actor_user_id, actor_key_id, action, target, details::text AS details, ip,
	created_at, prev_hash, hash, redacted, coalesce(redaction_sig, '') AS redaction_sig`

// ChainTimeFormat is how the canonical form writes created_at: UTC, always six fractional digits
// (PostgreSQL keeps microseconds).
const ChainTimeFormat = "2006-01-02T15:04:05.000000Z"

// Canonical is the event's canonical form (version 1), the text its hash is the SHA-256 of: a JSON
// object with exactly the keys action, actor_key_id, actor_user_id, created_at, details, id, ip,
// prev_hash, seq, target, v (1) and workspace_id, in that (byte) order, without whitespace. Ids are
// lowercase UUID strings or null; created_at is in ChainTimeFormat; seq is a number; details are
// canonical JSON: object keys in byte order, no whitespace, numbers as stored, strings escaped as
// PostgreSQL's jsonb does (\" \\ \b \f \n \r \t, other characters below U+0020 as \u00XX with lowercase
// hex, everything else as itself in UTF-8).
func (e *ChainEvent) Canonical() (string, error) {
	details, err := CanonicalJSON(e.Details)
	if err != nil {
		return "", fmt.Errorf("event %s: details: %w", e.ID, err)
	}
	var b strings.Builder
	id := func(u *uuid.UUID) string {
		if u == nil {
			return "null"
		}
		return jsonString(u.String())
	}
	b.WriteString(`{"action":` + jsonString(e.Action))
	b.WriteString(`,"actor_key_id":` + id(e.ActorKeyID))
	b.WriteString(`,"actor_user_id":` + id(e.ActorUserID))
	b.WriteString(`,"created_at":` + jsonString(e.CreatedAt.UTC().Format(ChainTimeFormat)))
	b.WriteString(`,"details":` + details)
	b.WriteString(`,"id":` + jsonString(e.ID.String()))
	b.WriteString(`,"ip":` + jsonString(e.IP))
	b.WriteString(`,"prev_hash":` + jsonString(e.PrevHash))
	b.WriteString(`,"seq":` + strconv.FormatInt(e.Seq, 10))
	b.WriteString(`,"target":` + jsonString(e.Target))
	b.WriteString(`,"v":1`)
	b.WriteString(`,"workspace_id":` + jsonString(e.WorkspaceID.String()))
	b.WriteString(`}`)
	return b.String(), nil
}

// ComputeHash is the SHA-256 of the event's canonical form, in lowercase hex.
func (e *ChainEvent) ComputeHash() (string, error) {
	c, err := e.Canonical()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(c))
	return hex.EncodeToString(sum[:]), nil
}

// CanonicalJSON rewrites a JSON text canonically (see Canonical).
func CanonicalJSON(raw []byte) (string, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", errors.New("trailing data after the JSON value")
	}
	var b strings.Builder
	writeCanonical(&b, v)
	return b.String(), nil
}

func writeCanonical(b *strings.Builder, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys) // Go compares strings bytewise: PostgreSQL's COLLATE "C"
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(jsonString(k))
			b.WriteByte(':')
			writeCanonical(b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, e)
		}
		b.WriteByte(']')
	case string:
		b.WriteString(jsonString(x))
	case json.Number:
		b.WriteString(x.String())
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case nil:
		b.WriteString("null")
	}
}

// jsonString quotes s as PostgreSQL's jsonb writes a string.
func jsonString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

// The audit key signs retention checkpoints and erasure redactions (HMAC-SHA256). atrium serve
// sets it from ATRIUM_AUDIT_KEY; without one (development and tests) it is DevelopmentAuditKey.
var (
	auditKeyMu sync.RWMutex
	auditKey   = []byte(DevelopmentAuditKey)
)

// DevelopmentAuditKey is the audit key when none is configured. It is public: signatures made with
// it prove nothing, so production refuses to start without ATRIUM_AUDIT_KEY.
const DevelopmentAuditKey = "atrium-development-audit-key-not-secret"

// MinAuditKeyLen is the shortest audit key accepted, in bytes.
const MinAuditKeyLen = 32

// SetAuditKey sets the key that signs and checks checkpoints and redactions.
func SetAuditKey(key []byte) error {
	if len(key) < MinAuditKeyLen {
		return fmt.Errorf("the audit key must be at least %d bytes", MinAuditKeyLen)
	}
	auditKeyMu.Lock()
	defer auditKeyMu.Unlock()
	auditKey = slices.Clone(key)
	return nil
}

func auditMAC(msg string) string {
	auditKeyMu.RLock()
	defer auditKeyMu.RUnlock()
	m := hmac.New(sha256.New, auditKey)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func auditMACValid(msg, sig string) bool {
	want := auditMAC(msg)
	return hmac.Equal([]byte(want), []byte(strings.ToLower(sig)))
}

// checkpointMessage is what a checkpoint's signature covers.
func checkpointMessage(ws uuid.UUID, seq int64, hash string) string {
	return "atrium-audit-checkpoint/v1\n" + ws.String() + "\n" + strconv.FormatInt(seq, 10) + "\n" + hash
}

// redactionMessage is what a redaction's signature covers: the event's place and original hash,
// and the SHA-256 of its canonical form as rewritten.
func redactionMessage(e *ChainEvent) (string, error) {
	c, err := e.Canonical()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(c))
	return "atrium-audit-redaction/v1\n" + e.WorkspaceID.String() + "\n" + e.ID.String() + "\n" +
		strconv.FormatInt(e.Seq, 10) + "\n" + e.Hash + "\n" + hex.EncodeToString(sum[:]), nil
}

// ChainLink is a place in a chain: an event's seq and hash.
type ChainLink struct {
	Seq  int64  `bun:"seq" json:"seq"`
	Hash string `bun:"hash" json:"hash"`
}

// AuditCheckpoint is where a workspace's chain now starts: the newest event retention pruned.
type AuditCheckpoint struct {
	ChainLink
	PrunedAt  time.Time `bun:"pruned_at" json:"pruned_at"`
	Signature string    `bun:"signature" json:"signature"`
}

// ChainBreak is the first place a chain does not hold.
type ChainBreak struct {
	// EventID is the first event whose link does not hold; uuid.Nil when the break is not at an
	// event (a forged checkpoint before the first event, newest events missing after the last).
	EventID uuid.UUID
	Seq     int64
	Reason  string
}

func (b *ChainBreak) Error() string {
	if b.EventID == uuid.Nil {
		return b.Reason
	}
	return fmt.Sprintf("event %s (seq %d): %s", b.EventID, b.Seq, b.Reason)
}

// ChainReport is what VerifyAuditChain found.
type ChainReport struct {
	Events     int64            // events checked
	Head       ChainLink        // the chain head (seq 0 and hash "" for an empty log)
	Checkpoint *AuditCheckpoint // where the chain starts, when retention pruned its beginning
	Broken     *ChainBreak      // nil when the chain holds
	At         time.Time
}

// OK reports whether the chain holds.
func (r *ChainReport) OK() bool { return r.Broken == nil }

// ReadChainHead reads the workspace's chain head (zero for a log without events).
func ReadChainHead(ctx context.Context, tn *Tenant) (ChainLink, error) {
	var h []ChainLink
	if err := tn.db().NewRaw(`SELECT seq, hash FROM audit_chain_heads WHERE workspace_id = ?`, tn.ws).Scan(ctx, &h); err != nil {
		return ChainLink{}, fmt.Errorf("audit chain head: %w", err)
	}
	if len(h) == 0 {
		return ChainLink{}, nil
	}
	return h[0], nil
}

func readCheckpoint(ctx context.Context, tn *Tenant) (*AuditCheckpoint, error) {
	var cps []AuditCheckpoint
	if err := tn.db().NewRaw(`SELECT seq, hash, pruned_at, signature FROM audit_checkpoints WHERE workspace_id = ?`, tn.ws).
		Scan(ctx, &cps); err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	if len(cps) == 0 {
		return nil, nil
	}
	return &cps[0], nil
}

// chainBatch is how many events one read of the chain brings.
const chainBatch = 1000

// readChain reads up to limit events of the tenant's chain after seq, in chain order.
func readChain(ctx context.Context, tn *Tenant, after int64, limit int) ([]ChainEvent, error) {
	var evs []ChainEvent
	err := tn.db().NewRaw(`SELECT `+chainColumns+` FROM audit_events WHERE workspace_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		tn.ws, after, limit).Scan(ctx, &evs)
	if err != nil {
		return nil, fmt.Errorf("audit chain: %w", err)
	}
	for i := range evs {
		evs[i].CreatedAt = evs[i].CreatedAt.UTC()
	}
	return evs, nil
}

// EachAuditChainEvent calls fn for every event of the tenant's workspace's audit log in chain
// order (seq ascending) with its hash and prev_hash, reading chainBatch events at a time. It is the
// log as an export carries it: each event's hash can be recomputed from the event (Canonical) and
// each prev_hash is the hash of the event before. The first event's prev_hash is the checkpoint's
// hash when retention pruned the chain's beginning (ReadAuditChainStart), "" otherwise.
func EachAuditChainEvent(ctx context.Context, tn *Tenant, fn func(*ChainEvent) error) error {
	var after int64
	for {
		evs, err := readChain(ctx, tn, after, chainBatch)
		if err != nil {
			return err
		}
		for i := range evs {
			if err := fn(&evs[i]); err != nil {
				return err
			}
		}
		if len(evs) < chainBatch {
			return nil
		}
		after = evs[len(evs)-1].Seq
	}
}

// ReadAuditChainStart reads where the tenant's chain starts (its checkpoint, nil when nothing was
// pruned) and its head.
func ReadAuditChainStart(ctx context.Context, tn *Tenant) (*AuditCheckpoint, ChainLink, error) {
	cp, err := readCheckpoint(ctx, tn)
	if err != nil {
		return nil, ChainLink{}, err
	}
	h, err := ReadChainHead(ctx, tn)
	return cp, h, err
}

// chainVerifier checks events one after the other.
type chainVerifier struct {
	ws      uuid.UUID
	nextSeq int64
	prev    string
	events  int64
}

// start places the verifier at the chain's start: after a checkpoint whose signature holds, or at
// the beginning.
func (v *chainVerifier) start(cp *AuditCheckpoint) *ChainBreak {
	v.nextSeq, v.prev = 1, ""
	if cp == nil {
		return nil
	}
	if !auditMACValid(checkpointMessage(v.ws, cp.Seq, cp.Hash), cp.Signature) {
		return &ChainBreak{Seq: cp.Seq, Reason: fmt.Sprintf("the retention checkpoint (seq %d) is not signed by this server's audit key", cp.Seq)}
	}
	v.nextSeq, v.prev = cp.Seq+1, cp.Hash
	return nil
}

// check checks the next event.
func (v *chainVerifier) check(e *ChainEvent) *ChainBreak {
	brk := func(reason string) *ChainBreak { return &ChainBreak{EventID: e.ID, Seq: e.Seq, Reason: reason} }
	switch {
	case e.WorkspaceID != v.ws:
		return brk("belongs to another workspace")
	case e.Seq > v.nextSeq:
		return brk(fmt.Sprintf("events are missing before it (expected seq %d)", v.nextSeq))
	case e.Seq != v.nextSeq:
		return brk(fmt.Sprintf("out of place (expected seq %d)", v.nextSeq))
	case e.PrevHash != v.prev:
		return brk("its previous hash does not match the event before it (moved, or the one before was removed or changed)")
	}
	if e.Redacted {
		msg, err := redactionMessage(e)
		if err != nil {
			return brk(err.Error())
		}
		if e.RedactionSig == "" || !auditMACValid(msg, e.RedactionSig) {
			return brk("changed after it was written (a redaction not signed by this server's audit key)")
		}
	} else {
		h, err := e.ComputeHash()
		if err != nil {
			return brk(err.Error())
		}
		if h != e.Hash {
			return brk("changed after it was written (its contents do not match its hash)")
		}
	}
	v.nextSeq, v.prev = e.Seq+1, e.Hash
	v.events++
	return nil
}

// VerifyAuditChain checks the tenant's workspace's chain: the checkpoint's signature, then every
// event in seq order (no seq missing or out of place, each prev_hash the hash of the one before,
// each hash that of the event's canonical form, or for an event redacted by an account's erasure,
// a redaction signature that holds), then that the last event is the chain head. The first thing
// that does not hold is Broken. Events written while it runs, after the head it read, are left for
// the next check.
func VerifyAuditChain(ctx context.Context, tn *Tenant, now time.Time) (*ChainReport, error) {
	return VerifyAuditChainHead(ctx, tn, now, nil)
}

// ParseChainLink reads a chain head written as SEQ:HASH (the audit page's "event #SEQ", and its
// hash: 64 hexadecimal digits).
func ParseChainLink(s string) (ChainLink, error) {
	seqText, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	hash = strings.ToLower(hash)
	if !ok || err != nil || seq < 1 {
		return ChainLink{}, fmt.Errorf("%q is not a chain head: want SEQ:HASH, the event's number (1 or more) and its hash", s)
	}
	if b, err := hex.DecodeString(hash); err != nil || len(b) != sha256.Size {
		return ChainLink{}, fmt.Errorf("%q is not a chain head: the hash after the colon is 64 hexadecimal digits", s)
	}
	return ChainLink{Seq: seq, Hash: hash}, nil
}

// VerifyAuditChainHead is VerifyAuditChain that also checks, when noted is not nil, that the chain
// still holds the head someone noted down earlier: the event at noted.Seq is still in the chain,
// with noted.Hash. A chain whose newest events were deleted (and its head row moved back to match)
// verifies on its own; against a noted head it ends too early, or, if events were written again
// in the place of the deleted ones, the event at that place has another hash. A noted head that
// retention has pruned since (before the checkpoint) can no longer be compared, and says so.
func VerifyAuditChainHead(ctx context.Context, tn *Tenant, now time.Time, noted *ChainLink) (*ChainReport, error) {
	cp, head, err := ReadAuditChainStart(ctx, tn)
	if err != nil {
		return nil, err
	}
	r := &ChainReport{Head: head, Checkpoint: cp, At: now}
	v := &chainVerifier{ws: tn.ws}
	if r.Broken = v.start(cp); r.Broken != nil {
		return r, nil
	}
	after := v.nextSeq - 1
	var last, at *ChainEvent // at: the event at the noted head's place
	for {
		evs, err := readChain(ctx, tn, after, chainBatch)
		if err != nil {
			return nil, err
		}
		for i := range evs {
			e := &evs[i]
			if e.Seq > head.Seq {
				if last == nil && head.Seq == 0 && cp == nil {
					r.Broken = &ChainBreak{EventID: e.ID, Seq: e.Seq, Reason: "the chain head is missing"}
					return r, nil
				}
				evs = nil
				break
			}
			if r.Broken = v.check(e); r.Broken != nil {
				r.Events = v.events
				return r, nil
			}
			if noted != nil && e.Seq == noted.Seq {
				at = e
			}
			last = e
		}
		if len(evs) < chainBatch {
			break
		}
		after = evs[len(evs)-1].Seq
	}
	r.Events = v.events
	// The chain must reach its head: the newest events cannot go unnoticed.
	if v.nextSeq-1 != head.Seq || v.prev != head.Hash {
		r.Broken = &ChainBreak{Seq: v.nextSeq, Reason: fmt.Sprintf("the chain ends at seq %d but its head is seq %d: the newest events are missing or the head was changed",
			v.nextSeq-1, head.Seq)}
		if last != nil {
			r.Broken.EventID, r.Broken.Seq = last.ID, last.Seq
			r.Broken.Reason = fmt.Sprintf("the last event present, but the head is seq %d: the events after it are missing or the head was changed", head.Seq)
		}
	}
	if r.Broken == nil && noted != nil {
		r.Broken = checkNotedHead(*noted, cp, head, at)
	}
	return r, nil
}

// checkNotedHead compares a noted head with a chain that verified: its checkpoint cp, its head, and
// at, the verified event at the noted place (nil when there is none).
func checkNotedHead(noted ChainLink, cp *AuditCheckpoint, head ChainLink, at *ChainEvent) *ChainBreak {
	switch {
	case noted.Seq > head.Seq:
		return &ChainBreak{Seq: noted.Seq, Reason: fmt.Sprintf("the chain ends at seq %d, before the noted head seq %d: events were removed from its end", head.Seq, noted.Seq)}
	case cp != nil && noted.Seq == cp.Seq:
		if cp.Hash != noted.Hash {
			return &ChainBreak{Seq: noted.Seq, Reason: fmt.Sprintf("the retention checkpoint at seq %d has another hash than the noted head: the chain was rewritten", cp.Seq)}
		}
		return nil
	case cp != nil && noted.Seq < cp.Seq:
		return &ChainBreak{Seq: noted.Seq, Reason: fmt.Sprintf("the noted head seq %d was pruned by retention (the chain now starts after seq %d): it can no longer be compared; note a newer head", noted.Seq, cp.Seq)}
	case at == nil:
		return &ChainBreak{Seq: noted.Seq, Reason: fmt.Sprintf("the noted head seq %d is not in the chain", noted.Seq)}
	case at.Hash != noted.Hash:
		return &ChainBreak{EventID: at.ID, Seq: at.Seq, Reason: "its hash is not the noted head's: the chain was rewritten from here (events removed from its end and others written in their place)"}
	}
	return nil
}

// VerifyAuditChains verifies the chain of every workspace (or only the workspace with slug
// workspace, when given) and calls report for each, in slug order. A noted head (not nil) is
// checked as VerifyAuditChainHead does, and needs the workspace.
func VerifyAuditChains(ctx context.Context, db bun.IDB, workspace string, now time.Time, noted *ChainLink, report func(slug string, r *ChainReport) error) error {
	if noted != nil && workspace == "" {
		return errors.New("a noted chain head belongs to one workspace's chain: name the workspace")
	}
	var wss []struct {
		ID   uuid.UUID `bun:"id"`
		Slug string    `bun:"slug"`
	}
	if err := ReadAcrossTenants(ctx, db, "audit chain verification", func(ctx context.Context, a *AllTenants) error {
		q := a.db().NewRaw(`SELECT id, slug FROM workspaces ORDER BY slug`)
		if workspace != "" {
			q = a.db().NewRaw(`SELECT id, slug FROM workspaces WHERE slug = ?`, workspace)
		}
		return q.Scan(ctx, &wss)
	}); err != nil {
		return fmt.Errorf("workspaces: %w", err)
	}
	if workspace != "" && len(wss) == 0 {
		return fmt.Errorf("no workspace %q", workspace)
	}
	for _, w := range wss {
		var r *ChainReport
		err := InWorkspace(ctx, db, w.ID, func(ctx context.Context, tn *Tenant) error {
			var err error
			r, err = VerifyAuditChainHead(ctx, tn, now, noted)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", w.Slug, err)
		}
		if err := report(w.Slug, r); err != nil {
			return err
		}
	}
	return nil
}

// SignRedactions signs the events an account's erasure rewrote (atrium_erase_user marks them
// redacted), across workspaces, and returns how many it signed. Run it in the erasure's
// transaction, after the rewrite.
func SignRedactions(ctx context.Context, db bun.IDB) (int, error) {
	n := 0
	for {
		var evs []ChainEvent
		if err := db.NewRaw(`SELECT * FROM atrium_audit_unsigned_redactions(?)`, chainBatch).Scan(ctx, &evs); err != nil {
			return n, fmt.Errorf("redactions to sign: %w", err)
		}
		if len(evs) == 0 {
			return n, nil
		}
		wss, ids, sigs := make([]uuid.UUID, len(evs)), make([]uuid.UUID, len(evs)), make([]string, len(evs))
		for i := range evs {
			e := &evs[i]
			e.Redacted = true
			msg, err := redactionMessage(e)
			if err != nil {
				return n, err
			}
			wss[i], ids[i], sigs[i] = e.WorkspaceID, e.ID, auditMAC(msg)
		}
		var signed int
		if err := db.NewRaw(`SELECT atrium_audit_sign_redactions(?, ?, ?)`, pgdialect.Array(wss), pgdialect.Array(ids), pgdialect.Array(sigs)).
			Scan(ctx, &signed); err != nil {
			return n, fmt.Errorf("sign redactions: %w", err)
		}
		n += signed
		if len(evs) < chainBatch {
			return n, nil
		}
	}
}

// SetAuditRetention sets an enterprise workspace's audit retention: days (0 keeps events forever),
// or nil for the enterprise default (AuditRetentionDays). Other tiers keep their tier's period, so
// it is refused for them.
func SetAuditRetention(ctx context.Context, db bun.IDB, slug string, days *int) error {
	if days != nil && *days < 0 {
		return Invalid("days", "Enter a number of days, 0 to keep events forever.")
	}
	var ws []struct {
		ID   uuid.UUID `bun:"id"`
		Tier Tier      `bun:"tier"`
	}
	if err := ReadAcrossTenants(ctx, db, "audit retention setting", func(ctx context.Context, a *AllTenants) error {
		return a.db().NewRaw(`SELECT id, tier FROM workspaces WHERE slug = ?`, slug).Scan(ctx, &ws)
	}); err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	if len(ws) == 0 {
		return fmt.Errorf("no workspace %q", slug)
	}
	if ws[0].Tier != TierEnterprise {
		return fmt.Errorf("%s is on the %s tier, which keeps audit events %d days; only enterprise workspaces set their own",
			slug, ws[0].Tier.Label(), AuditRetentionDays[ws[0].Tier])
	}
	return InWorkspace(ctx, db, ws[0].ID, func(ctx context.Context, tn *Tenant) error {
		_, err := tn.db().NewRaw(`UPDATE workspaces SET audit_retention_days = ? WHERE id = ?`, days, tn.ws).Exec(ctx)
		return err
	})
}
