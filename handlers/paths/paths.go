// Package paths names every path of the route table. The table in package handlers registers each
// route under one of these names, and handlers and views build their links with the same names, so
// a path is written once and a renamed one is a compile error wherever it is used.
//
// A path's parameters (":slug", ":id", the static files' "*") are filled in order by URL, which
// takes exactly as many arguments as the path has parameters: Path has none, Path1 one, Path2 two.
package paths

import (
	"fmt"
	"net/url"
	"strings"
)

// Pattern is a path as the router sees it, e.g. "/w/:slug/members".
type Pattern interface{ Pattern() string }

// Path is a path without parameters.
type Path struct{ pattern string }

// Path1 is a path with one parameter.
type Path1 struct{ pattern string }

// Path2 is a path with two parameters.
type Path2 struct{ pattern string }

// Pattern returns the router's form of the path.
func (p Path) Pattern() string { return p.pattern }

// Pattern returns the router's form of the path.
func (p Path1) Pattern() string { return p.pattern }

// Pattern returns the router's form of the path.
func (p Path2) Pattern() string { return p.pattern }

// URL is the path itself.
func (p Path) URL() string { return p.pattern }

// URL fills the parameter with a.
func (p Path1) URL(a string) string { return fill(p.pattern, a) }

// URL fills the parameters with a and b, in order.
func (p Path2) URL(a, b string) string { return fill(p.pattern, a, b) }

// Params lists the parameter names of a pattern, in order.
func Params(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, ":") || seg == "*" {
			out = append(out, seg)
		}
	}
	return out
}

// fill puts args, path-escaped, in place of the pattern's parameters.
// A page builds several of these per row, so it writes into one builder rather than splitting and
// joining the pattern.
func fill(pattern string, args ...string) string {
	var b strings.Builder
	n := len(pattern)
	for _, a := range args {
		n += len(a)
	}
	b.Grow(n + 1)
	i := 0
	for seg := range strings.SplitSeq(pattern, "/") {
		if strings.HasPrefix(seg, ":") || seg == "*" {
			b.WriteString(url.PathEscape(args[i]))
			i++
		} else {
			b.WriteString(seg)
		}
		b.WriteByte('/') // each segment and a slash; the last one's is cut below
	}
	s := b.String()
	return s[:len(s)-1]
}

func p0(s string) Path  { return Path{checked(s, 0)} }
func p1(s string) Path1 { return Path1{checked(s, 1)} }
func p2(s string) Path2 { return Path2{checked(s, 2)} }

// checked refuses, when the program starts, a pattern whose parameter count is not its type's.
func checked(pattern string, n int) string {
	if got := len(Params(pattern)); got != n || !strings.HasPrefix(pattern, "/") {
		panic(fmt.Sprintf("paths: %q has %d parameters, its type takes %d", pattern, got, n))
	}
	return pattern
}

// Bare paths: no session.
var (
	Healthz = p0("/healthz")
	Readyz  = p0("/readyz")
	Static  = p1("/static/*")
)

// The log-in's second step with a passkey, and step-up (confirming it's you) with one.
var (
	LoginTwoFactorPasskeyBegin  = p0("/login/two-factor/passkey/begin")
	LoginTwoFactorPasskeyFinish = p0("/login/two-factor/passkey/finish")
	StepUpPasskeyBegin          = p0("/account/step-up/passkey/begin")
	StepUpPasskeyFinish         = p0("/account/step-up/passkey/finish")
	// StepUp is the "Confirm it's you" page a dangerous action sent without JavaScript redirects
	// to; its form posts the action again.
	StepUp = p0("/account/step-up")
)

// Signing up and in, the signed-in person's own pages.
var (
	Signup            = p0("/signup")
	Login             = p0("/login")
	LoginTwoFactor    = p0("/login/two-factor")
	Logout            = p0("/logout")
	Home              = p0("/")
	Account           = p0("/account")
	AccountName       = p0("/account/name")
	AccountPassword   = p0("/account/password")
	AccountSessionEnd = p1("/account/sessions/:id/end")
	AccountDelete     = p0("/account/delete")
	PasskeyOptions    = p0("/account/passkeys/options")
	Passkeys          = p0("/account/passkeys")
	PasskeyRename     = p1("/account/passkeys/:id/rename")
	PasskeyRemove     = p1("/account/passkeys/:id/remove")
	LoginPasskeyOpts  = p0("/login/passkey/options")
	LoginPasskey      = p0("/login/passkey")
	TwoFactor         = p0("/account/two-factor")
	TwoFactorEnable   = p0("/account/two-factor/enable")
	TwoFactorDisable  = p0("/account/two-factor/disable")
	TwoFactorRecovery = p0("/account/two-factor/recovery-codes")
	Workspaces        = p0("/workspaces")
	SlugCheck         = p0("/workspaces/slug-check")
	Switcher          = p0("/workspaces/switcher")
	// WorkspaceRestore takes a workspace back from its deletion (its owners, for 30 days).
	WorkspaceRestore = p1("/workspaces/:slug/restore")
	AccountEmail     = p0("/account/email")
	// AccountVerifyResend mails a fresh verification link.
	AccountVerifyResend = p0("/account/email/resend")
	Invitation          = p1("/invitations/:token")
	InvitationAccept    = p1("/invitations/:token/accept")
)

