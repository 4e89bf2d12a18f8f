package views

import (
	"net/url"
	"time"

	"atrium/handlers/paths"
	"atrium/views/components"
	"atrium/views/layouts"
)

// AuditPage is /w/:slug/audit: the workspace's audit log, newest first, filtered.
type AuditPage struct {
	layouts.Frame
	Slug string
	// Action, Actor, From and To are the filters in force (From and To as typed, YYYY-MM-DD).
	Action, Actor string
	From, To      string
	Actions       []AuditAction
	// Errors are the date range's problems, by field ("from", "to").
	Errors FormErrors
	Rows   []AuditRow
	// Next is the cursor of the next (older) page, "" on the last; Later is true past the first.
	Next  string
	Later bool
	// Chain is the log's hash chain: its head, and a verification's result once asked for.
	Chain AuditChain
}

// AuditChain is the audit log's hash chain as the page shows it.
type AuditChain struct {
	HeadSeq  int64
	HeadHash string
	// StartSeq is the seq of the retention checkpoint the chain starts after, 0 when nothing was
	// pruned.
	StartSeq int64
	Verify   *AuditVerifyResult
}

// AuditVerifyResult is what checking the chain found.
type AuditVerifyResult struct {
	OK      bool
	Events  int64
	FromSeq int64
	At      time.Time
	// BrokenID is the first broken event's id ("" when the break is not at an event), BrokenSeq
	// its place, Reason what does not hold.
	BrokenID  string
	BrokenSeq int64
	Reason    string
}

// VerifyURL checks the chain.
func (p AuditPage) VerifyURL() string { return paths.AuditVerify.URL(p.Slug) }

// filter is the filters as query parameters.
func (p AuditPage) filter() url.Values {
	v := url.Values{}
	if p.Action != "" {
		v.Set("action", p.Action)
	}
	if p.Actor != "" {
		v.Set("actor", p.Actor)
	}
	if p.From != "" {
		v.Set("from", p.From)
	}
	if p.To != "" {
		v.Set("to", p.To)
	}
	return v
}

func pathWithQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// Filtered reports whether any filter is in force.
func (p AuditPage) Filtered() bool {
	return p.Action != "" || p.Actor != "" || p.From != "" || p.To != ""
}

// Base is the audit log's address.
func (p AuditPage) Base() string { return paths.Audit.URL(p.Slug) }

// FirstURL is the newest page with the same filters.
func (p AuditPage) FirstURL() string { return pathWithQuery(p.Base(), p.filter()) }

// NextURL is the next (older) page with the same filters.
func (p AuditPage) NextURL() string {
	v := p.filter()
	v.Set("after", p.Next)
	return pathWithQuery(p.Base(), v)
}

// Pager is the log's pagination: by position (a deep page costs what the first does), newest
// first.
func (p AuditPage) Pager() components.Pager {
	pg := components.Pager{Keyset: true, Shown: len(p.Rows), Label: "Audit log pages", Noun: "events", TestID: "audit",
		NextLabel: "Older", FirstLabel: "Newest"}
	if p.Next != "" {
		pg.Next = p.NextURL()
	}
	if p.Later {
		pg.First = p.FirstURL()
	}
	return pg
}

// CSVURL downloads every event the filters match.
func (p AuditPage) CSVURL() string { return pathWithQuery(paths.AuditCSV.URL(p.Slug), p.filter()) }

// AuditRow is one event as the log shows it.
type AuditRow struct {
	At time.Time
	// Sentence says the event: "Olivia Owner changed Mia Member's role from Member to Admin."
	Sentence string
	Actor    string
	// Support marks a support person's look at the workspace.
	Support bool
	// Action is the recorded action ("member.role_change"), ActionLabel its name for people.
	Action, ActionLabel string
	Target              string
	Details             []AuditDetail
	IP                  string
}

// AuditDetail is one detail of an event, folded under it.
type AuditDetail struct{ Key, Value string }

// AuditAction is one choice of the action filter.
type AuditAction struct{ Value, Label string }
