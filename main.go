// Command atrium is the admin console of a multi-tenant agent platform.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/term"

	"atrium/handlers"
	"atrium/migrations"
	"atrium/models"
	"atrium/models/pgembed"
	"atrium/models/seed"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "atrium:", err)
		os.Exit(1)
	}
}

// config is the environment, read once.
type config struct {
	databaseURL    string
	appDatabaseURL string
	listenURL      string // DATABASE_LISTEN_URL: a direct connection for key notifications
	replicaURL     string // DATABASE_REPLICA_URL: a streaming replica for the heavy reads
	replicaMaxLag  time.Duration
	supportWindow  time.Duration
	pooler         bool // ATRIUM_DB_POOLER=transaction: APP_DATABASE_URL goes through a transaction pooler
	addr           string
	production     bool
	trusted        []netip.Prefix
	smtpURL        string
	baseURL        string // the public address links in mail start with; "" until serve defaults it
	idle, lifetime time.Duration
	dataDir        string
	metricsAddr    string // where Prometheus metrics are served; "" turns them off
	// memoryLimit is the Go runtime's soft memory limit serve sets (models.MemoryLimit), 0 when
	// GOMEMLIMIT is set and the runtime has taken it from there.
	memoryLimit int64
	// gcPercent is the collector's target serve sets (models.GCPercent), 0 when GOGC is set.
	gcPercent int
	auditKey  bool // ATRIUM_AUDIT_KEY is set (and given to models.SetAuditKey)
	// hooksPrivate (ATRIUM_WEBHOOKS_ALLOW_PRIVATE): webhook endpoints may be http:// and on
	// private, loopback or link-local addresses. Default: on in development, off in production.
	hooksPrivate bool
}

func readConfig(getenv func(string) string) (config, error) {
	c := config{
		databaseURL:    getenv("DATABASE_URL"),
		appDatabaseURL: getenv("APP_DATABASE_URL"),
		listenURL:      getenv("DATABASE_LISTEN_URL"),
		replicaURL:     getenv("DATABASE_REPLICA_URL"),
		addr:           or(getenv("ATRIUM_ADDR"), "127.0.0.1:8080"),
		smtpURL:        getenv("SMTP_URL"),
		baseURL:        strings.TrimRight(getenv("ATRIUM_BASE_URL"), "/"),
		dataDir:        or(getenv("ATRIUM_DATA_DIR"), ".data/postgres"),
		metricsAddr:    getenv("ATRIUM_METRICS_ADDR"),
	}
	switch env := or(getenv("ATRIUM_ENV"), "development"); env {
	case "development":
	case "production":
		c.production = true
	default:
		return c, fmt.Errorf("ATRIUM_ENV=%q: use development or production", env)
	}
	c.hooksPrivate = !c.production
	switch v := getenv("ATRIUM_WEBHOOKS_ALLOW_PRIVATE"); v {
	case "":
	case "1", "true", "on":
		c.hooksPrivate = true
	case "0", "false", "off":
		c.hooksPrivate = false
	default:
		return c, fmt.Errorf("ATRIUM_WEBHOOKS_ALLOW_PRIVATE=%q: use true or false", v)
	}
	switch p := getenv("ATRIUM_DB_POOLER"); p {
	case "", "none":
	case "transaction":
		c.pooler = true
	default:
		return c, fmt.Errorf("ATRIUM_DB_POOLER=%q: use transaction (APP_DATABASE_URL goes through pgbouncer in transaction mode) or none", p)
	}
	for _, s := range strings.FieldsFunc(getenv("ATRIUM_TRUSTED_PROXIES"), func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return c, fmt.Errorf("ATRIUM_TRUSTED_PROXIES: %q is not a CIDR like 10.0.0.0/8", s)
		}
		c.trusted = append(c.trusted, p)
	}
	if c.baseURL != "" {
		u, err := url.Parse(c.baseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return c, fmt.Errorf("ATRIUM_BASE_URL=%q: use the console's public address, like https://atrium.example.com", c.baseURL)
		}
	}
	var err error
	if c.idle, err = duration(getenv, "ATRIUM_SESSION_IDLE", 2*time.Hour); err != nil {
		return c, err
	}
	if c.lifetime, err = duration(getenv, "ATRIUM_SESSION_LIFETIME", 24*time.Hour); err != nil {
		return c, err
	}
	if c.replicaMaxLag, err = duration(getenv, "ATRIUM_REPLICA_MAX_LAG", 30*time.Second); err != nil {
		return c, err
	}
	if k := getenv("ATRIUM_AUDIT_KEY"); k != "" {
		if err := models.SetAuditKey([]byte(k)); err != nil {
			return c, fmt.Errorf("ATRIUM_AUDIT_KEY: %w; make one with: openssl rand -hex 32", err)
		}
		c.auditKey = true
	}
	if c.supportWindow, err = duration(getenv, "ATRIUM_SUPPORT_ACCESS_WINDOW", models.SupportAccessWindow); err != nil {
		return c, err
	}
	if v := getenv("ATRIUM_HASH_MEMORY_MB"); v != "" {
		mb, err := strconv.Atoi(v)
		if err != nil || mb < 19 {
			return c, fmt.Errorf("ATRIUM_HASH_MEMORY_MB=%q: use a number of MiB, at least 19 (one password hash)", v)
		}
		models.SetHashMemory(int64(mb) * 1024)
	}
	if getenv("GOMEMLIMIT") == "" {
		c.memoryLimit = models.MemoryLimit()
	}
	if getenv("GOGC") == "" {
		c.gcPercent = models.GCPercent
	}
	return c, nil
}

