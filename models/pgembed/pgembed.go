// Package pgembed starts a private PostgreSQL cluster from the machine's server binaries (initdb,
// pg_ctl, postgres), so `atrium serve` and the tests run without a configured database.
//
// The launcher runs on Linux and other Unix systems: it relies on Unix sockets, process
// credentials and file ownership. Elsewhere Start refuses with a message that says to set
// DATABASE_URL, and the rest of Atrium builds and runs against any reachable server.
package pgembed

import (
	"io"
	"sync"
)

// Options configures Start.
type Options struct {
	DataDir string    // where the cluster lives (created if missing)
	Log     io.Writer // progress lines ("initializing PostgreSQL cluster in X (about 2 s)", fallback notices); nil = discard
	Fast    bool      // durability off, for throwaway test clusters
}

// Cluster is a private PostgreSQL cluster started from the machine's server binaries.
type Cluster struct {
	// DataDir is the directory actually used, which differs from the requested
	// one when that was unreachable by the postgres user.
	DataDir string
	Port    int
	// URL is an owner (superuser "postgres") connection URL to the "atrium" database, e.g.
	// postgres://postgres@127.0.0.1:PORT/atrium?sslmode=disable
	URL string

	binDir    string
	socketDir string
	runAs     *pgUser

	stopOnce sync.Once
	stopErr  error
}

// pgUser is the account the server tools run as when we are root, because
// initdb and pg_ctl refuse to run as root.
type pgUser struct {
	name   string
	uid    int
	gid    int
	groups []int
}
