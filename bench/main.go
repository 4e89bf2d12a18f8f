// Command bench is Atrium's load benchmark, behind `make bench`:
//
//	go run ./bench [-db URL] [-cases all] [-c 8,64] [-d 5s] [-warmup 1s] [-reps 3]
//
// It starts a private PostgreSQL cluster from the machine's server binaries (unless -db or
// BENCH_DATABASE_URL names a server), migrates and seeds it, runs the real server (handlers.New on
// the runtime role's pool) and the floor under it (a bare echo handler; one doing a primary-key
// select on a pgx pool of the same size) on loopback, and drives each case from in-process
// clients. The cases run interleaved over the repetitions (A B C, C B A, A B C); the table gives
// medians, the ratio to the floor, the database round trips each call made as counted on the
// wire, and the process's peak resident memory. bench/README.md says what each column means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is the command line.
type config struct {
	dbURL            string
	cases            []string // keys, in table order
	conns            []int
	duration, warmup time.Duration
	reps             int
	seed             seedSize
	keep             bool
	cpuProfile       string
	capacity         bool
	alerts           bool
	webhooks         bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err == nil {
		_, err = run(ctx, cfg, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, getenv func(string) string, errOut io.Writer) (config, error) {
	cfg := config{seed: defaultSeed}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&cfg.dbURL, "db", getenv("BENCH_DATABASE_URL"),
		"a PostgreSQL server to make the bench's throwaway database on, as a superuser (default $BENCH_DATABASE_URL, else a private cluster)")
	cases := fs.String("cases", "all", "cases or groups, comma-separated: "+strings.Join(caseKeys, ", ")+
		"; groups floor, api, pages, login, all (the floor always runs)")
	conns := fs.String("c", "8,64", "concurrent clients, comma-separated: each case runs at each")
	fs.DurationVar(&cfg.duration, "d", 5*time.Second, "timed duration of each case, per connection count and repetition")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "untimed warm-up before each timed window")
	fs.IntVar(&cfg.reps, "reps", 3, "repetitions, interleaved (forward, backward, forward, …); the table gives medians")
	fs.BoolVar(&cfg.keep, "keep", false, "with -db: keep the seeded database afterwards (its name is logged), to look into its queries")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured cases (server and clients, not the seed) to this file")
	fs.BoolVar(&cfg.capacity, "capacity", false, "instead of the timed table: the rows and WAL each case writes per call (counted, each case once at the first -c), and bytes per row of the seeded tables")
	fs.BoolVar(&cfg.webhooks, "webhooks", false, "give the measured workspace a webhook endpoint subscribed to every event type (no worker sends them: the cost measured is recording each event and its delivery), to compare with a run without")
	fs.BoolVar(&cfg.alerts, "alerts", false, "turn on the measured workspace's quota alerts (every limit, at 80 % and 100 %), to compare with a run without")
	fs.IntVar(&cfg.seed.Tasks, "tasks", defaultSeed.Tasks, "tasks in the measured workspace")
	fs.IntVar(&cfg.seed.Members, "members", defaultSeed.Members, "members of the measured workspace")
	fs.IntVar(&cfg.seed.Small, "small", defaultSeed.Small, "small workspaces besides it")
	fs.Usage = func() {
		fmt.Fprintln(errOut, "usage: go run ./bench [flags]   (see bench/README.md)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q: choose cases with -cases", fs.Args())
	}
	want := map[string]bool{"bare": true, "pk": true}
	for _, name := range strings.Split(*cases, ",") {
		name = strings.TrimSpace(name)
		if g, ok := caseGroups[name]; ok {
			for _, k := range g {
				want[k] = true
			}
		} else if slices.Contains(caseKeys, name) {
			want[name] = true
		} else {
			return cfg, fmt.Errorf("-cases: no case or group %q; choose from %s, floor, api, pages, login, all", name, strings.Join(caseKeys, ", "))
		}
	}
	for _, k := range caseKeys {
		if want[k] {
			cfg.cases = append(cfg.cases, k)
		}
	}
	for _, s := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 1024 {
			return cfg, fmt.Errorf("-c: %q is not a number of clients from 1 to 1024", s)
		}
		if !slices.Contains(cfg.conns, n) {
			cfg.conns = append(cfg.conns, n)
		}
	}
	switch {
	case cfg.duration <= 0 || cfg.warmup < 0:
		return cfg, errors.New("-d must be positive and -warmup not negative")
	case cfg.keep && cfg.dbURL == "":
		return cfg, errors.New("-keep needs -db: the private cluster goes when the bench ends")
	case cfg.reps < 1:
		return cfg, errors.New("-reps must be at least 1")
	case cfg.seed.Tasks < 100 || cfg.seed.Members < 2 || cfg.seed.Small < 0:
		return cfg, errors.New("the seed needs at least 100 tasks and 2 members")
	}
	return cfg, nil
}

// run is the whole bench; it returns the table's rows too, for the test.
func run(ctx context.Context, cfg config, out, errOut io.Writer) ([]row, error) {
	log := slog.New(slog.NewTextHandler(errOut, nil))
	// Code under test logs through slog's default (a line per cross-tenant read); like the server's
	// request log, it goes nowhere, so the figures do not depend on a terminal.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	start := time.Now()

	st, err := setUp(ctx, cfg, errOut, log)
	if err != nil {
		return nil, err
	}
	defer st.close()
	log.Info("ready", "database", st.dbDesc, "pool", st.poolSize, "took", time.Since(start).Round(time.Millisecond))

	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.capacity {
		caps, err := measureCapacity(ctx, cfg, st, log)
		if err != nil {
			return nil, err
		}
		costs, err := st.rowCosts(ctx)
		if err != nil {
			return nil, err
		}
		printCapacity(out, cfg, st, caps, costs)
		log.Info("done", "took", time.Since(start).Round(time.Second))
		return nil, nil
	}
	rows, err := measure(ctx, cfg, st, log)
	if err != nil {
		return nil, err
	}
	printTable(out, cfg, st, rows)
	printTargets(out, rows)
	log.Info("done", "took", time.Since(start).Round(time.Second))
	return rows, nil
}
