package models

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// MaxKeyDescription is the longest key description, in characters.
const MaxKeyDescription = 500

// MaxAllowedIPs is the most entries a key's allowlist takes.
const MaxAllowedIPs = 100

// KeyControls are what fences a key in: a description, an hourly call limit of its own and an
// allowlist of client addresses, as the create and edit forms send them.
type KeyControls struct {
	Description string
	// RateLimitPerHour is a whole number of calls per hour; empty: the workspace's limit alone.
	RateLimitPerHour string
	// AllowedIPs are addresses and CIDR ranges, separated by commas or line breaks; empty: any.
	AllowedIPs string
}

// keyControls is KeyControls validated.
type keyControls struct {
	description string
	limit       *int64
	allowed     []string
}

// ParseAllowedIPs reads an allowlist: IPv4 and IPv6 addresses and CIDR ranges, separated by
// commas, spaces or line breaks. It answers the entries in canonical form (an address becomes a
// /32 or /128 range), without repeats, or a message that names the first entry that is wrong.
func ParseAllowedIPs(s string) ([]string, string) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' || r == ' ' || r == '\t' || r == ';' })
	out := []string{}
	seen := map[string]bool{}
	for _, f := range fields {
		var p netip.Prefix
		if strings.Contains(f, "/") {
			var err error
			p, err = netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Sprintf("%q is not a CIDR range: write it like 203.0.113.0/24 or 2001:db8::/32.", f)
			}
			if p.Addr().Zone() != "" {
				return nil, fmt.Sprintf("%q has a zone; write the range without it.", f)
			}
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
			}
			if m := p.Masked(); m != p {
				return nil, fmt.Sprintf("%q has bits set past its /%d; did you mean %s?", f, p.Bits(), m)
			}
		} else {
			a, err := netip.ParseAddr(f)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Sprintf("%q is not an IP address: write it like 203.0.113.7 or 2001:db8::1, or a range like 203.0.113.0/24.", f)
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if k := p.String(); !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	if len(out) > MaxAllowedIPs {
		return nil, fmt.Sprintf("List at most %d addresses or ranges; use wider ranges to cover more.", MaxAllowedIPs)
	}
	return out, ""
}

// validate checks the controls against the workspace's tier; messages go to v by field.
func (in KeyControls) validate(v *ValidationError, tier Tier) keyControls {
	var out keyControls
	out.description = strings.TrimSpace(in.Description)
	if msg := TextProblem(out.description, true); msg != "" {
		v.Add("description", msg)
	} else if utf8.RuneCountInString(out.description) > MaxKeyDescription {
		v.Add("description", fmt.Sprintf("Keep the description to %d characters.", MaxKeyDescription))
	}
	if s := strings.TrimSpace(strings.ReplaceAll(in.RateLimitPerHour, ",", "")); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		ws, limited := tier.Limits().APICallsPerHour.Value()
		switch {
		case err != nil || n < 1:
			v.Add("rate_limit_per_hour", "Give a whole number of calls per hour, at least 1, or leave it empty for the workspace's limit.")
		case limited && n > ws:
			v.Add("rate_limit_per_hour", fmt.Sprintf("A key's limit is a slice of the workspace's %d calls per hour (%s tier): give at most %d, or leave it empty.", ws, tier.Label(), ws))
		case n > 1_000_000_000:
			v.Add("rate_limit_per_hour", "Give at most 1,000,000,000 calls per hour, or leave it empty for no limit of the key's own.")
		default:
			out.limit = &n
		}
	}
	ips, msg := ParseAllowedIPs(in.AllowedIPs)
	if msg != "" {
		v.Add("allowed_ips", msg)
	}
	out.allowed = ips
	return out
}

// workspaceTier reads the tier of the tenant's workspace.
func workspaceTier(ctx context.Context, tn *Tenant) (Tier, error) {
	var tier Tier
	if err := tn.db().NewSelect().Model((*Workspace)(nil)).Column("tier").Where("id = ?", tn.WorkspaceID()).Scan(ctx, &tier); err != nil {
		return "", notFound(err, "workspace")
	}
	return tier, nil
}

