package handlers

import (
	"io/fs"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"atrium/models"
	"atrium/static"
)

// audience is who a route is for.
type audience int

const (
	anyone   audience = iota + 1 // no session needed (log-in, health, static files)
	signedIn                     // any signed-in user
	member                       // a member of the workspace in the URL with at least rule.role
	support                      // platform support staff, read-only
	apiKey                       // a workspace API key with rule.scope
)

// rule is one route's access rule.
type rule struct {
	who   audience
	role  models.Role // for member routes: the least role allowed
	scope string      // for API routes: "read" or "read_write"
	// ownAccount marks routes that change only the signed-in person's own account; they are the
	// only state changes support staff may make.
	ownAccount bool
}

// policy maps "METHOD /path" to its rule. A route missing here is refused (deny by default), and a
// test walks the router to make sure none is.
var policy = map[string]rule{
	"GET /healthz":                   {who: anyone},
	"GET /readyz":                    {who: anyone},
	"GET /static/*":                  {who: anyone},
	"GET /signup":                    {who: anyone},
	"POST /signup":                   {who: anyone},
	"GET /login":                     {who: anyone},
	"POST /login":                    {who: anyone},
	"POST /logout":                   {who: anyone},
	"GET /":                          {who: signedIn},
	"GET /account":                   {who: signedIn},
	"POST /account/name":             {who: signedIn, ownAccount: true},
	"POST /account/password":         {who: signedIn, ownAccount: true},
	"POST /account/sessions/:id/end": {who: signedIn, ownAccount: true},
	"GET /workspaces":                {who: signedIn},
	"POST /workspaces":               {who: signedIn},
	"GET /workspaces/slug-check":     {who: signedIn},
	"GET /workspaces/switcher":       {who: signedIn},
	"GET /w/:slug":                   {who: member, role: models.RoleViewer},
	// Members and invitations.
	"GET /w/:slug/members":                    {who: member, role: models.RoleViewer},
	"POST /w/:slug/members/:user_id/role":     {who: member, role: models.RoleAdmin},
	"POST /w/:slug/members/:user_id/remove":   {who: member, role: models.RoleAdmin},
	"POST /w/:slug/members/:user_id/transfer": {who: member, role: models.RoleOwner},
	"POST /w/:slug/leave":                     {who: member, role: models.RoleViewer},
	"GET /w/:slug/invitations":                {who: member, role: models.RoleViewer},
	"POST /w/:slug/invitations":               {who: member, role: models.RoleAdmin},
	"POST /w/:slug/invitations/:id/resend":    {who: member, role: models.RoleAdmin},
	"POST /w/:slug/invitations/:id/revoke":    {who: member, role: models.RoleAdmin},
	"GET /invitations/:token":                 {who: anyone},
	"POST /invitations/:token/accept":         {who: signedIn},
	// API keys and the JSON API.
	"GET /w/:slug/keys":               {who: member, role: models.RoleMember},
	"POST /w/:slug/keys":              {who: member, role: models.RoleMember},
	"POST /w/:slug/keys/:id/revoke":   {who: member, role: models.RoleMember},
	"POST /w/:slug/keys/:id/roll":     {who: member, role: models.RoleMember},
	"GET /api/v1/workspace":           {who: apiKey, scope: "read"},
	"GET /api/v1/usage":               {who: apiKey, scope: "read"},
	"GET /api/v1/agents":              {who: apiKey, scope: "read"},
	"POST /api/v1/agents":             {who: apiKey, scope: "read_write"},
	"GET /api/v1/agents/:id":          {who: apiKey, scope: "read"},
	"GET /api/v1/tasks":               {who: apiKey, scope: "read"},
	"POST /api/v1/tasks":              {who: apiKey, scope: "read_write"},
	"GET /api/v1/tasks/:id":           {who: apiKey, scope: "read"},
	"POST /api/v1/tasks/:id/complete": {who: apiKey, scope: "read_write"},
	"GET /api/v1/tasks/:id/messages":  {who: apiKey, scope: "read"},
	"POST /api/v1/tasks/:id/messages": {who: apiKey, scope: "read_write"},
	// Usage, settings, audit log and the support console. Settings are owners' only: every change
	// there (name, tier, deletion) is theirs alone.
	"GET /w/:slug/usage":            {who: member, role: models.RoleViewer},
	"GET /w/:slug/usage.csv":        {who: member, role: models.RoleViewer},
	"GET /w/:slug/settings":         {who: member, role: models.RoleOwner},
	"POST /w/:slug/settings/name":   {who: member, role: models.RoleOwner},
	"POST /w/:slug/settings/tier":   {who: member, role: models.RoleOwner},
	"POST /w/:slug/settings/delete": {who: member, role: models.RoleOwner},
	"GET /w/:slug/audit":            {who: member, role: models.RoleAdmin},
	"GET /w/:slug/audit.csv":        {who: member, role: models.RoleAdmin},
	"GET /support/workspaces":       {who: support},
	"GET /support/workspaces.csv":   {who: support},
	"GET /support/workspaces/:slug": {who: support},
}

