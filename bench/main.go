// Command bench is Atrium's load benchmark, behind `make bench`:
//
//	go run ./bench [section ...|all]
//
// It starts its own throwaway database the way the tests do (TEST_DATABASE_URL, else the server
// on 127.0.0.1:5432, else a private cluster), migrates it, runs the real server on a loopback
// httptest server, seeds what each section needs and prints figures. Every section runs a fixed
// number of requests, so a whole run stays within seconds.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"atrium/handlers"
	"atrium/models"
	"atrium/models/testdb"
)

// Env is what every section gets: the database, a running server and a clock.
type Env struct {
	// Owner is the migration owner's pool; App is the runtime role's, as the server uses it.
	Owner, App *bun.DB
	// OwnerURL lets a section open more pools.
	OwnerURL string
	// Server is the real handler, served at URL on loopback.
	Server *handlers.Server
	URL    string
	// Log is for the sections' progress notes (stderr); figures go to Out.
	Log *slog.Logger
	Out io.Writer
	// Now is the clock.
	Now func() time.Time
}

// sections are the benchmark's parts by name; `all` runs them in name order.
var sections = map[string]func(ctx context.Context, env *Env) error{
	"api":   benchAPI,
	"usage": benchUsage,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	names := args
	if len(names) == 0 || slices.Contains(names, "all") {
		names = names[:0]
		for name := range sections {
			names = append(names, name)
		}
		slices.Sort(names)
	}
	for _, name := range names {
		if sections[name] == nil {
			known := make([]string, 0, len(sections))
			for k := range sections {
				known = append(known, k)
			}
			slices.Sort(known)
			return fmt.Errorf("no section %q; choose from %s or all", name, strings.Join(known, ", "))
		}
	}
	log := slog.New(slog.NewTextHandler(errOut, nil))
	// Code under test logs through slog's default too (a line per cross-tenant read); like the
	// server's request log, it goes nowhere, so the figures stay readable and terminal-independent.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	base, stopServer, err := testdb.FindServer(ctx)
	if err != nil {
		return err
	}
	defer stopServer()
	db, drop, err := testdb.CreateDatabase(ctx, base)
	if err != nil {
		return err
	}
	defer drop()
	// The runtime pool without the tests' scope guard, which would be measured too.
	app, err := models.Open(ctx, models.OpenOptions{URL: db.OwnerURL, SetRole: models.AppRole})
	if err != nil {
		return err
	}
	defer app.Close()
	// The server formats its request log lines as always; only the sink is discarded, so the
	// figures do not depend on a terminal's speed.
	srv := handlers.New(app, handlers.Config{Version: "bench"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	hs := httptest.NewServer(srv)
	defer hs.Close()
	env := &Env{Owner: db.Owner, App: app, OwnerURL: db.OwnerURL, Server: srv, URL: hs.URL, Log: log, Out: out, Now: time.Now}
	for _, name := range names {
		start := time.Now()
		fmt.Fprintf(out, "\n== %s\n", name)
		if err := sections[name](ctx, env); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(out, "(%s took %s)\n", name, time.Since(start).Round(time.Millisecond))
	}
	return nil
}
