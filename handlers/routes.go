package handlers

import (
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"atrium/handlers/paths"
	"atrium/models"
	"atrium/static"
	"atrium/views/layouts"
)

// audience is who a route is for.
type audience int

const (
	whoPublic   audience = iota + 1 // no session at all (health checks, static files)
	whoVisitor                      // a session, signed in or not (log-in, sign-up)
	whoSignedIn                     // any signed-in user
	whoMember                       // a member of the workspace in the URL whose role may do rule.action
	whoSupport                      // platform support staff, read-only
	whoAPIKey                       // a workspace API key with rule.scope
)

// rule is one route's access rule. The zero rule lets nobody in.
type rule struct {
	who    audience
	action models.Action   // for member routes: the action, as the models check it
	scope  models.KeyScope // for API routes: the key's scope
	// ownAccount marks routes that change only the signed-in person's own account; they are the
	// only state changes support staff may make, beside supportGrant.
	ownAccount bool
	// supportGrant marks the support route that records a reason to open a workspace: a write of
	// support's own access, in that workspace's audit log, changing nothing in it.
	supportGrant bool
}

// The rules of the table below.
var (
	public     = rule{who: whoPublic}
	visitor    = rule{who: whoVisitor}
	signedIn   = rule{who: whoSignedIn}
	ownAccount = rule{who: whoSignedIn, ownAccount: true}
	staff      = rule{who: whoSupport}
	staffGrant = rule{who: whoSupport, supportGrant: true}
)

// can is the rule of a workspace route: the member's role must allow a.
func can(a models.Action) rule { return rule{who: whoMember, action: a} }

// scope is the rule of an API route: the key must have scope s.
func scope(s models.KeyScope) rule { return rule{who: whoAPIKey, scope: s} }

// route is one row of the route table.
type route struct {
	method  string
	path    paths.Pattern
	handler func(*Server, echo.Context) error
	rule    rule
}

const (
	get  = http.MethodGet
	post = http.MethodPost
)

