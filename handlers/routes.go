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
	"POST /account/name":             {who: signedIn},
	"POST /account/password":         {who: signedIn},
	"POST /account/sessions/:id/end": {who: signedIn},
	"GET /workspaces":                {who: signedIn},
	"POST /workspaces":               {who: signedIn},
	"GET /workspaces/slug-check":     {who: signedIn},
	"GET /workspaces/switcher":       {who: signedIn},
	"GET /w/:slug":                   {who: member, role: models.RoleViewer},
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
	// API keys.
	// Usage, settings, audit log and the support console.

	// The JSON API.
	return e
}