func duration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: use a duration like 2h or 30m", name, v)
	}
	return d, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

const usage = `usage: atrium [command]

commands:
  serve                 run the web console (default)
  migrate [--down]      apply pending migrations (or roll back the last group)
  seed                  add the demo workspace and its four accounts (once)
  user create --email E [--name N] [--support]
                        create a user; the password is read from stdin
  audit verify [--workspace SLUG [--head SEQ:HASH]]
                        check every workspace's audit hash chain (or one's); exits 1
                        naming the first broken event
  audit retention --workspace SLUG --days N|default
                        an enterprise workspace's audit retention in days (0: forever)
  version               print the version
`

// run is the whole program, testable: arguments, environment and streams come in.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 1 {
		cmd, args = args[1], args[2:]
	} else {
		args = nil
	}
	cfg, err := readConfig(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if cfg.production {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	slog.SetDefault(log)
	switch cmd {
	case "version", "--version":
		fmt.Fprintln(stdout, "atrium", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "serve":
		return serve(ctx, cfg, log, stdout)
	case "migrate":
		fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
		down := fs.Bool("down", false, "roll back the last group")
		if err := fs.Parse(args); err != nil {
			return err
		}
		return withDatabase(ctx, cfg, stdout, func(owner, app *bun.DB) error {
			if *down {
				names, err := migrations.Rollback(ctx, owner)
				fmt.Fprintf(stdout, "rolled back %d migrations %v\n", len(names), names)
				return err
			}
			fmt.Fprintln(stdout, "migrations are up to date")
			return nil
		})
	case "seed":
		if len(args) > 0 {
			return fmt.Errorf("seed takes no arguments, got %q\n%s", args, usage)
		}
		return withDatabase(ctx, cfg, stdout, func(owner, app *bun.DB) error {
			made, err := seed.Demo(ctx, app, time.Now())
			switch {
			case err != nil:
				return err
			case made:
				fmt.Fprintf(stdout, "seeded the demo workspace: sign in as %s / %s\n", seed.DemoOwnerEmail, seed.DemoPassword)
			default:
				fmt.Fprintln(stdout, "the demo workspace exists already")
			}
			return nil
		})
	case "user":
		if len(args) == 0 || args[0] != "create" {
			return errors.New("usage: atrium user create --email E [--name N] [--support]")
		}
		return userCreate(ctx, cfg, args[1:], stdin, stdout)
	case "audit":
		switch {
		case len(args) > 0 && args[0] == "verify":
			return auditVerify(ctx, cfg, args[1:], stdout)
		case len(args) > 0 && args[0] == "retention":
			return auditRetention(ctx, cfg, args[1:], stdout)
		}
		return errors.New("usage: atrium audit verify [--workspace SLUG [--head SEQ:HASH]] | atrium audit retention --workspace SLUG --days N|default")
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

// withDatabase opens the owner and runtime connections (starting the embedded cluster when no
// DATABASE_URL is set), migrates, runs fn, and stops whatever it started.
func withDatabase(ctx context.Context, cfg config, stdout io.Writer, fn func(owner, app *bun.DB) error) error {
	ownerURL := cfg.databaseURL
	if ownerURL == "" {
		fmt.Fprintf(stdout, "DATABASE_URL is not set: starting a private PostgreSQL cluster in %s\n", cfg.dataDir)
		pg, err := pgembed.Start(ctx, pgembed.Options{DataDir: cfg.dataDir, Log: stdout})
		if err != nil {
			return err
		}
		defer func() {
			if err := pg.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "atrium: stopping PostgreSQL:", err)
			} else {
				fmt.Fprintln(stdout, "PostgreSQL stopped")
			}
		}()
		ownerURL = pg.URL
	}
	owner, err := models.Open(ctx, models.OpenOptions{URL: ownerURL, MaxConns: 4})
	if err != nil {
		return fmt.Errorf("%w (check DATABASE_URL)", err)
	}
	defer owner.Close()
	applied, err := migrations.Migrate(ctx, owner)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		fmt.Fprintf(stdout, "applied %d migrations\n", len(applied))
	}
	appOpt := models.OpenOptions{URL: cfg.appDatabaseURL, Pooler: cfg.pooler, ListenURL: cfg.listenURL}
	if appOpt.URL == "" {
		if cfg.pooler {
			return errors.New("ATRIUM_DB_POOLER=transaction needs APP_DATABASE_URL: the runtime role's own login through the pooler (switching roles per connection is session state a transaction pooler does not keep)")
		}
		appOpt.URL, appOpt.SetRole = ownerURL, models.AppRole
	}
	app, err := models.Open(ctx, appOpt)
	if err != nil {
		return fmt.Errorf("%w (check APP_DATABASE_URL)", err)
	}
	defer app.Close()
	return fn(owner, app)
}

// errNoAuditKey refuses production without its own audit key.
var errNoAuditKey = errors.New("ATRIUM_AUDIT_KEY is required when ATRIUM_ENV=production: it signs the audit log's retention checkpoints and redactions; make one with: openssl rand -hex 32")

// serve runs the console until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) error {
	if cfg.baseURL == "" {
		if cfg.production {
			return errors.New("ATRIUM_BASE_URL is required when ATRIUM_ENV=production: set it to the console's public address, like https://atrium.example.com")
		}
		cfg.baseURL = devBaseURL(cfg.addr)
	}
	if cfg.production && !cfg.auditKey {
		return errNoAuditKey
	}
	if cfg.memoryLimit > 0 {
		debug.SetMemoryLimit(cfg.memoryLimit)
	}
	if cfg.gcPercent > 0 {
		debug.SetGCPercent(cfg.gcPercent)
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another server running? set ATRIUM_ADDR to another address)", cfg.addr, err)
	}
	defer ln.Close()
	var metricsLn net.Listener
	if cfg.metricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.metricsAddr); err != nil {
			return fmt.Errorf("ATRIUM_METRICS_ADDR: listen on %s: %w", cfg.metricsAddr, err)
		}
		defer metricsLn.Close()
	}
	return withDatabase(ctx, cfg, stdout, func(owner, app *bun.DB) error {
		if cfg.databaseURL == "" {
			made, err := seed.Demo(ctx, app, time.Now())
			if err != nil {
				return err
			}
			if made {
				fmt.Fprintln(stdout, "seeded the demo workspace")
			}
		}
		hcfg := handlers.Config{Production: cfg.production, TrustedProxies: cfg.trusted, SMTPURL: cfg.smtpURL, DeliverMail: true,
			BaseURL: cfg.baseURL, SessionIdle: cfg.idle, SessionLifetime: cfg.lifetime, Version: version, ReplicaMaxLag: cfg.replicaMaxLag,
			SupportAccessWindow: cfg.supportWindow, Metrics: metricsLn != nil, WebhooksAllowPrivate: cfg.hooksPrivate}
		if cfg.replicaURL != "" {
			// The runtime role on the replica, as on the primary. A replica that cannot be reached at
			// start stops it (a wrong address should not go unnoticed); one that goes down later is
			// checked on each heavy read, which meanwhile go to the primary.
			opt := models.OpenOptions{URL: cfg.replicaURL, Pooler: cfg.pooler, MaxConns: 10}
			if cfg.appDatabaseURL == "" {
				opt.SetRole = models.AppRole
			}
			replica, err := models.Open(ctx, opt)
			if err != nil {
				return fmt.Errorf("%w (check DATABASE_REPLICA_URL)", err)
			}
			defer replica.Close()
			hcfg.Replica = replica
		}
		srv := handlers.New(app, hcfg, log)
		switch {
		case cfg.smtpURL == "" && cfg.production:
			log.Warn("SMTP_URL is not set: mail is not configured, so password reset, email confirmation and invitation mail are off")
		case cfg.smtpURL == "":
			fmt.Fprintf(stdout, "SMTP_URL is not set: mail is logged and shown at %s/dev/mail\n", cfg.baseURL)
		}
		hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}
		errc := make(chan error, 1)
		go func() { errc <- hs.Serve(ln) }()
		fmt.Fprintf(stdout, "Atrium is running at http://%s\n", ln.Addr())
		var ms *http.Server
		if metricsLn != nil {
			// Prometheus metrics on their own address, so they need not be reachable where the
			// console is.
			mux := http.NewServeMux()
			mux.Handle("GET /metrics", srv.MetricsHandler())
			ms = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
			go func() {
				if err := ms.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("metrics server", "error", err.Error())
				}
			}()
			fmt.Fprintf(stdout, "Prometheus metrics at http://%s/metrics\n", metricsLn.Addr())
		}
		if cfg.databaseURL == "" {
			fmt.Fprintf(stdout, "demo login: %s / %s\n", seed.DemoOwnerEmail, seed.DemoPassword)
		}
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		fmt.Fprintln(stdout, "shutting down…")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := hs.Shutdown(shutdownCtx)
		if ms != nil {
			_ = ms.Shutdown(shutdownCtx)
		}
		// The process's unused API calls go back to the hour's count.
		if cerr := srv.Close(shutdownCtx); err == nil {
			err = cerr
		}
		return err
	})
}