// table is every route Atrium answers, with its access rule: the router, the navigation and the
// policy tests are all built from it. A route outside it does not exist.
//
// Adding a route: name its path in package paths (paths.Foo = p1("/w/:slug/foo")), add its row
// here with the model's action or the API scope, write the handler and its view, and link to it
// with paths.Foo.URL(slug). The policy tests then check the new route for non-members, for roles
// the action refuses and for anonymous visitors without further changes.
var table = []route{
	{get, paths.Healthz, (*Server).healthz, public},
	{get, paths.Readyz, (*Server).readyz, public},
	{get, paths.Static, (*Server).staticFile, public},
	{get, paths.APIOpenAPI, (*Server).apiOpenAPI, public}, // the API's contract, no key

	{get, paths.Signup, (*Server).signupPage, visitor},
	{post, paths.Signup, (*Server).signup, visitor},
	{get, paths.Login, (*Server).loginPage, visitor},
	{post, paths.Login, (*Server).login, visitor},
	{get, paths.LoginTwoFactor, (*Server).loginTwoFactorPage, visitor},
	{post, paths.LoginTwoFactor, (*Server).loginTwoFactor, visitor},
	{post, paths.LoginTwoFactorPasskeyBegin, (*Server).passkeySecondFactorOptions, visitor},
	{post, paths.LoginTwoFactorPasskeyFinish, (*Server).passkeySecondFactor, visitor},
	{post, paths.Logout, (*Server).logout, visitor},
	{post, paths.LoginPasskeyOpts, (*Server).passkeyLoginOptions, visitor},
	{post, paths.LoginPasskey, (*Server).passkeyLogin, visitor},
	{get, paths.Home, (*Server).home, signedIn},
	{get, paths.Account, (*Server).accountPage, signedIn},
	{post, paths.AccountName, (*Server).accountNameUpdate, ownAccount},
	{post, paths.AccountPassword, (*Server).accountPasswordUpdate, ownAccount},
	{post, paths.AccountSessionEnd, (*Server).accountSessionEnd, ownAccount},
	{post, paths.AccountDelete, (*Server).accountDelete, ownAccount},
	{post, paths.PasskeyOptions, (*Server).passkeyRegisterOptions, ownAccount},
	{post, paths.Passkeys, (*Server).passkeyRegister, ownAccount},
	{post, paths.PasskeyRename, (*Server).passkeyRename, ownAccount},
	{get, paths.PasskeyRemove, (*Server).passkeyRemoveConfirm, signedIn},
	{post, paths.PasskeyRemove, (*Server).passkeyRemove, ownAccount},
	{get, paths.StepUp, (*Server).stepUpPage, signedIn},
	{post, paths.StepUpPasskeyBegin, (*Server).passkeyStepUpOptions, ownAccount},
	{post, paths.StepUpPasskeyFinish, (*Server).passkeyStepUp, ownAccount},
	{get, paths.TwoFactor, (*Server).twoFactorPage, signedIn},
	{post, paths.TwoFactorEnable, (*Server).twoFactorEnable, ownAccount},
	{post, paths.TwoFactorDisable, (*Server).twoFactorDisable, ownAccount},
	{get, paths.TwoFactorRecovery, (*Server).recoveryCodesPage, signedIn}, // the codes just made, once
	{post, paths.TwoFactorRecovery, (*Server).twoFactorRecovery, ownAccount},
	{get, paths.Workspaces, (*Server).workspacesIndex, signedIn},
	{post, paths.Workspaces, (*Server).workspaceCreate, signedIn},
	{get, paths.SlugCheck, (*Server).workspaceSlugCheck, signedIn},
	{get, paths.Switcher, (*Server).workspaceSwitcher, signedIn},
	{post, paths.WorkspaceRestore, (*Server).workspaceRestore, signedIn}, // the model checks ownership
	{post, paths.AccountEmail, (*Server).accountEmailUpdate, ownAccount},
	{post, paths.AccountVerifyResend, (*Server).verifyResend, ownAccount},
	{get, paths.PasswordForgot, (*Server).forgotPage, visitor},
	{post, paths.PasswordForgot, (*Server).forgot, visitor},
	{get, paths.PasswordReset, (*Server).resetPage, visitor},
	{post, paths.PasswordReset, (*Server).reset, visitor},
	{get, paths.EmailVerify, (*Server).emailVerify, visitor},
	{get, paths.DevMail, (*Server).devMail, visitor}, // answers 404 in production
	{get, paths.Invitation, (*Server).invitationPage, visitor},
	{post, paths.InvitationAccept, (*Server).invitationAccept, signedIn},
	{get, paths.APIReference, (*Server).apiReference, visitor},

	// A workspace: members and invitations.
	{get, paths.Workspace, (*Server).workspaceOverview, can(models.ActView)},
	{get, paths.Members, (*Server).membersIndex, can(models.ActView)},
	// A row action's GET is the page that asks (the page's dialog shows the same panel).
	{get, paths.MemberRole, (*Server).memberRoleDialog, can(models.ActManageMembers)},
	{post, paths.MemberRole, (*Server).memberRoleUpdate, can(models.ActManageMembers)},
	{get, paths.MemberRemove, (*Server).memberRemoveConfirm, can(models.ActManageMembers)},
	{post, paths.MemberRemove, (*Server).memberRemove, can(models.ActManageMembers)},
	{get, paths.MemberTransfer, (*Server).memberTransferDialog, can(models.ActManageOwners)},
	{post, paths.MemberTransfer, (*Server).memberTransfer, can(models.ActManageOwners)},
	{get, paths.Leave, (*Server).workspaceLeaveConfirm, can(models.ActView)},
	{post, paths.Leave, (*Server).workspaceLeave, can(models.ActView)}, // whoever is in may leave
	{get, paths.Invitations, (*Server).invitationsIndex, can(models.ActView)},
	{post, paths.Invitations, (*Server).invitationCreate, can(models.ActManageMembers)},
	{post, paths.InvitationResend, (*Server).invitationResend, can(models.ActManageMembers)},
	{get, paths.InvitationRevoke, (*Server).invitationRevokeConfirm, can(models.ActManageMembers)},
	{post, paths.InvitationRevoke, (*Server).invitationRevoke, can(models.ActManageMembers)},
	// API keys: members' own; owners and admins also see and revoke everyone's (the model decides).
	{get, paths.Keys, (*Server).keysIndex, can(models.ActManageOwnKeys)},
	{post, paths.Keys, (*Server).keyCreate, can(models.ActManageOwnKeys)},
	{get, paths.Key, (*Server).keyShow, can(models.ActManageOwnKeys)},
	{post, paths.Key, (*Server).keyUpdate, can(models.ActManageOwnKeys)},
	{get, paths.KeyRevoke, (*Server).keyRevokeConfirm, can(models.ActManageOwnKeys)},
	{post, paths.KeyRevoke, (*Server).keyRevoke, can(models.ActManageOwnKeys)},
	{get, paths.KeyRoll, (*Server).keyRollDialog, can(models.ActManageOwnKeys)},
	{post, paths.KeyRoll, (*Server).keyRoll, can(models.ActManageOwnKeys)},
	// Agents and tasks: everyone in sees them; owners and admins cancel a running task.
	{get, paths.Agents, (*Server).agentsIndex, can(models.ActView)},
	{get, paths.Agent, (*Server).agentShow, can(models.ActView)},
	{get, paths.Tasks, (*Server).tasksIndex, can(models.ActView)},
	{get, paths.Task, (*Server).taskShow, can(models.ActView)},
	{get, paths.TaskCancel, (*Server).taskCancelConfirm, can(models.ActCancelTasks)},
	{post, paths.TaskCancel, (*Server).taskCancel, can(models.ActCancelTasks)},
	// Usage, settings (every change there, name, tier or deletion, is the owners') and audit log.
	{get, paths.Usage, (*Server).usageIndex, can(models.ActView)},
	{get, paths.UsageCSV, (*Server).usageCSV, can(models.ActView)},
	{get, paths.Settings, (*Server).settingsIndex, can(models.ActManageTier)},
	{post, paths.SettingsName, (*Server).settingsNameUpdate, can(models.ActManageTier)},
	{post, paths.SettingsTier, (*Server).settingsTierUpdate, can(models.ActManageTier)},
	{get, paths.SettingsDelete, (*Server).settingsDeleteConfirm, can(models.ActManageTier)},
	{post, paths.SettingsDelete, (*Server).settingsDelete, can(models.ActManageTier)},
	{post, paths.SettingsTwoFactor, (*Server).settingsTwoFactorUpdate, can(models.ActManageTier)},
	{get, paths.SettingsExport, (*Server).settingsExportStatus, can(models.ActExport)},
	{post, paths.SettingsExport, (*Server).settingsExportStart, can(models.ActExport)},
	{get, paths.ExportDownload, (*Server).settingsExportDownload, can(models.ActExport)},
	{get, paths.SettingsAlerts, (*Server).alertsIndex, can(models.ActManageAlerts)},
	{post, paths.SettingsAlerts, (*Server).alertsUpdate, can(models.ActManageAlerts)},
	{get, paths.Webhooks, (*Server).webhooksIndex, can(models.ActManageHooks)},
	{post, paths.Webhooks, (*Server).webhookCreate, can(models.ActManageHooks)},
	{get, paths.Webhook, (*Server).webhookShow, can(models.ActManageHooks)},
	{post, paths.Webhook, (*Server).webhookUpdate, can(models.ActManageHooks)},
	{post, paths.WebhookEnabled, (*Server).webhookEnabledUpdate, can(models.ActManageHooks)},
	{post, paths.WebhookRoll, (*Server).webhookRoll, can(models.ActManageHooks)},
	{get, paths.WebhookDelete, (*Server).webhookDeleteConfirm, can(models.ActManageHooks)},
	{post, paths.WebhookDelete, (*Server).webhookDelete, can(models.ActManageHooks)},
	{post, paths.WebhookRedeliver, (*Server).webhookRedeliver, can(models.ActManageHooks)},
	{post, paths.SettingsSupportMail, (*Server).settingsSupportMailUpdate, can(models.ActManageTier)},
	{get, paths.Audit, (*Server).auditIndex, can(models.ActViewAudit)},
	{get, paths.AuditCSV, (*Server).auditCSV, can(models.ActViewAudit)},
	{post, paths.AuditVerify, (*Server).auditVerify, can(models.ActViewAudit)},

	// The support console.
	{get, paths.SupportWorkspaces, (*Server).supportIndex, staff},
	{get, paths.SupportWorkspacesCSV, (*Server).supportCSV, staff},
	{get, paths.SupportWorkspace, (*Server).supportWorkspace, staff},
	{post, paths.SupportWorkspace, (*Server).supportAccessGrant, staffGrant}, // fields reason, ticket
	{get, paths.SupportDeletions, (*Server).supportDeletions, staff},

	// The JSON API.
	{get, paths.APIWorkspace, (*Server).apiWorkspace, scope(models.ScopeRead)},
	{get, paths.APIUsage, (*Server).apiUsage, scope(models.ScopeRead)},
	{get, paths.APIAudit, (*Server).apiAudit, scope(models.ScopeAuditRead)},
	{get, paths.APIAgents, (*Server).apiAgentsIndex, scope(models.ScopeRead)},
	{post, paths.APIAgents, (*Server).apiAgentCreate, scope(models.ScopeReadWrite)},
	{get, paths.APIAgent, (*Server).apiAgentShow, scope(models.ScopeRead)},
	{get, paths.APITasks, (*Server).apiTasksIndex, scope(models.ScopeRead)},
	{post, paths.APITasks, (*Server).apiTaskStart, scope(models.ScopeReadWrite)},
	{get, paths.APITask, (*Server).apiTaskShow, scope(models.ScopeRead)},
	{post, paths.APITaskComplete, (*Server).apiTaskComplete, scope(models.ScopeReadWrite)},
	{post, paths.APITaskCancel, (*Server).apiTaskCancel, scope(models.ScopeReadWrite)},
	{get, paths.APITaskMessages, (*Server).apiMessagesIndex, scope(models.ScopeRead)},
	{post, paths.APITaskMessages, (*Server).apiMessageCreate, scope(models.ScopeReadWrite)},
}

