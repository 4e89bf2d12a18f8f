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
	Errors                     FormErrors
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
}

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
