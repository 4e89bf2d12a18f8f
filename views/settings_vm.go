package views

import (
	"time"

	"atrium/handlers/paths"
	"atrium/views/layouts"
)

// SettingsPage is /w/:slug/settings: name, tier and deletion, for owners.
type SettingsPage struct {
	layouts.Frame
	Slug string
	// Name is the rename form's value and error.
	Name      string
	NameError string
	Tier      string // the current tier's value
	Tiers     []TierOption
	// Refused is a downgrade just refused, with what to reduce first; TierError a tier form refused
	// for another reason; Chosen the tier that form asked for ("" for the current one).
	Refused    *TierRefusal
	TierError  string
	Chosen     string
	MembersURL string
	// RequireTwoFactor is the workspace's setting; OwnTwoFactor whether the viewer has a second
	// factor (needed to turn the setting on).
	RequireTwoFactor bool
	OwnTwoFactor     bool
	TwoFactorError   string
	TwoFactorURL     string
	// NotifySupportAccess is the workspace's setting: owners are mailed at every support access.
	NotifySupportAccess bool
	// Export is the export section.
	Export ExportPanel
}

// DeleteWorkspacePage asks before the workspace is deleted, with the address typed so far.
type DeleteWorkspacePage struct {
	layouts.Frame
	InDialog     bool
	Name, Slug   string
	Typed, Error string
}

// Base is the address of the settings page.
func (p SettingsPage) Base() string { return paths.Settings.URL(p.Slug) }

// TierOption is one tier in the tier form, with its limits and what stops a downgrade to it.
type TierOption struct {
	Value, Label string
	Current      bool
	// Limits are agent-minutes a month, API calls an hour, concurrent tasks and members.
	AgentMinutes, APICalls, Tasks, Members string
	// Blockers says what current use exceeds this (lower) tier's limits.
	Blockers []string
	Upgrade  bool
}

// TierRefusal is a refused downgrade.
type TierRefusal struct {
	To     string
	Reduce []string
	// RunningURL is the list of running tasks, when they are among what has to come down.
	RunningURL string
}

// Checked reports whether option t is the one the tier form shows selected: the one a refused form
// asked for, else the current tier.
func (p SettingsPage) Checked(t TierOption) bool {
	for _, o := range p.Tiers {
		if o.Value == p.Chosen {
			return t.Value == p.Chosen
		}
	}
	return t.Current
}

// The states of the export panel.
const (
	ExportNone     = "none"     // no export yet, or the last one's link expired
	ExportBuilding = "building" // queued or being built: the panel polls
	ExportReady    = "ready"    // the link works
	ExportFailed   = "failed"
)

// ExportPanel is the settings page's export section: start one, follow its progress, download it.
type ExportPanel struct {
	Slug, CSRF string
	State      string
	Percent    int
	RowsDone   string
	RowsTotal  string
	// DownloadURL, FileName, Size and SHA256 describe the finished zip; Expires is when its link
	// stops working.
	DownloadURL, FileName, Size, SHA256 string
	Expires                             time.Time
	Error                               string
}

// StatusURL is where the panel asks for its next state.
func (p ExportPanel) StatusURL() string { return paths.SettingsExport.URL(p.Slug) }

// StartURL is where the start form posts.
func (p ExportPanel) StartURL() string { return paths.SettingsExport.URL(p.Slug) }

// ReloadURL is the settings page at the export section, for a browser without JavaScript.
func (p ExportPanel) ReloadURL() string { return paths.Settings.URL(p.Slug) + "#export" }
