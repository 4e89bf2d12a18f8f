package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// KeyScope is what an API key may do.
type KeyScope string

// The key scopes.
const (
	ScopeRead      KeyScope = "read"
	ScopeReadWrite KeyScope = "read_write"
	// ScopeAuditRead reads the audit log (GET /api/v1/audit) and nothing else; only owners and
	// admins give a key this scope, and no other scope includes it.
	ScopeAuditRead KeyScope = "audit:read"
)

// ParseKeyScope accepts "read", "read_write" or "audit:read".
func ParseKeyScope(s string) (KeyScope, bool) {
	k := KeyScope(strings.TrimSpace(s))
	return k, k == ScopeRead || k == ScopeReadWrite || k == ScopeAuditRead
}

// Allows reports whether a key of scope k may do what needs scope need.
func (k KeyScope) Allows(need KeyScope) bool {
	if need == ScopeAuditRead || k == ScopeAuditRead {
		return k == need
	}
	return k == ScopeReadWrite || k == ScopeRead && need == ScopeRead
}

// Label is the scope's display name.
func (k KeyScope) Label() string {
	switch k {
	case ScopeReadWrite:
		return "Read and write"
	case ScopeAuditRead:
		return "Audit log"
	}
	return "Read only"
}

// Scan lets a KeyScope come straight from the enum column.
func (k *KeyScope) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*k = KeyScope(v)
	case []byte:
		*k = KeyScope(v)
	default:
		return fmt.Errorf("key scope: cannot scan %T", src)
	}
	return nil
}

// APIKey is a workspace's key for the JSON API. Only the SHA-256 of its secret is stored; after a
// roll, also the previous secret's hash until the grace period ends.
type APIKey struct {
	bun.BaseModel `bun:"table:api_keys,alias:k"`
	Scoped

	ID                 uuid.UUID  `bun:"id,pk,type:uuid"`
	Name               string     `bun:"name"`
	Prefix             string     `bun:"prefix"`
	SecretHash         []byte     `bun:"secret_hash"`
	Scope              KeyScope   `bun:"scope"`
	CreatedBy          *uuid.UUID `bun:"created_by,type:uuid"`
	CreatedAt          time.Time  `bun:"created_at,nullzero,notnull"`
	ExpiresAt          *time.Time `bun:"expires_at"`
	LastUsedAt         *time.Time `bun:"last_used_at"`
	RevokedAt          *time.Time `bun:"revoked_at"`
	PreviousSecretHash []byte     `bun:"previous_secret_hash"`
	PreviousValidUntil *time.Time `bun:"previous_valid_until"`
	RolledAt           *time.Time `bun:"rolled_at"`
	Description        string     `bun:"description"`
	RateLimitPerHour   *int64     `bun:"rate_limit_per_hour"`
	AllowedIPs         []string   `bun:"allowed_ips,array,nullzero,notnull,default:'{}'"`
	LastUsedIP         string     `bun:"last_used_ip"`

	// CreatorName is filled by ListKeys: the creator's name or email, "" when the user is gone.
	CreatorName string `bun:"creator_name,scanonly"`
	// Calls24h is filled by ListKeys: the key's calls in the last 24 hours.
	Calls24h int64 `bun:"calls_24h,scanonly"`
}

// KeyStatus is where a key is in its life.
type KeyStatus string

// The key statuses.
const (
	KeyActive  KeyStatus = "active"
	KeyExpired KeyStatus = "expired"
	KeyRevoked KeyStatus = "revoked"
)

// Status says whether the key works at now (as far as the key itself goes: its creator's
// membership is checked when it is used).
func (k *APIKey) Status(now time.Time) KeyStatus {
	switch {
	case k.RevokedAt != nil:
		return KeyRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return KeyExpired
	}
	return KeyActive
}

// PreviousWorksUntil is when the secret replaced by the last roll stops working; zero when it
// already has.
func (k *APIKey) PreviousWorksUntil(now time.Time) time.Time {
	if k.PreviousValidUntil == nil || len(k.PreviousSecretHash) == 0 || !now.Before(*k.PreviousValidUntil) ||
		k.Status(now) != KeyActive {
		return time.Time{}
	}
	return *k.PreviousValidUntil
}

