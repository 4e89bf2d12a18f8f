package views

import (
	"net/url"
	"time"

	"atrium/handlers/paths"
	"atrium/views/layouts"
)

// AuditPage is /w/:slug/audit: the workspace's audit log, newest first, filtered.
type AuditPage struct {
	layouts.Frame
	Slug string
	// Action and Actor are the filters in force.
	Action, Actor string
	Actions       []string
	Rows          []AuditRow
	// Next is the cursor of the next (older) page, "" on the last; Later is true past the first.
	Next  string
	Later bool
}

// filter is the filters as query parameters.
func (p AuditPage) filter() url.Values {
	v := url.Values{}
	if p.Action != "" {
		v.Set("action", p.Action)
	}
	if p.Actor != "" {
		v.Set("actor", p.Actor)
	}
	return v
}

func pathWithQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
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

// CSVURL downloads every event the filters match.
func (p AuditPage) CSVURL() string { return pathWithQuery(paths.AuditCSV.URL(p.Slug), p.filter()) }

// AuditRow is one event as the log shows it.
type AuditRow struct {
	At    time.Time
	Actor string
	// Support marks a support person's look at the workspace.
	Support bool
	Action  string
	Target  string
	Details string
	IP      string
}
