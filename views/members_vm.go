package views

import (
	"net/url"
	"strings"
	"time"

	"atrium/handlers/paths"
	"atrium/views/components"
	"atrium/views/layouts"
)

// MembersPage is /w/:slug/members: the members, the invite form and the invitations' counts.
type MembersPage struct {
	layouts.Frame
	Slug  string
	Query string
	// Role filters the list ("" every role); Sort is its order as the address carries it
	// ("role", "name", "-joined": a leading "-" is the other direction).
	Role, Sort string
	// RoleFilters and SortChoices are the filter form's options.
	RoleFilters, SortChoices []Choice
	// Page and Pages number the member list's pages from 1; Total counts the matching members.
	Page, Pages, Total int
	Pager              components.Pager
	Rows               []MemberRowVM
	// Pending and Expired count the open invitations, for the Invitations tab.
	Pending, Expired int
	Seats            MeterVM
	// SeatNotice says on the invite form how the seats stand when that matters; nil otherwise.
	SeatNotice  *SeatNotice
	CanInvite   bool
	InviteRoles []RoleOption
	Invite      InviteForm
	// Link is an invitation link shown once, when it could not be (or was not) mailed.
	Link *InvitationLink
	// Self is the viewer's own membership, for the "leave workspace" section.
	Self *SelfVM
}

// Filtered is true when a search or a role filter narrows the list.
func (p MembersPage) Filtered() bool { return p.Query != "" || p.Role != "" }

// ListURL is the list's address with the search, the role filter and the order given.
func (p MembersPage) ListURL(q, role, sort string) string {
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if role != "" {
		v.Set("role", role)
	}
	if sort != "" && sort != "role" {
		v.Set("sort", sort)
	}
	u := paths.Members.URL(p.Slug)
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u
}

// sortFirst is each column's first direction when its header is chosen: names A to Z, the
// newest and the most recently active first.
var sortFirst = map[string]string{"name": "name", "role": "role", "joined": "-joined", "active": "-active"}

// SortURL is the column's header link: its order, or the other direction when it is the order
// already. The first page, keeping the search and the role filter.
func (p MembersPage) SortURL(col string) string {
	next := sortFirst[col]
	switch p.Sort {
	case col:
		next = "-" + col
	case "-" + col:
		next = col
	}
	return p.ListURL(p.Query, p.Role, next)
}

// AriaSort is the column's aria-sort: "ascending", "descending" or "" when the list is not in
// its order.
func (p MembersPage) AriaSort(col string) string {
	switch p.Sort {
	case col:
		return "ascending"
	case "-" + col:
		return "descending"
	}
	return ""
}

// MemberSortChoices are the member list's orders, as the filter form offers them.
var MemberSortChoices = []Choice{
	{"role", "Role, owners first"}, {"-role", "Role, viewers first"},
	{"name", "Name, A to Z"}, {"-name", "Name, Z to A"},
	{"-joined", "Joined, newest first"}, {"joined", "Joined, oldest first"},
	{"-active", "Last active, most recent first"}, {"active", "Last active, longest ago first"},
}

// MemberRoleFilters are the member list's role filters.
var MemberRoleFilters = []Choice{{"", "All roles"}, {"owner", "Owners"}, {"admin", "Admins"}, {"member", "Members"}, {"viewer", "Viewers"}}

// InvitationsPage is /w/:slug/invitations: the open invitations, pending or expired.
type InvitationsPage struct {
	layouts.Frame
	Slug string
	// Expired shows the expired invitations; else the pending ones.
	Expired bool
	// Pending and ExpiredCount count both states, for the tabs.
	Pending, ExpiredCount int
	Rows                  []InvitationRowVM
	Pager                 components.Pager
	// CanInvite offers the invite form's link.
	CanInvite bool
	// Link is an invitation link shown once, when it could not be (or was not) mailed.
	Link *InvitationLink
}

// InvitationsURL is the invitations list of one state.
func InvitationsURL(slug string, expired bool) string {
	if expired {
		return paths.Invitations.URL(slug) + "?status=expired"
	}
	return paths.Invitations.URL(slug)
}

// SelfVM is the viewer's own membership.
type SelfVM struct {
	Role string
	// OnlyOwner is set for the workspace's only owner, who must hand over before leaving.
	OnlyOwner bool
}

// RoleOption is one choice of a role select.
type RoleOption struct {
	Value, Label string
	Selected     bool
}