// The key format (handlers/API.md): atr_ + 8-char public id + _ + 32-char secret + 6-char checksum,
// all base62. The prefix stored and shown is "atr_" + public id.
const (
	keyHead        = "atr_"
	keyIDLen       = 8
	keySecretLen   = 32
	keyChecksumLen = 6
	// KeyLength is the length of a whole key.
	KeyLength = len(keyHead) + keyIDLen + 1 + keySecretLen + keyChecksumLen
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// keyShape finds anything shaped like a key, wherever it appears (a query string, a log line).
var keyShape = regexp.MustCompile(`atr_[0-9A-Za-z]{8}_[0-9A-Za-z]{38}`)

// LooksLikeKey reports whether s contains something shaped like an API key.
func LooksLikeKey(s string) bool { return keyShape.MatchString(s) }

// RedactKeys replaces anything shaped like an API key in s, for text bound for a log.
func RedactKeys(s string) string { return keyShape.ReplaceAllString(s, keyHead+"[redacted]") }

// randomBase62 draws n characters uniformly from the base62 alphabet (rejection sampling keeps
// every character equally likely).
func randomBase62(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		rand.Read(buf)
		for _, b := range buf {
			if b < 248 && len(out) < n { // 248 = 4 × 62
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out)
}

// keyChecksum is the CRC-32 of the rest of the key in base62, padded to six characters: secret
// scanners can tell a real key from a random string without asking us.
func keyChecksum(body string) string {
	n := crc32.ChecksumIEEE([]byte(body))
	b := []byte(strings.Repeat("0", keyChecksumLen))
	for i := keyChecksumLen - 1; i >= 0 && n > 0; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	return string(b)
}

// formatKey assembles a whole key from its stored prefix and its secret.
func formatKey(prefix, secret string) string {
	body := prefix + "_" + secret
	return body + keyChecksum(body)
}

// ParseKey splits a presented key into its prefix and secret, checking its shape and checksum
// without the database.
func ParseKey(token string) (prefix, secret string, ok bool) {
	if len(token) != KeyLength || !strings.HasPrefix(token, keyHead) || !keyShape.MatchString(token) {
		return "", "", false
	}
	body, sum := token[:KeyLength-keyChecksumLen], token[KeyLength-keyChecksumLen:]
	if subtle.ConstantTimeCompare([]byte(keyChecksum(body)), []byte(sum)) != 1 {
		return "", "", false
	}
	prefix = body[:len(keyHead)+keyIDLen]
	if body[len(prefix)] != '_' {
		return "", "", false
	}
	return prefix, body[len(prefix)+1:], true
}

func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// KeyExpiryDays are the expiry choices, in days; 0 means never.
var KeyExpiryDays = []int{7, 30, 90, 365, 0}

// KeyRollGraces are the grace periods a roll offers for the previous secret.
var KeyRollGraces = []time.Duration{0, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// NewKey is the create-key form.
type NewKey struct {
	Name          string
	Scope         string
	ExpiresInDays string
	KeyControls
}

// CreateKey makes a key owned by actor and returns it with the whole key, which exists nowhere
// else: show it once and forget it. It runs in the workspace's transaction.
func CreateKey(ctx context.Context, tn *Tenant, actor Actor, in NewKey, now time.Time) (*APIKey, string, error) {
	if !actor.Role.Can(ActManageOwnKeys) {
		return nil, "", Errorf(ErrForbidden, "Viewers can't create API keys.")
	}
	var v ValidationError
	name := strings.TrimSpace(in.Name)
	if msg := TextProblem(name, false); msg != "" {
		v.Add("name", msg)
	} else if n := utf8.RuneCountInString(name); n < 1 || n > 80 {
		v.Add("name", "Give the key a name of 1–80 characters, e.g. what uses it.")
	}
	scope, ok := ParseKeyScope(in.Scope)
	if !ok {
		v.Add("scope", "Choose read, read_write or audit:read.")
	} else if scope == ScopeAuditRead && !actor.Role.Can(ActViewAudit) {
		v.Add("scope", "Only owners and admins can give a key the audit:read scope.")
	}
	days := -1
	for _, d := range KeyExpiryDays {
		if strings.TrimSpace(in.ExpiresInDays) == fmt.Sprint(d) {
			days = d
		}
	}
	if days < 0 {
		v.Add("expires_in_days", "Choose 7, 30, 90 or 365 days, or never.")
	}
	tier := TierEnterprise
	if strings.TrimSpace(in.RateLimitPerHour) != "" {
		var err error
		if tier, err = workspaceTier(ctx, tn); err != nil {
			return nil, "", err
		}
	}
	c := in.KeyControls.validate(&v, tier)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	k := &APIKey{Name: name, Scope: scope, CreatedBy: &actor.UserID, Description: c.description,
		RateLimitPerHour: c.limit, AllowedIPs: c.allowed, CreatedAt: now}
	if days > 0 {
		exp := now.UTC().AddDate(0, 0, days)
		k.ExpiresAt = &exp
	}
	var secret string
	for attempt := 0; ; attempt++ {
		k.ID = NewID()
		k.Prefix = keyHead + randomBase62(keyIDLen)
		secret = randomBase62(keySecretLen)
		k.SecretHash = hashSecret(secret)
		// A savepoint, so a prefix collision (one in 62^8) can be retried in the same transaction.
		err := tn.db().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			_, err := tx.NewInsert().Model(k).Exec(ctx)
			return err
		})
		if err == nil {
			break
		}
		if !isUniqueViolation(err) || attempt == 2 {
			return nil, "", fmt.Errorf("create key: %w", err)
		}
	}
	details := controlDetails(k)
	details["scope"], details["expires_at"] = string(scope), nil
	if k.ExpiresAt != nil {
		details["expires_at"] = k.ExpiresAt.Format(time.RFC3339)
	}
	if err := Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "api_key.create", Target: k.Prefix, Details: details}); err != nil {
		return nil, "", err
	}
	if err := emitKey(ctx, tn, "api_key.created", k, now); err != nil {
		return nil, "", err
	}
	return k, formatKey(k.Prefix, secret), nil
}

