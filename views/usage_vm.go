package views

import (
	"time"

	"atrium/views/components"
	"atrium/views/layouts"
)

// UsagePage is /w/:slug/usage, and also support's read-only look at a workspace's usage.
type UsagePage struct {
	layouts.Frame
	Name, Slug, Tier string
	// Range is the chart's range in days; Ranges link to each choice.
	Range   int
	Ranges  []RangeLink
	Numbers UsageNumbers
	// Alerts are the quota alerts of the periods now running; AlertsURL is their settings, for
	// owners.
	Alerts    []AlertNotice
	AlertsURL string
	// RangeLabel names the range's days ("Nov 1 – Nov 30, 2026 (UTC)").
	RangeLabel                       string
	RangeAgentMinutes, RangeAPICalls string
	AgentChart, APIChart             components.Chart
	// CSVURL downloads the range's hourly numbers; empty where there is no download.
	CSVURL string
	// SettingsURL is where an owner changes the tier; empty for everyone else.
	SettingsURL string
	// Support is set on the support console's view of the workspace.
	Support *SupportFacts
}

// RangeLink is one choice of the chart's range.
type RangeLink struct {
	Days    int
	URL     string
	Current bool
}

// UsageNumbers is the part of the usage page that refreshes itself while the page is open.
type UsageNumbers struct {
	Meters   []MeterVM
	Warnings []Warning
	// TierURL is where an owner changes the tier; empty for everyone else.
	TierURL string
	// MonthLabel names the calendar month the totals count ("November 2026").
	MonthLabel                       string
	MonthAgentMinutes, MonthAPICalls string
	// PollURL, when set, is fetched every 30 seconds to refresh these numbers.
	PollURL   string
	UpdatedAt string
}

// SupportFacts is what support sees about a workspace besides its usage, in words ("3 members",
// "no pending invitations").
type SupportFacts struct {
	Members, Pending string
	Created          time.Time
	BackURL          string
	// Reason and Ticket are the grant this look is under, open Until.
	Reason, Ticket string
	Until          time.Time
	// Deleted: the workspace is scheduled for deletion.
	Deleted bool
}