// routes lists every route; the middleware chains are composed here too.
func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = s.ipExtractor()
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.RequestID(), s.recoverPanics, s.securityHeaders, s.logRequests)

	// Bare routes: no session, no CSRF.
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	sub, _ := fs.Sub(static.FS, ".")
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", s.staticFiles(sub))))

	// The browser console: session, user, CSRF, then the policy check.
	web := e.Group("", echo.WrapMiddleware(s.Sessions.LoadAndSave), s.loadUser, s.csrf, s.authorize)
	web.GET("/signup", s.signupPage)
	web.POST("/signup", s.signup)
	web.GET("/login", s.loginPage)
	web.POST("/login", s.login)
	web.POST("/logout", s.logout)
	web.GET("/", s.home)
	web.GET("/account", s.accountPage)
	web.POST("/account/name", s.accountNameUpdate)
	web.POST("/account/password", s.accountPasswordUpdate)
	web.POST("/account/sessions/:id/end", s.accountSessionEnd)
	web.GET("/workspaces", s.workspacesIndex)
	web.POST("/workspaces", s.workspaceCreate)
	web.GET("/workspaces/slug-check", s.workspaceSlugCheck)
	web.GET("/workspaces/switcher", s.workspaceSwitcher)
	web.GET("/w/:slug", s.workspaceOverview)
	// Members and invitations.
	web.GET("/w/:slug/members", s.membersIndex)
	web.POST("/w/:slug/members/:user_id/role", s.memberRoleUpdate)
	web.POST("/w/:slug/members/:user_id/remove", s.memberRemove)
	web.POST("/w/:slug/members/:user_id/transfer", s.memberTransfer)
	web.POST("/w/:slug/leave", s.workspaceLeave)
	web.GET("/w/:slug/invitations", s.invitationsIndex)
	web.POST("/w/:slug/invitations", s.invitationCreate)
	web.POST("/w/:slug/invitations/:id/resend", s.invitationResend)
	web.POST("/w/:slug/invitations/:id/revoke", s.invitationRevoke)
	web.GET("/invitations/:token", s.invitationPage)
	web.POST("/invitations/:token/accept", s.invitationAccept)
	// API keys.
	web.GET("/w/:slug/keys", s.keysIndex)
	web.POST("/w/:slug/keys", s.keyCreate)
	web.POST("/w/:slug/keys/:id/revoke", s.keyRevoke)
	web.POST("/w/:slug/keys/:id/roll", s.keyRoll)
	// Usage, settings, audit log and the support console.
	web.GET("/w/:slug/usage", s.usageIndex)
	web.GET("/w/:slug/usage.csv", s.usageCSV)
	web.GET("/w/:slug/settings", s.settingsIndex)
	web.POST("/w/:slug/settings/name", s.settingsNameUpdate)
	web.POST("/w/:slug/settings/tier", s.settingsTierUpdate)
	web.POST("/w/:slug/settings/delete", s.settingsDelete)
	web.GET("/w/:slug/audit", s.auditIndex)
	web.GET("/w/:slug/audit.csv", s.auditCSV)
	web.GET("/support/workspaces", s.supportIndex)
	web.GET("/support/workspaces.csv", s.supportCSV)
	web.GET("/support/workspaces/:slug", s.supportWorkspace)

	// The JSON API.
	// A key in Authorization: Bearer only (no session, no CSRF, no authorize), then the hourly
	// metering and the route's scope from the policy table.
	api := e.Group("/api/v1", s.apiKeyAuth(), s.apiRateLimit)
	api.GET("/workspace", s.apiWorkspace)
	api.GET("/usage", s.apiUsage)
	api.GET("/agents", s.apiAgentsIndex)
	api.POST("/agents", s.apiAgentCreate)
	api.GET("/agents/:id", s.apiAgentShow)
	api.GET("/tasks", s.apiTasksIndex)
	api.POST("/tasks", s.apiTaskStart)
	api.GET("/tasks/:id", s.apiTaskShow)
	api.POST("/tasks/:id/complete", s.apiTaskComplete)
	api.GET("/tasks/:id/messages", s.apiMessagesIndex)
	api.POST("/tasks/:id/messages", s.apiMessageCreate)
	return e
}
