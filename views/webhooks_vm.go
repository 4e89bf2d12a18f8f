package views

import (
	"time"

	"atrium/handlers/paths"
	"atrium/views/layouts"
)

// WebhooksPage is /w/:slug/settings/webhooks: the workspace's endpoints and the form for a new
// one, for owners and admins.
type WebhooksPage struct {
	layouts.Frame
	Slug      string
	Endpoints []WebhookRow
	Form      WebhookForm
	Groups    []WebhookTypeGroup
	// Max is how many endpoints a workspace may have.
	Max int
}

// WebhookRow is one endpoint in the list.
type WebhookRow struct {
	ID, URL, Description string
	Types                []string
	Enabled              bool
	DisabledReason       string
	FailingSince         *time.Time
}

// WebhookForm is the endpoint form's values and errors.
type WebhookForm struct {
	URL, Description string
	Types            []string
	Errors           map[string]string
	// HTTPS says production rules: https:// to public addresses only.
	HTTPS bool
}

// Checked reports whether the form has type t.
func (f WebhookForm) Checked(t string) bool {
	for _, x := range f.Types {
		if x == t {
			return true
		}
	}
	return false
}

// WebhookTypeGroup is a family of event types, for the form's checkboxes.
type WebhookTypeGroup struct {
	Family string // "member"
	Label  string // "Members"
	Types  []string
}

// WebhookPage is one endpoint: its settings, the secret once after a create or a roll, and its
// recent deliveries.
type WebhookPage struct {
	layouts.Frame
	Slug     string
	Endpoint WebhookRow
	Form     WebhookForm
	Groups   []WebhookTypeGroup
	// Secret is shown once, right after the endpoint was made or its secret rolled;
	// PreviousUntil is when the previous secret stops signing.
	Secret        string
	PreviousUntil *time.Time
	Deliveries    []DeliveryRow
	// Older pages on to older deliveries ("" on the last page).
	Older string
}

// DeliveryRow is one delivery in the endpoint's list.
type DeliveryRow struct {
	ID, EventType, Status string
	Created               time.Time
	Attempts              int
	Code, Latency, Error  string
	LastAttempt           *time.Time
	NextAttempt           *time.Time
}

// WebhookURL is the endpoint's page.
func (p WebhookPage) WebhookURL() string { return paths.Webhook.URL(p.Slug, p.Endpoint.ID) }