// devBaseURL is the development default of ATRIUM_BASE_URL: the listen address, with localhost
// for an address that names no host (":8080", "0.0.0.0:8080").
func devBaseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// userCreate makes a user from the command line; the password comes from stdin.
func userCreate(ctx context.Context, cfg config, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	email := fs.String("email", "", "email address (required)")
	name := fs.String("name", "", "display name")
	supportStaff := fs.Bool("support", false, "make the user platform support staff")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("user create: --email is required")
	}
	var pw string
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stdout, "Password (at least 12 characters): ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stdout)
		if err != nil {
			return err
		}
		pw = string(b)
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	staff := ""
	if *supportStaff {
		staff = models.StaffSupport
	}
	return withDatabase(ctx, cfg, stdout, func(owner, app *bun.DB) error {
		now := time.Now()
		u, err := models.CreateUser(ctx, app, models.NewUser{Email: *email, Name: *name, Password: pw, StaffRole: staff,
			VerifiedAt: now}, now)
		if err != nil {
			return err
		}
		kind := "user"
		if u.IsSupport() {
			kind = "support user"
		}
		fmt.Fprintf(stdout, "created %s %s\n", kind, u.Email)
		if u.IsSupport() {
			at := cfg.baseURL + "/account/two-factor"
			fmt.Fprintf(stdout, "Support staff must use two-factor authentication. At first log-in %s is sent to %s:\n"+
				"scan the QR code (or type the key) into an authenticator app, enter its code, and keep the ten recovery codes.\n"+
				"Until then the support console stays closed to this account.\n", u.Email, at)
		}
		return nil
	})
}