// KeyPageSize is how many keys the keys page lists at once.
const KeyPageSize = 50

// KeyStatuses are the key statuses in the order the keys page offers them.
var KeyStatuses = []KeyStatus{KeyActive, KeyRevoked, KeyExpired}

// ParseKeyStatus accepts "active", "revoked" or "expired"; anything else is active.
func ParseKeyStatus(s string) KeyStatus {
	for _, st := range KeyStatuses {
		if string(st) == s {
			return st
		}
	}
	return KeyActive
}

// KeyFilter narrows a key list: a search in names and prefixes, one status (active when empty)
// and a page, from 1 (beyond the last page is the last page).
type KeyFilter struct {
	Query  string
	Status KeyStatus
	Page   int
}

// KeyList is one page of the keys an actor may see.
type KeyList struct {
	Keys []APIKey
	// All is true when the actor sees everyone's keys (owners and admins), false for their own.
	All bool
	// Counts are the keys matching the search in each status.
	Counts map[KeyStatus]int
	// Total counts the keys of the page's status matching the search; Page and Pages from 1.
	Total, Page, Pages int
}

// keyListRow is a listed key with the counts of each status that come with the page.
type keyListRow struct {
	APIKey   `bun:",extend"`
	NActive  int `bun:"n_active,scanonly"`
	NRevoked int `bun:"n_revoked,scanonly"`
	NExpired int `bun:"n_expired,scanonly"`
}

// keyStatusWhere is the SQL condition of a status at ?0 = now.
var keyStatusWhere = map[KeyStatus]string{
	KeyActive:  "k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?)",
	KeyRevoked: "k.revoked_at IS NOT NULL",
	KeyExpired: "k.revoked_at IS NULL AND k.expires_at <= ?",
}

