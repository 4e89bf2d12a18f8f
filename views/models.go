// Package views holds Atrium's pages. Each page takes a view model and never touches the database.
package views

import (
	"time"

	"atrium/views/layouts"
)

// FormErrors maps a field name to its message.
type FormErrors map[string]string

// AuthPage is the sign-up or log-in form.
type AuthPage struct {
	layouts.Frame
	Email  string
	Name   string
	Next   string
	Errors FormErrors
	// Message is shown above the form (a refused log-in, a throttle).
	Message string
	// PasskeysOn offers "Sign in with a passkey".
	PasskeysOn bool
}

// WorkspacesPage lists the user's workspaces and offers to create one.
type WorkspacesPage struct {
	layouts.Frame
	Workspaces []WorkspaceRow
	// Deleted are the workspaces the user owns that are scheduled for deletion.
	Deleted []DeletedWorkspaceRow
	Form    NewWorkspaceForm
}

// DeletedWorkspaceRow is a workspace scheduled for deletion, with when it can be restored until.
type DeletedWorkspaceRow struct {
	Name, Slug           string
	DeletedAt, RestoreBy time.Time
	// Restorable is false once the 30 days are over (it is erased at the next sweep).
	Restorable bool
	RestoreURL string
}

// WorkspaceRow is one of the user's workspaces.
type WorkspaceRow struct {
	Name, Slug, Role, Tier string
}

// NewWorkspaceForm is the create-workspace form with its errors.
type NewWorkspaceForm struct {
	Name, Slug string
	Errors     FormErrors
}

// SlugCheck is the live availability answer for a slug.
type SlugCheck struct {
	Slug      string
	Available bool
	Message   string
}

// OverviewPage is a workspace's front page.
type OverviewPage struct {
	layouts.Frame
	Tier    string
	Meters  []MeterVM
	Members int
	Agents  int
	Running int
}

// MeterVM is one limit with its use.
type MeterVM struct {
	Key     string
	Label   string
	Used    string
	Limit   string
	Percent float64
	// Level is "" below 80 % of the limit, "warn" from 80 %, "limit" at 100 % (see Warning).
	Level  string
	Resets time.Time // zero: the limit does not reset
}

// Warning is a limit close to or at its end, said where it matters.
type Warning struct {
	Key   string // the meter's key
	Level string // "warn" (80 % or more) or "limit" (100 %: the limit refuses more)
	Text  string
	// RunningURL, on the concurrent tasks' warning, is the running tasks (to see or cancel them).
	RunningURL string
}

// AccountPage is /account.
type AccountPage struct {
	layouts.Frame
	Name       string
	NameErrors FormErrors
	PwErrors   FormErrors
	Sessions   []SessionRow
	// DeleteErrors are the delete-account form's messages (password, code, confirm).
	DeleteErrors FormErrors
	// SoleOwned lists the workspaces the person alone owns while others are in them: they stop
	// the account's deletion.
	SoleOwned []SoleOwnedRow
	// TwoFactorOn: the person has an authenticator app (the delete-account form asks for a code).
	TwoFactorOn bool
	// DeletePasskey: the person's second factor is passkeys alone, so the delete-account form asks
	// them to confirm with a passkey (step-up); DeletePasskeyDone: they did, within the step-up window.
	DeletePasskey, DeletePasskeyDone bool
	// PasskeysOn is false when the console's address cannot serve passkeys.
	PasskeysOn bool
	Passkeys   []PasskeyRow
	// The address, whether it is confirmed, and the change-email form.
	Email       string
	Verified    bool
	MailOff     bool
	NewEmail    string
	EmailErrors FormErrors
	// TwoFactor is whether the user has a second factor in use (an authenticator app or a passkey).
	TwoFactor bool
}

// SoleOwnedRow is a workspace the person must hand over before deleting their account.
type SoleOwnedRow struct {
	Name, MembersURL string
	Members          int64
}

// PasskeyRow is one of the person's passkeys.
type PasskeyRow struct {
	ID, Name string
	Created  time.Time
	LastUsed *time.Time // nil: never used
	// CloneWarning: the passkey's signature counter went backwards once; it is refused.
	CloneWarning bool
}

// SessionRow is one signed-in session.
type SessionRow struct {
	ID, Device, IP    string
	Created, LastSeen time.Time
	Current           bool
}

// ErrorPage is the friendly page for 403, 404, 429 and 500.
type ErrorPage struct {
	layouts.Frame
	Status  int
	Heading string
	Message string
	// Allowed names the roles that may do what was refused ("Owners and admins"), Holders who
	// hold them in the workspace, for a refusal inside a workspace.
	Allowed string
	Holders []string
	// More counts holders beyond those named.
	More int
	// Unverified offers "Resend verification" (the refusal of something that needs a confirmed
	// address); MailOff says instead that mail is not configured.
	Unverified bool
	MailOff    bool
}

// RecoveryPage is the forgot-password and reset-password pages.
type RecoveryPage struct {
	layouts.Frame
	Email   string
	Token   string
	Errors  FormErrors
	Message string
	// MailOff says mail is not configured (production without SMTP_URL).
	MailOff bool
	// LinkGone says the reset link is unknown, expired, used or replaced.
	LinkGone bool
}

// DevMailPage is the development mailbox.
type DevMailPage struct {
	layouts.Frame
	Mail []DevMail
}

// DevMail is one email of the development mailbox.
type DevMail struct {
	To, Subject, Body, Created, State, LastError string
	Attempts                                     int
	Links                                        []string
}