// Account recovery and email links: anyone with the link may open them.
var (
	PasswordForgot = p0("/password/forgot")
	PasswordReset  = p1("/password/reset/:token")
	EmailVerify    = p1("/email/verify/:token")
)

// DevMail is the development mailbox (absent in production).
var DevMail = p0("/dev/mail")

// A workspace's pages; the first parameter is the workspace's slug.
var (
	Workspace         = p1("/w/:slug")
	Members           = p1("/w/:slug/members")
	MemberRole        = p2("/w/:slug/members/:user_id/role")
	MemberRemove      = p2("/w/:slug/members/:user_id/remove")
	MemberTransfer    = p2("/w/:slug/members/:user_id/transfer")
	Leave             = p1("/w/:slug/leave")
	Invitations       = p1("/w/:slug/invitations")
	InvitationResend  = p2("/w/:slug/invitations/:id/resend")
	InvitationRevoke  = p2("/w/:slug/invitations/:id/revoke")
	Keys              = p1("/w/:slug/keys")
	Key               = p2("/w/:slug/keys/:id")
	KeyRevoke         = p2("/w/:slug/keys/:id/revoke")
	KeyRoll           = p2("/w/:slug/keys/:id/roll")
	Usage             = p1("/w/:slug/usage")
	UsageCSV          = p1("/w/:slug/usage.csv")
	Settings          = p1("/w/:slug/settings")
	SettingsName      = p1("/w/:slug/settings/name")
	SettingsTier      = p1("/w/:slug/settings/tier")
	SettingsDelete    = p1("/w/:slug/settings/delete")
	SettingsTwoFactor = p1("/w/:slug/settings/two-factor")
	SettingsExport    = p1("/w/:slug/settings/export")
	ExportDownload    = p2("/w/:slug/settings/export/:token")
	SettingsAlerts    = p1("/w/:slug/settings/alerts")
	Webhooks          = p1("/w/:slug/settings/webhooks")
	Webhook           = p2("/w/:slug/settings/webhooks/:id")
	WebhookEnabled    = p2("/w/:slug/settings/webhooks/:id/enabled")
	WebhookRoll       = p2("/w/:slug/settings/webhooks/:id/roll")
	WebhookDelete     = p2("/w/:slug/settings/webhooks/:id/delete")
	WebhookRedeliver  = p2("/w/:slug/settings/webhooks/deliveries/:id/redeliver")
	Agents            = p1("/w/:slug/agents")
	Agent             = p2("/w/:slug/agents/:id")
	Tasks             = p1("/w/:slug/tasks")
	Task              = p2("/w/:slug/tasks/:id")
	TaskCancel        = p2("/w/:slug/tasks/:id/cancel")
	Audit             = p1("/w/:slug/audit")
	AuditCSV          = p1("/w/:slug/audit.csv")
	AuditVerify       = p1("/w/:slug/audit/verify")
	// SettingsSupportMail turns the owners' mail at every support access on or off.
	SettingsSupportMail = p1("/w/:slug/settings/support-mail")
)

// The support console.
var (
	SupportWorkspaces    = p0("/support/workspaces")
	SupportWorkspacesCSV = p0("/support/workspaces.csv")
	SupportWorkspace     = p1("/support/workspaces/:slug")
	// SupportDeletions lists the workspaces scheduled for deletion.
	SupportDeletions = p0("/support/deletions")
)

// APIPrefix is where the JSON API lives; every API path starts with it.
const APIPrefix = "/api/v1"

// The JSON API.
var (
	APIWorkspace    = p0(APIPrefix + "/workspace")
	APIUsage        = p0(APIPrefix + "/usage")
	APIAudit        = p0(APIPrefix + "/audit")
	APIAgents       = p0(APIPrefix + "/agents")
	APIAgent        = p1(APIPrefix + "/agents/:id")
	APITasks        = p0(APIPrefix + "/tasks")
	APITask         = p1(APIPrefix + "/tasks/:id")
	APITaskComplete = p1(APIPrefix + "/tasks/:id/complete")
	APITaskCancel   = p1(APIPrefix + "/tasks/:id/cancel")
	APITaskMessages = p1(APIPrefix + "/tasks/:id/messages")
	// APIOpenAPI is the API's contract (OpenAPI 3.1 JSON), served without a key.
	APIOpenAPI = p0(APIPrefix + "/openapi.json")
)

// APIReference is the console's page that renders the API's contract.
var APIReference = p0("/docs/api")