// ListKeys lists one page of the keys actor may see in one status, newest first, with the count of
// each status: everyone's keys for owners and admins, their own for members, none for viewers. It
// runs in the workspace's transaction.
func ListKeys(ctx context.Context, tn *Tenant, actor Actor, f KeyFilter, now time.Time) (*KeyList, error) {
	if !actor.Role.Can(ActManageOwnKeys) {
		return nil, Errorf(ErrForbidden, "Viewers don't see API keys.")
	}
	f.Status = ParseKeyStatus(string(f.Status))
	since := now.UTC().Truncate(time.Hour).Add(-23 * time.Hour)
	out := &KeyList{All: actor.Role.Can(ActManageAllKeys), Counts: map[KeyStatus]int{}}
	scope := func(q *bun.SelectQuery) *bun.SelectQuery {
		if !out.All {
			q = q.Where("k.created_by = ?", actor.UserID)
		}
		if query := strings.TrimSpace(f.Query); query != "" {
			pat := "%" + likeEscaper.Replace(query) + "%"
			q = q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
				return q.Where("k.name ILIKE ?", pat).WhereOr("k.prefix ILIKE ?", pat)
			})
		}
		return q
	}
	where := func(q *bun.SelectQuery, st KeyStatus) *bun.SelectQuery {
		if st == KeyRevoked {
			return q.Where(keyStatusWhere[st])
		}
		return q.Where(keyStatusWhere[st], now)
	}
	// The counts ride along with the page as uncorrelated subqueries (planned once per statement),
	// so a page of keys is one statement. The hooks do not see subqueries: each names the workspace
	// itself, and row-level security holds it there too.
	count := func(st KeyStatus) *bun.SelectQuery {
		return where(scope(tn.db().NewSelect().Model((*APIKey)(nil)).ColumnExpr("count(*)").
			Where("k.workspace_id = ?", tn.WorkspaceID())), st)
	}
	page := func(p int) ([]keyListRow, error) {
		var rows []keyListRow
		q := where(scope(tn.db().NewSelect().Model(&rows).
			ColumnExpr("k.*").
			ColumnExpr("coalesce(nullif(cu.name, ''), cu.email::text, '') AS creator_name").
			// One index range per listed key (its primary key), in the same statement.
			ColumnExpr(`(SELECT coalesce(sum(u.calls), 0) FROM api_key_usage_hourly AS u
				WHERE u.workspace_id = k.workspace_id AND u.key_id = k.id AND u.hour >= ?) AS calls_24h`, since).
			ColumnExpr("(?) AS n_active", count(KeyActive)).
			ColumnExpr("(?) AS n_revoked", count(KeyRevoked)).
			ColumnExpr("(?) AS n_expired", count(KeyExpired)).
			Join("LEFT JOIN users AS cu ON cu.id = k.created_by")), f.Status)
		err := q.OrderExpr("k.id DESC").Limit(KeyPageSize).Offset(int64((p - 1) * KeyPageSize)).Scan(ctx)
		return rows, err
	}
	out.Page = max(f.Page, 1)
	rows, err := page(out.Page)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	if len(rows) == 0 {
		// An empty page carries no counts: count apart, and show the last page when the one asked
		// for is past it.
		var c struct{ Active, Revoked, Expired int }
		err := scope(tn.db().NewSelect().Model((*APIKey)(nil)).
			ColumnExpr("count(*) FILTER (WHERE "+keyStatusWhere[KeyActive]+")", now).
			ColumnExpr("count(*) FILTER (WHERE "+keyStatusWhere[KeyRevoked]+")").
			ColumnExpr("count(*) FILTER (WHERE "+keyStatusWhere[KeyExpired]+")", now)).
			Scan(ctx, &c.Active, &c.Revoked, &c.Expired)
		if err != nil {
			return nil, fmt.Errorf("count keys: %w", err)
		}
		out.Counts[KeyActive], out.Counts[KeyRevoked], out.Counts[KeyExpired] = c.Active, c.Revoked, c.Expired
		out.Total = out.Counts[f.Status]
		out.Pages = max(1, (out.Total+KeyPageSize-1)/KeyPageSize)
		if out.Page > out.Pages {
			out.Page = out.Pages
			if rows, err = page(out.Page); err != nil {
				return nil, fmt.Errorf("list keys: %w", err)
			}
		}
	} else {
		out.Counts[KeyActive], out.Counts[KeyRevoked], out.Counts[KeyExpired] = rows[0].NActive, rows[0].NRevoked, rows[0].NExpired
		out.Total = out.Counts[f.Status]
		out.Pages = max(1, (out.Total+KeyPageSize-1)/KeyPageSize)
	}
	out.Keys = make([]APIKey, len(rows))
	for i := range rows {
		out.Keys[i] = rows[i].APIKey
	}
	return out, nil
}

