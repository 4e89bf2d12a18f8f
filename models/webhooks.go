package models

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// WebhookEndpoint is an address a workspace's events are delivered to.
type WebhookEndpoint struct {
	bun.BaseModel `bun:"table:webhook_endpoints,alias:we"`
	Scoped

	ID                  uuid.UUID  `bun:"id,pk,type:uuid"`
	URL                 string     `bun:"url"`
	Description         string     `bun:"description"`
	EventTypes          []string   `bun:"event_types,array"`
	Secret              string     `bun:"secret"`
	PreviousSecret      *string    `bun:"previous_secret"`
	PreviousSecretUntil *time.Time `bun:"previous_secret_until"`
	CreatedBy           *uuid.UUID `bun:"created_by,type:uuid"`
	CreatedAt           time.Time  `bun:"created_at"`
	UpdatedAt           time.Time  `bun:"updated_at"`
	FailingSince        *time.Time `bun:"failing_since"`
	DisabledAt          *time.Time `bun:"disabled_at"`
	DisabledReason      string     `bun:"disabled_reason"`
}

// Enabled reports whether deliveries go to the endpoint.
func (e *WebhookEndpoint) Enabled() bool { return e.DisabledAt == nil }

// Secrets are the secrets a delivery at now is signed with: the current one and, during a roll's
// grace period, the previous one.
func (e *WebhookEndpoint) Secrets(now time.Time) []string {
	s := []string{e.Secret}
	if e.PreviousSecret != nil && e.PreviousSecretUntil != nil && now.Before(*e.PreviousSecretUntil) {
		s = append(s, *e.PreviousSecret)
	}
	return s
}

// Takes reports whether the endpoint is subscribed to event type typ.
func (e *WebhookEndpoint) Takes(typ string) bool {
	fam, _, _ := strings.Cut(typ, ".")
	return slices.Contains(e.EventTypes, typ) || slices.Contains(e.EventTypes, fam+".*")
}

// WebhookURLRules say which endpoint addresses are accepted: production takes https only and
// refuses addresses that name a private, loopback or link-local host (the sender checks the
// address it connects to as well); development takes any http or https address.
type WebhookURLRules struct {
	AllowHTTP    bool
	AllowPrivate bool
}

// MaxWebhookEndpoints is how many endpoints one workspace may register.
const MaxWebhookEndpoints = 20

// WebhookRollGraces are the grace periods a secret roll offers for the previous secret.
var WebhookRollGraces = []time.Duration{0, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// NewWebhookEndpoint is the endpoint form.
type NewWebhookEndpoint struct {
	URL         string
	Description string
	EventTypes  []string
}

// ForbiddenAddr reports whether ip may not be connected to in production: private, loopback,
// link-local, unspecified, multicast (and the IPv4-mapped forms of those) or shared address space.
func ForbiddenAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !ip.IsValid() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(ip) || netip.MustParsePrefix("0.0.0.0/8").Contains(ip)
}

func (in *NewWebhookEndpoint) validate(rules WebhookURLRules) (string, []string, error) {
	var v ValidationError
	raw := strings.TrimSpace(in.URL)
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		v.Add("url", "Enter the address events are sent to, e.g. https://example.com/webhooks.")
	case err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http"):
		v.Add("url", "Enter a full https:// address, without a user name or password.")
	case u.Scheme == "http" && !rules.AllowHTTP:
		v.Add("url", "Use an https:// address: events are sent over TLS only.")
	case len(raw) > 2000:
		v.Add("url", "The address is too long (at most 2000 characters).")
	case !rules.AllowPrivate && privateHost(u.Hostname()):
		v.Add("url", "The address points to a private, loopback or link-local host; events are sent to public addresses only.")
	}
	desc := strings.TrimSpace(in.Description)
	if msg := TextProblem(desc, true); msg != "" {
		v.Add("description", msg)
	} else if utf8.RuneCountInString(desc) > 200 {
		v.Add("description", "Keep the description to 200 characters.")
	}
	var types []string
	for _, t := range in.EventTypes {
		t = strings.TrimSpace(t)
		fam, rest, _ := strings.Cut(t, ".")
		if !(slices.Contains(WebhookEventTypes, t) || (rest == "*" && slices.Contains(WebhookEventFamilies(), fam))) {
			v.Add("event_types", fmt.Sprintf("%q is not an event type.", t))
			break
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	if len(types) == 0 && v.Fields["event_types"] == "" {
		v.Add("event_types", "Choose at least one event type.")
	}
	in.Description = desc
	return raw, types, v.Err()
}

// privateHost reports whether host is an address literal that ForbiddenAddr refuses, or a name
// that only ever means this machine.
func privateHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return ForbiddenAddr(ip)
	}
	if ip := net.ParseIP(h); ip != nil { // odd IPv4 forms the parser above refuses
		a, _ := netip.AddrFromSlice(ip)
		return ForbiddenAddr(a)
	}
	return false
}