// UpdateKeyControls changes a key's description, hourly limit and allowlist. Every process hears
// of it at once (the key cache is told by notification). It runs in the workspace's transaction.
func UpdateKeyControls(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID, in KeyControls, now time.Time) (*APIKey, error) {
	k, err := ManagedKey(ctx, tn, actor, id)
	if err != nil {
		return nil, err
	}
	if k.RevokedAt != nil {
		return nil, Errorf(ErrConflict, "Key %s is revoked; its controls no longer matter.", k.Prefix)
	}
	tier, err := workspaceTier(ctx, tn)
	if err != nil {
		return nil, err
	}
	var v ValidationError
	c := in.validate(&v, tier)
	if err := v.Err(); err != nil {
		return nil, err
	}
	_, err = tn.db().NewUpdate().Model(k).Set("description = ?", c.description).Set("rate_limit_per_hour = ?", c.limit).
		Set("allowed_ips = ?", pgdialect.Array(c.allowed)).WherePK().Returning("*").Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("update key: %w", err)
	}
	err = Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "api_key.update", Target: k.Prefix, Details: controlDetails(k)})
	return k, err
}

// controlDetails are a key's controls as an audit event records them.
func controlDetails(k *APIKey) map[string]any {
	d := map[string]any{"name": k.Name, "rate_limit_per_hour": nil, "allowed_ips": k.AllowedIPs}
	if k.RateLimitPerHour != nil {
		d["rate_limit_per_hour"] = *k.RateLimitPerHour
	}
	if k.AllowedIPs == nil {
		d["allowed_ips"] = []string{}
	}
	return d
}

// KeyUsageHours is how many hours a key's usage page reads.
const KeyUsageHours = 48

// KeyHour is one hour of a key's use.
type KeyHour struct {
	Hour                                    time.Time
	Calls, IPRefused, KeyLimited, WSLimited int64
}

// KeyUsage is a key with its use over the last KeyUsageHours hours, oldest first, every hour
// present.
type KeyUsage struct {
	Key   *APIKey
	Hours []KeyHour
	// Totals over the hours.
	Calls, IPRefused, KeyLimited, WSLimited int64
}

// ReadKeyUsage reads a key actor may manage and its use per hour up to now's hour, in one
// statement. It runs in the workspace's transaction.
func ReadKeyUsage(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID, now time.Time) (*KeyUsage, error) {
	if !actor.Role.Can(ActManageOwnKeys) {
		return nil, Errorf(ErrForbidden, "Viewers can't see API keys.")
	}
	hour := now.UTC().Truncate(time.Hour)
	from := hour.Add(-(KeyUsageHours - 1) * time.Hour)
	var rows []struct {
		APIKey `bun:",extend"`
		Hours  []string `bun:"hours,array,scanonly"`
	}
	err := tn.db().NewSelect().Model(&rows).ColumnExpr("k.*").
		ColumnExpr("coalesce(nullif(cu.name, ''), cu.email::text, '') AS creator_name").
		ColumnExpr(`ARRAY(SELECT concat_ws(',', extract(epoch FROM u.hour)::bigint, u.calls, u.ip_refused, u.key_limited, u.workspace_limited)
			FROM api_key_usage_hourly AS u WHERE u.workspace_id = k.workspace_id AND u.key_id = k.id
			AND u.hour >= ? AND u.hour <= ? ORDER BY u.hour) AS hours`, from, hour).
		Join("LEFT JOIN users AS cu ON cu.id = k.created_by").
		Where("k.id = ?", id).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("key usage: %w", err)
	}
	if len(rows) == 0 {
		return nil, Errorf(ErrNotFound, "API key not found")
	}
	k := &rows[0].APIKey
	if !actor.Role.Can(ActManageAllKeys) && (k.CreatedBy == nil || *k.CreatedBy != actor.UserID) {
		return nil, Errorf(ErrForbidden, "You can see only the keys you created.")
	}
	out := &KeyUsage{Key: k}
	byHour := map[int64]KeyHour{}
	for _, s := range rows[0].Hours {
		var h KeyHour
		var at int64
		if _, err := fmt.Sscanf(s, "%d,%d,%d,%d,%d", &at, &h.Calls, &h.IPRefused, &h.KeyLimited, &h.WSLimited); err != nil {
			return nil, fmt.Errorf("key usage row %q: %w", s, err)
		}
		byHour[at] = h
	}
	for t := from; !t.After(hour); t = t.Add(time.Hour) {
		h := byHour[t.Unix()]
		h.Hour = t
		out.Hours = append(out.Hours, h)
		out.Calls += h.Calls
		out.IPRefused += h.IPRefused
		out.KeyLimited += h.KeyLimited
		out.WSLimited += h.WSLimited
	}
	return out, nil
}