// ManagedKey loads a key actor may manage: their own, or any for owners and admins. A key of
// another workspace is not found; someone else's key is forbidden to a member.
func ManagedKey(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID) (*APIKey, error) {
	if !actor.Role.Can(ActManageOwnKeys) {
		return nil, Errorf(ErrForbidden, "Viewers can't manage API keys.")
	}
	k := new(APIKey)
	if err := tn.db().NewSelect().Model(k).Where("k.id = ?", id).Scan(ctx); err != nil {
		return nil, notFound(err, "API key")
	}
	if !actor.Role.Can(ActManageAllKeys) && (k.CreatedBy == nil || *k.CreatedBy != actor.UserID) {
		return nil, Errorf(ErrForbidden, "You can manage only the keys you created.")
	}
	return k, nil
}

// RevokeKey stops a key at once, its previous secret too. Revoking a revoked key changes nothing.
// It runs in the workspace's transaction.
func RevokeKey(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID, now time.Time) (*APIKey, error) {
	k, err := ManagedKey(ctx, tn, actor, id)
	if err != nil {
		return nil, err
	}
	res, err := tn.db().NewUpdate().Model(k).
		Set("revoked_at = ?", now).Set("previous_secret_hash = NULL").Set("previous_valid_until = NULL").
		WherePK().Where("revoked_at IS NULL").Returning("*").Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("revoke key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return k, nil
	}
	if err := emitKey(ctx, tn, "api_key.revoked", k, now); err != nil {
		return nil, err
	}
	err = Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "api_key.revoke", Target: k.Prefix,
		Details: map[string]any{"name": k.Name}})
	return k, err
}

// RollKey gives a key a new secret and returns the whole new key (show it once). The previous
// secret keeps working for grace (0: it stops now), so clients can move without an outage; the
// key keeps its id, prefix, scope and original expiry. Rolling again within a grace period ends
// the older secret at once. It runs in the workspace's transaction.
func RollKey(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID, grace time.Duration, now time.Time) (*APIKey, string, error) {
	return RollKeyAsSeen(ctx, tn, actor, id, grace, "", now)
}

// Version names a key's current secret: it changes with every roll. A form that rolls a key
// carries the version it was shown, so sending that form again does not roll the key twice.
func (k *APIKey) Version() string {
	if k.RolledAt == nil {
		return "new"
	}
	return fmt.Sprint(k.RolledAt.UnixMicro())
}

// RollKeyAsSeen is RollKey for a key last seen at version seen (see Version; "" takes whatever
// the key is now). A key rolled since then is refused with ErrConflict and left as it is: a form
// sent twice must not end the grace of the secret its first sending replaced.
func RollKeyAsSeen(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID, grace time.Duration, seen string, now time.Time) (*APIKey, string, error) {
	valid := false
	for _, g := range KeyRollGraces {
		valid = valid || g == grace
	}
	if !valid {
		return nil, "", &ValidationError{Fields: map[string]string{"grace": "Choose no grace period, 1 hour, 24 hours or 7 days."}}
	}
	k, err := ManagedKey(ctx, tn, actor, id)
	if err != nil {
		return nil, "", err
	}
	switch k.Status(now) {
	case KeyRevoked:
		return nil, "", Errorf(ErrConflict, "Key %s is revoked; create a new key instead.", k.Prefix)
	case KeyExpired:
		return nil, "", Errorf(ErrConflict, "Key %s has expired; create a new key instead.", k.Prefix)
	}
	if seen != "" && seen != k.Version() {
		return nil, "", Errorf(ErrConflict, "Key %s was rolled again since this form was shown; its new secret was shown then. Roll it again only if you need another.", k.Prefix)
	}
	secret := randomBase62(keySecretLen)
	q := tn.db().NewUpdate().Model(k).Set("secret_hash = ?", hashSecret(secret)).Set("rolled_at = ?", now)
	if grace > 0 {
		q = q.Set("previous_secret_hash = secret_hash").Set("previous_valid_until = ?", now.Add(grace))
	} else {
		q = q.Set("previous_secret_hash = NULL").Set("previous_valid_until = NULL")
	}
	q = q.WherePK().Where("revoked_at IS NULL")
	if seen != "" {
		q = q.Where("rolled_at IS NOT DISTINCT FROM ?", k.RolledAt)
	}
	res, err := q.Returning("*").Exec(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("roll key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, "", Errorf(ErrConflict, "Key %s was revoked or rolled a moment ago.", k.Prefix)
	}
	if err := emitKey(ctx, tn, "api_key.rolled", k, now); err != nil {
		return nil, "", err
	}
	err = Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "api_key.roll", Target: k.Prefix,
		Details: map[string]any{"name": k.Name, "grace_seconds": int64(grace / time.Second)}})
	if err != nil {
		return nil, "", err
	}
	return k, formatKey(k.Prefix, secret), nil
}