// newWebhookSecret is "whsec_" and the base64 of 24 random bytes.
func newWebhookSecret() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

func canManageHooks(actor Actor) error {
	if !actor.Role.Can(ActManageHooks) {
		return Errorf(ErrForbidden, "Only owners and admins manage webhooks.")
	}
	return nil
}

// CreateWebhookEndpoint registers an endpoint and returns it; its Secret is shown once. It runs in
// the workspace's transaction and is audited (webhook.create).
func CreateWebhookEndpoint(ctx context.Context, tn *Tenant, actor Actor, in NewWebhookEndpoint, rules WebhookURLRules, now time.Time) (*WebhookEndpoint, error) {
	if err := canManageHooks(actor); err != nil {
		return nil, err
	}
	raw, types, err := in.validate(rules)
	if err != nil {
		return nil, err
	}
	n, err := tn.db().NewSelect().Model((*WebhookEndpoint)(nil)).Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("count endpoints: %w", err)
	}
	if n >= MaxWebhookEndpoints {
		return nil, Errorf(ErrConflict, "A workspace has at most %d webhook endpoints; delete one first.", MaxWebhookEndpoints)
	}
	now = now.UTC().Truncate(time.Microsecond)
	e := &WebhookEndpoint{ID: NewID(), URL: raw, Description: in.Description, EventTypes: types, Secret: newWebhookSecret(),
		CreatedBy: &actor.UserID, CreatedAt: now, UpdatedAt: now}
	if _, err := tn.db().NewInsert().Model(e).Exec(ctx); err != nil {
		return nil, fmt.Errorf("create endpoint: %w", err)
	}
	return e, Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "webhook.create", Target: e.ID.String(),
		Details: map[string]any{"url": raw, "event_types": types}})
}

// WebhookEndpoints lists the workspace's endpoints, oldest first.
func WebhookEndpoints(ctx context.Context, tn *Tenant) ([]WebhookEndpoint, error) {
	var out []WebhookEndpoint
	err := tn.db().NewSelect().Model(&out).Order("created_at", "id").Limit(MaxWebhookEndpoints).Scan(ctx)
	return out, err
}

// WebhookEndpointByID loads one endpoint of the workspace.
func WebhookEndpointByID(ctx context.Context, tn *Tenant, id uuid.UUID) (*WebhookEndpoint, error) {
	e := new(WebhookEndpoint)
	err := tn.db().NewSelect().Model(e).Where("id = ?", id).Scan(ctx)
	return e, notFound(err, "webhook endpoint")
}

// UpdateWebhookEndpoint changes an endpoint's address, description and event types. It is
// audited (webhook.update).
func UpdateWebhookEndpoint(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID, in NewWebhookEndpoint, rules WebhookURLRules, now time.Time) (*WebhookEndpoint, error) {
	if err := canManageHooks(actor); err != nil {
		return nil, err
	}
	raw, types, err := in.validate(rules)
	if err != nil {
		return nil, err
	}
	e := &WebhookEndpoint{ID: id}
	res, err := tn.db().NewUpdate().Model(e).Set("url = ?", raw).Set("description = ?", in.Description).
		Set("event_types = ?", pgdialect.Array(types)).Set("updated_at = ?", now.UTC()).WherePK().Returning("*").Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("update endpoint: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, Errorf(ErrNotFound, "webhook endpoint not found")
	}
	return e, Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "webhook.update", Target: id.String(),
		Details: map[string]any{"url": raw, "event_types": types}})
}

