package views

import (
	"time"

	"atrium/views/layouts"
)

// AlertsPage is /w/:slug/settings/alerts: each limit's quota alert, and the alerts recently sent.
type AlertsPage struct {
	layouts.Frame
	Slug      string
	ActionURL string
	UsageURL  string
	Limits    []AlertLimit
	// Invalid is set when the form came back with errors: nothing was saved.
	Invalid bool
	Recent  []AlertRow
}

// AlertLimit is one limit's part of the alerts form, with the values as typed and their errors.
type AlertLimit struct {
	Key   string // the limit's kind: agent_minutes, api_calls, concurrent_tasks, members
	Label string
	// LimitText is the tier's limit ("100 an hour"), or says it is unlimited.
	LimitText string
	// Period says how often it alerts at most ("once per threshold an hour").
	Period     string
	Enabled    bool
	Thresholds string
	Recipients string // owners, admins or list
	Addresses  string

	ThresholdsError, RecipientsError, AddressesError string
	// Focus names the field that takes the focus (the page's first with a message), if any.
	Focus string
}

// AlertRow is one alert sent.
type AlertRow struct {
	Limit     string
	Threshold int
	Used      string
	LimitText string
	Period    string
	CrossedAt time.Time
	Current   bool // its period is still running
}

// AlertNotice is a threshold crossed in the current period, as the usage page tells it.
type AlertNotice struct {
	Text string
}