// navItem is one entry of a workspace's navigation: shown to a member whose role passes the rule
// of GET path in the table.
type navItem struct {
	key, label string
	path       paths.Path1
}

// nav is the workspace navigation, in order. An entry whose path has no GET route in the table
// stops the server from starting, so a renamed route cannot hide it quietly.
var nav = []navItem{
	{"overview", "Overview", paths.Workspace},
	{"agents", "Agents", paths.Agents},
	{"tasks", "Tasks", paths.Tasks},
	{"members", "Members", paths.Members},
	{"keys", "API keys", paths.Keys},
	{"usage", "Usage", paths.Usage},
	{"audit", "Audit log", paths.Audit},
	{"webhooks", "Webhooks", paths.Webhooks},
	{"settings", "Settings", paths.Settings},
}

// ruleOf finds a route's rule in the table.
func ruleOf(table []route, method string, p paths.Pattern) (rule, bool) {
	for _, r := range table {
		if r.method == method && r.path.Pattern() == p.Pattern() {
			return r.rule, true
		}
	}
	return rule{}, false
}

// workspaceNav is a navigation entry with the action its route's rule asks for.
type workspaceNav struct {
	navItem
	action models.Action
}

// buildNav joins the navigation to the table's rules; an entry that names no workspace page of the
// table is an error.
func buildNav(nav []navItem, table []route) ([]workspaceNav, error) {
	out := make([]workspaceNav, 0, len(nav))
	for _, it := range nav {
		r, ok := ruleOf(table, get, it.path)
		if !ok || r.who != whoMember {
			return nil, fmt.Errorf("navigation entry %q: no workspace route GET %s in the route table", it.key, it.path.Pattern())
		}
		out = append(out, workspaceNav{it, r.action})
	}
	return out, nil
}