// auditVerify checks the audit hash chains and says what it found: one line per workspace, and an
// error (exit status 1) naming the first broken event of the first broken chain.
func auditVerify(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	slug := fs.String("workspace", "", "the workspace's address (slug); all workspaces when empty")
	headArg := fs.String("head", "", "SEQ:HASH, a chain head noted earlier (the audit page's Integrity box): the chain must still hold it; needs --workspace")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("audit verify: unexpected %q; usage: atrium audit verify [--workspace SLUG [--head SEQ:HASH]]", fs.Args())
	}
	var noted *models.ChainLink
	if *headArg != "" {
		if *slug == "" {
			return errors.New("audit verify: --head needs --workspace: a chain head belongs to one workspace's chain")
		}
		h, err := models.ParseChainLink(*headArg)
		if err != nil {
			return fmt.Errorf("audit verify: --head: %w", err)
		}
		noted = &h
	}
	if cfg.production && !cfg.auditKey {
		return errNoAuditKey
	}
	var firstBroken error
	broken := 0
	err := withDatabase(ctx, cfg, stdout, func(owner, app *bun.DB) error {
		return models.VerifyAuditChains(ctx, app, *slug, time.Now(), noted, func(slug string, r *models.ChainReport) error {
			if r.OK() {
				fmt.Fprintf(stdout, "ok      %s: %d events verified, head seq %d hash %s\n", slug, r.Events, r.Head.Seq, r.Head.Hash)
				if noted != nil {
					fmt.Fprintf(stdout, "ok      %s: the chain still holds the noted head seq %d hash %s\n", slug, noted.Seq, noted.Hash)
				}
				return nil
			}
			broken++
			fmt.Fprintf(stdout, "BROKEN  %s: %s\n", slug, r.Broken.Error())
			if firstBroken == nil {
				firstBroken = fmt.Errorf("the audit chain of %s is broken: %s", slug, r.Broken.Error())
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	if broken > 1 {
		return fmt.Errorf("%w (and %d more workspaces)", firstBroken, broken-1)
	}
	return firstBroken
}

// auditRetention sets an enterprise workspace's audit retention.
func auditRetention(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit retention", flag.ContinueOnError)
	slug := fs.String("workspace", "", "the enterprise workspace's address (slug)")
	daysArg := fs.String("days", "", "days to keep audit events; 0 keeps them forever; default: the enterprise default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *slug == "" || *daysArg == "" || fs.NArg() > 0 {
		return errors.New("usage: atrium audit retention --workspace SLUG --days N|default")
	}
	var days *int
	if *daysArg != "default" {
		n, err := strconv.Atoi(*daysArg)
		if err != nil || n < 0 {
			return fmt.Errorf("--days %q: use a number of days (0 keeps events forever) or default", *daysArg)
		}
		days = &n
	}
	return withDatabase(ctx, cfg, stdout, func(owner, app *bun.DB) error {
		if err := models.SetAuditRetention(ctx, app, *slug, days); err != nil {
			return err
		}
		switch {
		case days == nil:
			fmt.Fprintf(stdout, "%s keeps audit events %d days (the enterprise default)\n", *slug, models.AuditRetentionDays[models.TierEnterprise])
		case *days == 0:
			fmt.Fprintf(stdout, "%s keeps audit events forever\n", *slug)
		default:
			fmt.Fprintf(stdout, "%s keeps audit events %d days\n", *slug, *days)
		}
		return nil
	})
}
