// Package handlers is Atrium's HTTP surface: the echo server, its middleware and one file per
// resource. Every route and its access rule are one row of the table in routes.go; package paths
// names the paths, for the table and for every link.
package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"
	"github.com/uptrace/bun"

	"atrium/handlers/metrics"
	"atrium/handlers/paths"
	"atrium/models"
	"atrium/models/mail"
	"atrium/models/webhook"
)

// Config is the server's configuration, read once at start.
type Config struct {
	// Production turns on Secure and __Host- cookies and HSTS.
	Production bool
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// SMTPURL is the mail server (smtp://host:port, with user:pass@ when it wants them). Without
	// it, mail is logged and kept for the development mailbox; in production, features that need
	// mail say it is not configured.
	SMTPURL string
	// DeliverMail runs the background worker that sends the outbox (atrium serve does; tests that
	// watch delivery do). MailRetryBase and MailPollInterval tune it (zero: 10s and 1s).
	DeliverMail      bool
	MailRetryBase    time.Duration
	MailPollInterval time.Duration
	// BaseURL is the console's public address (scheme, host, optional path prefix), which every
	// link the server writes into mail starts with; the request's Host or X-Forwarded-Host never
	// reaches a link. Its origin is also trusted by the cross-site check. Empty (tests that send
	// no mail) makes links bare paths.
	BaseURL         string
	SessionIdle     time.Duration
	SessionLifetime time.Duration
	Version         string
	// Replica, when set, is a streaming replica (as the runtime role) that the heavy reads use:
	// the support console, the usage page and the CSV exports. It is used while it answers and lags
	// at most ReplicaMaxLag (zero: 30 s); otherwise those reads go to the primary and say so.
	// Nothing is written there.
	Replica       *bun.DB
	ReplicaMaxLag time.Duration
	// WebhooksAllowPrivate lets webhook endpoints be http:// addresses and reach private,
	// loopback and link-local hosts (development and tests); off, only https:// to public
	// addresses, checked on the address each connection goes to. WebhookRetryBase (10 s when
	// zero) and WebhookTimeout (10 s when zero) tune the deliveries.
	WebhooksAllowPrivate bool
	WebhookRetryBase     time.Duration
	WebhookTimeout       time.Duration
	// SupportAccessWindow is how long one reason opens a workspace to a support person (zero:
	// models.SupportAccessWindow, 60 minutes).
	SupportAccessWindow time.Duration
	// Metrics turns on the Prometheus instruments; MetricsHandler serves them (atrium serve does
	// on ATRIUM_METRICS_ADDR). Off, requests pay nothing for them.
	Metrics bool
}

// Server holds the dependencies every handler uses.
type Server struct {
	DB           *bun.DB
	Sessions     *scs.SessionManager
	sessionStore *models.SessionStore // its clock (Now) says which sessions are still alive
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
	// delivery sends the outbox in the background, when Cfg.DeliverMail is set.
	delivery *mail.Delivery

	// passkeys checks WebAuthn ceremonies for BaseURL's host and origin; nil when that address
	// cannot serve passkeys (an IP address), and the passkey routes then answer 404.
	passkeys *models.RelyingParty

	// crossOrigin refuses cross-site state changes, behind the CSRF token.
	crossOrigin *http.CrossOriginProtection

	// metrics is nil unless Cfg.Metrics.
	metrics *metrics.Metrics

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
	store := models.NewSessionStore(db, 0) // expired sessions: the retention sweep deletes them
	sm.Store = store
	sm.Codec = models.SessionCodec{} // the store compares its deterministic bytes
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
	store.SetClock(func() time.Time { return s.Now() }) // one clock: a moved Now moves the sessions too
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
	if cfg.Metrics {
		s.metrics = s.newMetrics()
	}
	s.echo = s.routes()
	if cfg.DeliverMail {
		clock := func() time.Time { return s.Now() }
		s.delivery = &mail.Delivery{DB: db, Mailer: mail.Mailer{URL: cfg.SMTPURL, Log: log}, Log: log,
			ResetLink:  func(token string) string { return s.link(paths.PasswordReset.URL(token)) },
			UsageLink:  func(slug string) string { return s.link(paths.Usage.URL(slug)) },
			AlertsLink: func(slug string) string { return s.link(paths.SettingsAlerts.URL(slug)) },
			Clock:      clock, RetryBase: cfg.MailRetryBase, PollInterval: cfg.MailPollInterval, NoMail: !s.mailReady(),
			Webhooks: &webhook.Worker{DB: db, Log: log, Clock: clock, RetryBase: cfg.WebhookRetryBase,
				Sender: &webhook.Sender{AllowPrivate: cfg.WebhooksAllowPrivate, Timeout: cfg.WebhookTimeout}}}
		if err := s.delivery.Start(ctx); err != nil {
			// Mail stays in the outbox until a worker runs; nothing is lost.
			log.Error("mail worker did not start", "error", err.Error())
			s.delivery = nil
		}
	}
	return s
}

// mailReady reports whether mail reaches people: through SMTP, or (outside production) into the
// log and the development mailbox.
func (s *Server) mailReady() bool { return s.Cfg.SMTPURL != "" || !s.Cfg.Production }

// link is the absolute address of path on the configured public base URL, for mail: never on the
// request's Host or X-Forwarded-Host, which a client chooses.
func (s *Server) link(path string) string { return s.Cfg.BaseURL + path }

// Close stops the mail worker (letting sends under way finish while ctx allows), the key
// notifications, and hands the unused API calls of this process's leases
// back to the hour's count. Call it after the HTTP server has stopped serving.
func (s *Server) Close(ctx context.Context) error {
	var merr error
	if s.delivery != nil {
		merr = s.delivery.Stop(ctx)
	}
	s.stop()
	s.bg.Wait()
	return errors.Join(merr, s.Meter.Close(ctx))
}

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Echo exposes the router, for the route-table walk in tests.
func (s *Server) Echo() *echo.Echo { return s.echo }