// ErrBadKey is the one answer for a malformed, unknown, revoked or expired key, or one whose
// creator may no longer hold keys: the caller learns nothing about which.
var ErrBadKey = errors.New("invalid API key")

// APICaller is an authenticated API key: who is calling, in which workspace, with what scope.
type APICaller struct {
	KeyID       uuid.UUID
	WorkspaceID uuid.UUID
	Prefix      string
	Scope       KeyScope
	Tier        Tier
	LastUsedAt  *time.Time
	// WorkspaceSlug addresses the workspace's console pages; KeyName is the key's name.
	WorkspaceSlug, KeyName string
	// KeyLimit is the key's own hourly call limit, 0 when it has none (the workspace's applies).
	KeyLimit int64
	// AllowedIPs are the networks the key may be used from; none: any address.
	AllowedIPs []netip.Prefix
}

// IPAllowed reports whether the key may be used from ip (text as the request's client address).
// A key without an allowlist may be used from anywhere; with one, an address that does not parse
// is refused.
func (c *APICaller) IPAllowed(ip string) bool {
	if len(c.AllowedIPs) == 0 {
		return true
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range c.AllowedIPs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// keyRow is what atrium_api_key_by_prefix_v3 answers.
type keyRow struct {
	ID                 uuid.UUID  `bun:"id"`
	WorkspaceID        uuid.UUID  `bun:"workspace_id"`
	SecretHash         []byte     `bun:"secret_hash"`
	PreviousSecretHash []byte     `bun:"previous_secret_hash"`
	PreviousValidUntil *time.Time `bun:"previous_valid_until"`
	Scope              KeyScope   `bun:"scope"`
	ExpiresAt          *time.Time `bun:"expires_at"`
	RevokedAt          *time.Time `bun:"revoked_at"`
	LastUsedAt         *time.Time `bun:"last_used_at"`
	Tier               Tier       `bun:"tier"`
	CreatorRole        *string    `bun:"creator_role"`
	CreatorDisabled    bool       `bun:"creator_disabled"`
	WorkspaceSlug      string     `bun:"workspace_slug"`
	Name               string     `bun:"name"`
	RateLimitPerHour   *int64     `bun:"rate_limit_per_hour"`
	AllowedIPs         []string   `bun:"allowed_ips,array"`

	allow []netip.Prefix // AllowedIPs parsed, once per lookup
}

// parse parses the allowlist once, when the row is fetched. An entry that does not parse (none
// does: they are validated when saved) allows nothing.
func (r *keyRow) parse() {
	r.allow = nil
	for _, s := range r.AllowedIPs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			p = netip.PrefixFrom(netip.IPv6Unspecified(), 128)
		}
		r.allow = append(r.allow, p)
	}
}

// noSecretHash keeps the work of an unknown prefix the same as that of a known one.
var noSecretHash = make([]byte, sha256.Size)

// AuthenticateKey checks a presented key. The lookup by prefix crosses tenants by nature, so it
// goes through a narrow SECURITY DEFINER function; the secret's hash is compared in constant time,
// also against the previous secret while a roll's grace period lasts. A key works only while its
// creator is still a member who may hold keys (member or above) and not disabled.
func AuthenticateKey(ctx context.Context, db bun.IDB, token string, now time.Time) (*APICaller, error) {
	prefix, secret, ok := ParseKey(token)
	if !ok {
		return nil, ErrBadKey
	}
	row, found, err := lookupKey(ctx, db, prefix)
	if err != nil {
		return nil, err
	}
	return checkKey(row, found, prefix, secret, now)
}

// emitKey emits an API key event about k (never its secret).
func emitKey(ctx context.Context, tn *Tenant, typ string, k *APIKey, now time.Time) error {
	return EmitEvent(ctx, tn, typ, map[string]any{"id": k.ID.String(), "prefix": k.Prefix, "name": k.Name, "scope": k.Scope}, now)
}
