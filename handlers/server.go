// Package handlers is Atrium's HTTP surface: the echo server, its middleware and one file per
// resource. Every route and its access rule are one row of the table in routes.go; package paths
// names the paths, for the table and for every link.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"
	"github.com/uptrace/bun"

	"atrium/models"
)

// Config is the server's configuration, read once at start.
type Config struct {
	// Production turns on Secure and __Host- cookies and HSTS.
	Production bool
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// SMTPURL sends invitation mail when set; otherwise links are shown and logged.
	SMTPURL string
	// BaseURL is the console's public address (scheme, host, optional path prefix), which every
	// link the server writes into mail starts with; the request's Host or X-Forwarded-Host never
	// reaches a link. Its origin is also trusted by the cross-site check. Empty (tests that send
	// no mail) makes links bare paths.
	BaseURL         string
	SessionIdle     time.Duration
	SessionLifetime time.Duration
	Version         string
}

// Server holds the dependencies every handler uses.
type Server struct {
	DB           *bun.DB
	Sessions     *scs.SessionManager
	sessionStore *models.SessionStore // its clock says which sessions are still alive
	Log          *slog.Logger
	Cfg          Config
	// Now is the clock; tests move it.
	Now func() time.Time

	// Keys authenticates API keys, cached for at most a second; Meter admits API calls against
	// the hourly limits from leased blocks. Close stops them.
	Keys  *models.KeyCache
	Meter *models.Meter
	stop  context.CancelFunc
	bg    sync.WaitGroup

	// passkeys checks WebAuthn ceremonies for BaseURL's host and origin; nil when that address
	// cannot serve passkeys (an IP address), and the passkey routes then answer 404.
	passkeys *models.RelyingParty

	// crossOrigin refuses cross-site state changes, behind the CSRF token.
	crossOrigin *http.CrossOriginProtection

	echo   *echo.Echo
	static http.Handler   // the embedded assets, under /static/
	nav    []workspaceNav // the workspace navigation with its rules, from the route table
}

// New builds the server and its routes.
func New(db *bun.DB, cfg Config, log *slog.Logger) *Server {
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = 2 * time.Hour
	}
	if cfg.SessionLifetime == 0 {
		cfg.SessionLifetime = 24 * time.Hour
	}
	sm := scs.New()
	store := models.NewSessionStore(db, 10*time.Minute)
	sm.Store = store
	sm.IdleTimeout = cfg.SessionIdle
	sm.Lifetime = cfg.SessionLifetime
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Path = "/"
	sm.Cookie.Name = "atrium_session"
	if cfg.Production {
		sm.Cookie.Name = "__Host-atrium_session"
		sm.Cookie.Secure = true
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	s := &Server{DB: db, Sessions: sm, sessionStore: store, Log: log, Cfg: cfg, Now: time.Now, crossOrigin: http.NewCrossOriginProtection()}
	if origin, err := originOf(cfg.BaseURL); err == nil {
		if err := s.crossOrigin.AddTrustedOrigin(origin); err != nil {
			log.Warn("base URL not trusted for cross-site checks", "error", err)
		}
	}
	if rp, err := models.NewRelyingParty(cfg.BaseURL); err == nil {
		s.passkeys = rp
	} else {
		log.Info("passkeys are off", "reason", err)
	}
	s.Keys = models.NewKeyCache(db, log)
	s.Meter = models.NewMeter(db)
	var ctx context.Context
	ctx, s.stop = context.WithCancel(context.Background())
	s.bg.Go(func() { s.Keys.Listen(ctx) })
	s.bg.Go(func() { s.Meter.Run(ctx, func() time.Time { return s.Now() }) })
	s.echo = s.routes()
	return s
}

// Close stops the key notifications and hands the unused API calls of this process's leases
// back to the hour's count. Call it after the HTTP server has stopped serving.
func (s *Server) Close(ctx context.Context) error {
	s.stop()
	s.bg.Wait()
	return s.Meter.Close(ctx)
}

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Echo exposes the router, for the route-table walk in tests.
func (s *Server) Echo() *echo.Echo { return s.echo }