// SetWebhookEndpointEnabled enables or disables an endpoint. Disabling gives up its pending
// deliveries (they can be redelivered once it is enabled again); while it is disabled no
// deliveries are made for it. Enabling clears its failure record. Audited
// (webhook.enable, webhook.disable).
func SetWebhookEndpointEnabled(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID, enabled bool, now time.Time) (*WebhookEndpoint, error) {
	if err := canManageHooks(actor); err != nil {
		return nil, err
	}
	e := &WebhookEndpoint{ID: id}
	q := tn.db().NewUpdate().Model(e).Set("updated_at = ?", now.UTC()).WherePK()
	action := "webhook.enable"
	if enabled {
		q = q.Set("disabled_at = NULL").Set("disabled_reason = ''").Set("failing_since = NULL")
	} else {
		action = "webhook.disable"
		q = q.Set("disabled_at = coalesce(disabled_at, ?)", now.UTC()).Set("disabled_reason = 'Disabled by a person.'")
	}
	res, err := q.Returning("*").Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("update endpoint: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, Errorf(ErrNotFound, "webhook endpoint not found")
	}
	if !enabled {
		if _, err := tn.db().NewUpdate().Model((*WebhookDelivery)(nil)).Set("status = ?", DeliveryFailed).
			Set("last_error = 'endpoint disabled'").Where("endpoint_id = ? AND status = ?", id, DeliveryPending).Exec(ctx); err != nil {
			return nil, fmt.Errorf("give up deliveries: %w", err)
		}
	}
	return e, Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: action, Target: id.String(), Details: map[string]any{"url": e.URL}})
}

// RollWebhookSecret gives an endpoint a new secret and returns the endpoint with it (show it
// once). For grace (one of WebhookRollGraces) deliveries carry a signature with each secret, so
// a receiver can move to the new one without missing any. Audited (webhook.roll_secret).
func RollWebhookSecret(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID, grace time.Duration, now time.Time) (*WebhookEndpoint, error) {
	if err := canManageHooks(actor); err != nil {
		return nil, err
	}
	if !slices.Contains(WebhookRollGraces, grace) {
		return nil, Invalid("grace", "Choose no grace period, 1 hour, 24 hours or 7 days.")
	}
	now = now.UTC().Truncate(time.Microsecond)
	e := &WebhookEndpoint{ID: id}
	q := tn.db().NewUpdate().Model(e).Set("secret = ?", newWebhookSecret()).Set("updated_at = ?", now).WherePK()
	if grace > 0 {
		q = q.Set("previous_secret = secret").Set("previous_secret_until = ?", now.Add(grace))
	} else {
		q = q.Set("previous_secret = NULL").Set("previous_secret_until = NULL")
	}
	res, err := q.Returning("*").Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("roll secret: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, Errorf(ErrNotFound, "webhook endpoint not found")
	}
	return e, Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "webhook.roll_secret", Target: id.String(),
		Details: map[string]any{"url": e.URL, "grace_seconds": int64(grace / time.Second)}})
}

// DeleteWebhookEndpoint removes an endpoint with its deliveries. Audited (webhook.delete).
func DeleteWebhookEndpoint(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID, now time.Time) error {
	if err := canManageHooks(actor); err != nil {
		return err
	}
	e := &WebhookEndpoint{ID: id}
	res, err := tn.db().NewDelete().Model(e).WherePK().Returning("url").Exec(ctx)
	if err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ErrNotFound, "webhook endpoint not found")
	}
	return Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "webhook.delete", Target: id.String(), Details: map[string]any{"url": e.URL}})
}