// navFor lists the navigation entries role may use in the workspace slug, by the table's rules.
func (s *Server) navFor(role models.Role, slug string) []layouts.NavItem {
	var out []layouts.NavItem
	for _, it := range s.nav {
		if role.Can(it.action) {
			out = append(out, layouts.NavItem{Key: it.key, Label: it.label, Path: it.path.URL(slug)})
		}
	}
	return out
}

// routes builds the router from the table; the middleware chains are composed here too.
func (s *Server) routes() *echo.Echo {
	var err error
	if s.nav, err = buildNav(nav, table); err != nil {
		panic(err)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = s.ipExtractor()
	e.HTTPErrorHandler = s.handleError
	e.JSONSerializer = wholeJSON{}
	if s.metrics != nil {
		e.Use(s.measure)
	}
	e.Use(middleware.RequestID(), s.recoverPanics, s.securityHeaders, s.logRequests)
	sub, _ := fs.Sub(static.FS, ".")
	s.static = http.StripPrefix("/static/", s.staticFiles(sub))

	// The browser console: session, user, the cross-site check and CSRF, the parameters' text,
	// then each route's rule (authorize). The group also answers unknown paths, through the same
	// chain, with 404.
	web := e.Group("", s.sessionAndFrame, echo.WrapMiddleware(s.Sessions.LoadAndSave), s.refusedGoBack, s.loadUser, s.csrf, checkParams)
	// The JSON API: a key in Authorization: Bearer only (no session, no CSRF), the hourly metering,
	// the parameters' text, then each route's scope. The chain is built once, so its fair gate is
	// the server's.
	api := e.Group(paths.APIPrefix, s.apiKeyAuth(), s.apiRateLimit, checkParams)
	api.RouteNotFound("", s.apiNotFound)
	api.RouteNotFound("/*", s.apiNotFound)

	for _, r := range table {
		h := func(c echo.Context) error { return r.handler(s, c) }
		switch r.rule.who {
		case whoPublic:
			e.Add(r.method, r.path.Pattern(), h)
		case whoAPIKey:
			sub, ok := strings.CutPrefix(r.path.Pattern(), paths.APIPrefix)
			if !ok {
				panic("API route " + r.path.Pattern() + " is outside " + paths.APIPrefix)
			}
			api.Add(r.method, sub, h, s.requireScope(r.rule.scope))
		default:
			web.Add(r.method, r.path.Pattern(), h, s.authorize(r.rule))
		}
	}
	return e
}

// staticFile serves the embedded assets.
func (s *Server) staticFile(c echo.Context) error {
	s.static.ServeHTTP(c.Response(), c.Request())
	return nil
}
