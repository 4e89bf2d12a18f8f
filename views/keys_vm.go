package views

import (
	"net/url"
	"time"

	"atrium/handlers/paths"
	"atrium/views/components"
	"atrium/views/layouts"
)

// KeysPage is /w/:slug/keys: the create form, the key just made (once) and the list.
type KeysPage struct {
	layouts.Frame
	Slug string
	Form NewKeyForm
	// Created is the key just made or rolled, shown this once and never again.
	Created *CreatedKey
	Keys    []KeyRow
	// All is true when the list holds everyone's keys (owners and admins), false for one's own.
	All bool
	// Query and Status filter the list (Status is active, revoked or expired); Tabs are the
	// statuses with their counts (for the search), Any their sum.
	Query, Status string
	Tabs          []KeyTab
	Any           int
	Pager         components.Pager
	// Error is a refusal of the last action, shown above the list.
	Error string
	// ShowForm shows the create form on the page (without JavaScript, or after a refused form);
	// InDialog renders it for the page's dialog.
	ShowForm, InDialog bool
}

// NewURL is the keys page with its create form open: the dialog's panel for JavaScript.
func (p KeysPage) NewURL() string { return paths.Keys.URL(p.Slug) + "?new=1#new-key" }

// KeyTab is one status of the key list, with how many keys the search finds in it.
type KeyTab struct {
	Value, Label string
	Count        int
	Current      bool
}

// StatusParam is the status as the list's address carries it: nothing for active, the default.
func (p KeysPage) StatusParam() string {
	if p.Status == "active" {
		return ""
	}
	return p.Status
}

// TabURL is the list's address for one status, keeping the search.
func (p KeysPage) TabURL(status string) string {
	v := url.Values{}
	if p.Query != "" {
		v.Set("q", p.Query)
	}
	if status != "active" {
		v.Set("status", status)
	}
	if len(v) == 0 {
		return p.Base()
	}
	return p.Base() + "?" + v.Encode()
}

// Base is the address of the keys page.
func (p KeysPage) Base() string { return paths.Keys.URL(p.Slug) }

// NewKeyForm is the create-key form with its errors.
type NewKeyForm struct {
	Name, Scope, ExpiresInDays string
	KeyControlsForm
	Errors FormErrors
}

// KeyControlsForm are the per-key controls as a form shows them: a description, the key's own
// hourly limit (empty: the workspace's) and its allowlist, one address or range a line.
type KeyControlsForm struct {
	Description, RateLimitPerHour, AllowedIPs string
	// WorkspaceLimit says the workspace's hourly limit, for the limit's help text.
	WorkspaceLimit string
}

// CreatedKey is a whole key, shown once after creation or a roll.
type CreatedKey struct {
	Name   string
	Prefix string
	Token  string
	Rolled bool
	// PreviousUntil says until when the replaced secret keeps working after a roll (nil if not).
	PreviousUntil *time.Time
}

// KeyRow is one key in the list.
type KeyRow struct {
	ID, Prefix, Name    string
	Scope, ScopeLabel   string
	Creator             string
	Created             time.Time
	LastUsed, Expires   *time.Time // nil: never used, never expires
	Status, StatusLabel string
	// PreviousUntil is set while a rolled key's previous secret still works.
	PreviousUntil *time.Time
	// Active keys can be rolled and revoked.
	Active bool
	// Calls24h are the key's calls in the last 24 hours; Limit its own hourly limit ("" none);
	// Allowlist how many addresses or ranges fence it in (0: any address).
	Calls24h  string
	Limit     string
	Allowlist int
}

// URL is the key's page: its usage and controls.
func (r KeyRow) URL(slug string) string { return paths.Key.URL(slug, r.ID) }

// KeyPage is /w/:slug/keys/:id: a key's use per hour, its refusals and its controls.
type KeyPage struct {
	layouts.Frame
	Slug string
	Key  KeyRow
	// Description, LastUsedIP and AllowedIPs are the key's as saved.
	Description, LastUsedIP string
	AllowedIPs              []string
	Form                    KeyControlsForm
	Errors                  FormErrors
	// Calls and Refusals are the last hours per hour; the totals are over the same hours.
	Calls, Refusals                              components.Chart
	Hours                                        int
	TotalCalls, IPRefused, KeyLimited, WSLimited string
	// CanEdit is false for a revoked key.
	CanEdit bool
}

// Action is where the controls form posts.
func (p KeyPage) Action() string { return paths.Key.URL(p.Slug, p.Key.ID) }

// Back is the keys list.
func (p KeyPage) Back() string { return paths.Keys.URL(p.Slug) }

// Choice is one option of a select or radio group.
type Choice struct{ Value, Label string }

// KeyScopeChoices are the scopes a key may have.
var KeyScopeChoices = []Choice{
	{"read", "Read only"},
	{"read_write", "Read and write"},
}

// AuditScopeChoice is the scope that reads only the audit log, which owners and admins give.
var AuditScopeChoice = Choice{"audit:read", "Audit log only"}

// CanGrantAuditRead reports whether the signed-in member may give a key the audit:read scope:
// owners and admins.
func (p KeysPage) CanGrantAuditRead() bool {
	return p.Workspace != nil && (p.Workspace.Role == "Owner" || p.Workspace.Role == "Admin")
}

// KeyExpiryChoices are the lifetimes a new key may have, in days ("0" never expires).
var KeyExpiryChoices = []Choice{
	{"7", "7 days"}, {"30", "30 days"}, {"90", "90 days"}, {"365", "1 year"}, {"0", "Never"},
}

// KeyGraceChoices are how long a rolled key's previous secret keeps working, in hours.
var KeyGraceChoices = []Choice{
	{"0", "Stop it now"}, {"1", "1 hour"}, {"24", "24 hours"}, {"168", "7 days"},
}

// RollPage offers a key's roll: how long the old secret keeps working. Version names the secret
// being replaced, so the same form sent twice rolls once.
type RollPage struct {
	layouts.Frame
	InDialog       bool
	Name, Prefix   string
	Version        string
	Action, Cancel string
}

// describedBy names a field's help and, when it has one, its error, for aria-describedby.
func describedBy(field string, errs FormErrors) string {
	if errs[field] != "" {
		return "h-" + field + " e-" + field
	}
	return "h-" + field
}