// MemberRowVM is one row of the members table; it re-renders alone after an inline role change.
type MemberRowVM struct {
	Slug, CSRF string
	UserID     string
	Name       string
	Email      string
	Role       string // the role's value, e.g. "admin"
	RoleLabel  string
	Joined     time.Time
	LastActive time.Time // zero: never
	IsSelf     bool
	TwoFactor  bool // the member has a second factor
	// RoleOptions is set when the viewer may change this member's role.
	RoleOptions []RoleOption
	CanRemove   bool
	CanTransfer bool
	// CanChangeRole is set when the viewer may give this member another role.
	CanChangeRole bool
	// Saved marks the row just re-rendered after a role change; Error is a refused change,
	// shown at the row, which shows the role the member still has.
	Saved bool
	Error string
}

// ID is the row's element id, stable across re-renders.
func (r MemberRowVM) ID() string { return "member-" + r.UserID }

// InvitationRowVM is one pending (or expired) invitation.
type InvitationRowVM struct {
	ID, Email, RoleLabel, InvitedBy string
	Sent, Expires                   time.Time
	Expired                         bool
	CanManage                       bool
}

// RolePage is a member's role choice: each role the viewer may give, with what it allows.
type RolePage struct {
	layouts.Frame
	InDialog       bool
	Name, Email    string
	CurrentLabel   string
	Action, Cancel string
	// RowID is the member's row, which the answer replaces in the dialog.
	RowID  string
	Roles  []RoleChoice
	IsSelf bool
}

// RoleChoice is one role of the role dialog.
type RoleChoice struct {
	Value, Label, Description string
	Selected                  bool
}

// RoleDescriptions say in a line what each role allows (docs/console.md, Roles).
var RoleDescriptions = map[string]string{
	"owner":  "Everything, including the tier, settings, deleting the workspace and other owners.",
	"admin":  "Invites people, changes roles and removes people (not owners); sees every API key and the audit log.",
	"member": "Uses the workspace and makes API keys of their own.",
	"viewer": "Sees the workspace, its members and usage; makes no keys and changes nothing.",
}

// TransferPage hands ownership to a member once the owner enters their password again.
type TransferPage struct {
	layouts.Frame
	InDialog       bool
	Name           string
	Action, Cancel string
	Error          string
}

// InviteForm is the invite form with its errors.
type InviteForm struct {
	Email, Role string
	Errors      FormErrors
}

// InvitationLink is a freshly issued invitation link, shown once to copy.
type InvitationLink struct {
	Email string
	URL   string
	// Mailed is true when the email is queued in the outbox too.
	Mailed bool
}

// ConfirmPage asks once more before a destructive action, in the page's dialog (InDialog) or
// as a page of its own.
type ConfirmPage struct {
	layouts.Frame
	InDialog bool
	Heading  string
	Message  string
	Action   string
	Button   string
	Cancel   string
}

// InvitationPage is /invitations/:token: what the link invites to and how to accept it.
type InvitationPage struct {
	layouts.Frame
	Token         string
	WorkspaceName string
	WorkspaceSlug string
	InviterName   string
	Email         string
	RoleLabel     string
	Expires       time.Time
	// State is "pending", "expired", "revoked" or "accepted".
	State string
	// LoggedInAs is the signed-in user's email, "" for a visitor.
	LoggedInAs string
	// WrongAccount is set when the signed-in user is not the invited email.
	WrongAccount bool
	// IsMember is set when the signed-in user already belongs to the workspace.
	IsMember bool
}

// Next is the path that brings a visitor back here after logging in or signing up.
func (p InvitationPage) Next() string { return paths.Invitation.URL(p.Token) }

func urlEscape(s string) string { return url.QueryEscape(s) }

// SeatNotice is the seats' state on the invite form: a warning from 80 %, a refusal at 100 %, or
// (Level "") the plain fact that the tier's one seat is the owner's own.
type SeatNotice struct {
	Level   string // "", "warn" or "limit"
	Text    string
	TierURL string // where an owner changes the tier; empty for everyone else
}

// roleFilterLabel names a role filter's people in the plural ("admins").
func roleFilterLabel(role string) string {
	for _, c := range MemberRoleFilters {
		if c.Value == role && role != "" {
			return strings.ToLower(c.Label)
		}
	}
	return "people"
}
