//go:build unix

package pgembed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// embeddedDatabase is the database the app's URL points at; the "postgres"
// database stays untouched as the maintenance database.
const embeddedDatabase = "atrium"

// startAttempts bounds the retries when the free port we picked is taken by
// someone else between probing it and the server binding it.
const startAttempts = 3

// serverLogName lives inside the data directory because it is the one place
// we know the postgres user can write to.
const serverLogName = "atrium-server.log"

// FindBinaries returns the directory holding initdb and pg_ctl, or an error saying what to install.
func FindBinaries() (string, error) {
	// PATH wins so a user can point at a specific installation; symlinks are
	// resolved because /usr/local/bin style links would otherwise hide the
	// real bin dir, where createdb and postgres live too.
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if dir := filepath.Dir(real); hasServerBinaries(dir) {
				return dir, nil
			}
		}
		if dir := filepath.Dir(p); hasServerBinaries(dir) {
			return dir, nil
		}
	}
	// Debian keeps server binaries off PATH, one directory per major version.
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		return versionLess(filepath.Base(filepath.Dir(dirs[j])), filepath.Base(filepath.Dir(dirs[i])))
	})
	for _, dir := range dirs {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	return "", errors.New(`postgres server binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql/*/bin: install Debian's "postgresql" package (apt-get install postgresql) or set DATABASE_URL`)
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// versionLess compares "9.6" < "15" numerically, since a string sort would
// rank 9.6 above 15.
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return a < b
}

// Start initializes (when needed) and starts a private cluster on a free 127.0.0.1 port; call Stop on exit.
func Start(ctx context.Context, opt Options) (*Cluster, error) {
	logw := opt.Log
	if logw == nil {
		logw = io.Discard
	}
	if opt.DataDir == "" {
		return nil, errors.New("embedded postgres: no data directory given")
	}
	binDir, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	var runAs *pgUser
	if os.Geteuid() == 0 {
		if runAs, err = lookupPostgresUser(); err != nil {
			return nil, err
		}
	}
	dataDir, err := prepareDataDir(opt.DataDir, runAs, logw)
	if err != nil {
		return nil, err
	}
	e := &Cluster{DataDir: dataDir, binDir: binDir, runAs: runAs}

	if err := e.checkNotRunning(logw); err != nil {
		return nil, err
	}
	if err := e.initCluster(ctx, logw, opt.Fast); err != nil {
		return nil, err
	}
	if e.socketDir, err = e.makeSocketDir(); err != nil {
		return nil, err
	}
	if err := e.start(ctx, logw, opt.Fast); err != nil {
		_ = os.RemoveAll(e.socketDir)
		return nil, err
	}
	e.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", e.Port, embeddedDatabase)
	if err := e.createDatabase(ctx, logw); err != nil {
		_ = e.Stop()
		return nil, err
	}
	return e, nil
}

func lookupPostgresUser() (*pgUser, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf(`running as root, and initdb refuses root, but there is no "postgres" system user to run it as (install Debian's "postgresql" package, run atrium as a normal user, or set DATABASE_URL): %w`, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres system user has a non-numeric uid/gid: %w", err)
	}
	pu := &pgUser{name: u.Username, uid: uid, gid: gid}
	// Supplementary groups matter for the reachability check, e.g. a data
	// directory whose parent is group-traversable by a group postgres is in.
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.Atoi(s); err == nil {
				pu.groups = append(pu.groups, g)
			}
		}
	}
	return pu, nil
}

// prepareDataDir creates the data directory and, when root, hands it to the
// postgres user, moving to a temp directory if the requested one sits behind
// a directory that user cannot traverse (e.g. /root, or a 0700 checkout).
func prepareDataDir(dir string, pu *pgUser, logw io.Writer) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving data directory %s: %w", dir, err)
	}
	if pu == nil {
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return "", fmt.Errorf("creating data directory %s: %w", abs, err)
		}
		return abs, nil
	}
	abs = resolveExisting(abs)
	if blocker := untraversable(abs, pu); blocker != "" {
		sum := sha256.Sum256([]byte(abs))
		fallback := filepath.Join(os.TempDir(), "atrium-postgres-"+hex.EncodeToString(sum[:])[:12])
		fallback = resolveExisting(fallback)
		if b := untraversable(fallback, pu); b != "" {
			return "", fmt.Errorf("data directory %s is not reachable by the postgres user (%s is not traversable), nor is fallback %s (%s): choose a DataDir outside private directories or set DATABASE_URL", abs, blocker, fallback, b)
		}
		// The fallback lives in a world-writable directory, so refuse one
		// planted by another user rather than trusting its contents.
		if st, err := os.Lstat(fallback); err == nil {
			sys, ok := st.Sys().(*syscall.Stat_t)
			if !st.IsDir() || (ok && sys.Uid != 0 && int(sys.Uid) != pu.uid) {
				return "", fmt.Errorf("fallback data directory %s exists but is not a directory owned by root or postgres: remove it or choose another DataDir", fallback)
			}
		}
		fmt.Fprintf(logw, "data directory %s is not reachable by the postgres user (%s is not traversable); using %s\n", abs, blocker, fallback)
		abs = fallback
	}
	if err := mkdirTraversable(abs); err != nil {
		return "", err
	}
	if err := chownTree(abs, pu); err != nil {
		return "", err
	}
	return abs, nil
}

// resolveExisting resolves symlinks in the longest existing prefix of p, so
// the permission check looks at the directories actually traversed.
func resolveExisting(p string) string {
	rest := ""
	for cur := p; ; {
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// untraversable returns the first existing ancestor of dir that pu cannot
// search, or "" if all can be; missing ancestors are fine because
// mkdirTraversable creates them world-searchable.
func untraversable(dir string, pu *pgUser) string {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil {
			if !st.IsDir() || !canSearch(st, pu) {
				return p
			}
		}
		if p == filepath.Dir(p) {
			return ""
		}
	}
}

func canSearch(st fs.FileInfo, pu *pgUser) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return true // cannot tell; let initdb report it
	}
	mode := st.Mode().Perm()
	if int(sys.Uid) == pu.uid {
		return mode&0o100 != 0
	}
	inGroup := int(sys.Gid) == pu.gid
	for _, g := range pu.groups {
		inGroup = inGroup || int(sys.Gid) == g
	}
	if inGroup {
		return mode&0o010 != 0
	}
	return mode&0o001 != 0
}

// mkdirTraversable creates missing parents as 0755 regardless of umask, since
// root-created 0700 parents would lock the postgres user out of its own data.
func mkdirTraversable(dir string) error {
	var missing []string
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil || p == filepath.Dir(p) {
			break
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating %s: %w", missing[i], err)
		}
		if err := os.Chmod(missing[i], 0o755); err != nil {
			return fmt.Errorf("making %s traversable: %w", missing[i], err)
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating data directory %s: %w", dir, err)
	}
	return nil
}

// chownTree gives the data directory to postgres; it walks only when the top
// is not already theirs, so reusing a cluster costs one stat.
func chownTree(dir string, pu *pgUser) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) == pu.uid {
		return nil
	}
	err = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, pu.uid, pu.gid)
	})
	if err != nil {
		return fmt.Errorf("handing data directory %s to the postgres user: %w", dir, err)
	}
	return nil
}

// checkNotRunning refuses a cluster whose postmaster is alive, because a
// second start would fail with a lock-file error far less clear than this.
func (e *Cluster) checkNotRunning(logw io.Writer) error {
	b, err := os.ReadFile(filepath.Join(e.DataDir, "postmaster.pid"))
	if err != nil {
		return nil // no pid file, or unreadable: pg_ctl start will judge
	}
	lines := strings.Split(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return nil
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return nil // stale pid file from a crash; postgres removes it
	}
	// A postmaster that died under an init that does not reap (some
	// containers) stays a zombie, which postgres mistakes for a live server.
	// Its shared-memory interlock still guards against surviving backends,
	// so dropping the pid file is safe.
	if isZombie(pid) {
		if err := os.Remove(filepath.Join(e.DataDir, "postmaster.pid")); err != nil {
			return fmt.Errorf("removing stale postmaster.pid of defunct pid %d in %s: %w", pid, e.DataDir, err)
		}
		fmt.Fprintf(logw, "removed stale postmaster.pid in %s (pid %d is defunct)\n", e.DataDir, pid)
		return nil
	}
	// After a reboot the pid may belong to an unrelated process; only a
	// postgres process counts as "running".
	if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && !bytes.Contains(cmd, []byte("postgres")) {
		return nil
	}
	port := "?"
	if len(lines) > 3 {
		port = strings.TrimSpace(lines[3])
	}
	return fmt.Errorf("postgres cluster in %s is already running (pid %d, port %s), probably left by an earlier atrium process: stop that process or run %q", e.DataDir, pid, port, e.shellHint("pg_ctl", "-D", e.DataDir, "-m", "fast", "stop"))
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The command name in parentheses may contain spaces, so the state is
	// read after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// shellHint spells a command the user can paste, including the switch to the
// postgres user that root needs.
func (e *Cluster) shellHint(tool string, args ...string) string {
	parts := []string{filepath.Join(e.binDir, tool)}
	parts = append(parts, args...)
	if e.runAs != nil {
		parts = append([]string{"runuser", "-u", e.runAs.name, "--"}, parts...)
	}
	return strings.Join(parts, " ")
}

func (e *Cluster) initCluster(ctx context.Context, logw io.Writer, fast bool) error {
	if _, err := os.Stat(filepath.Join(e.DataDir, "PG_VERSION")); err == nil {
		return nil
	}
	// initdb only accepts an empty directory; say so before it does, in terms
	// of our option rather than its flag.
	if ents, err := os.ReadDir(e.DataDir); err == nil && len(ents) > 0 {
		return fmt.Errorf("data directory %s is not empty but holds no PostgreSQL cluster (no PG_VERSION): empty it or choose another DataDir", e.DataDir)
	}
	fmt.Fprintf(logw, "initializing PostgreSQL cluster in %s (about 2 s)\n", e.DataDir)
	args := []string{"-D", e.DataDir, "--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C"}
	if fast {
		args = append(args, "--no-sync")
	}
	out, err := e.command(ctx, "initdb", args...).CombinedOutput()
	if err != nil {
		// initdb cleans up after its own errors but not after being killed;
		// a half-built cluster would make every later start fail as "not empty".
		if ents, rerr := os.ReadDir(e.DataDir); rerr == nil {
			for _, ent := range ents {
				_ = os.RemoveAll(filepath.Join(e.DataDir, ent.Name()))
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("initializing postgres cluster in %s: %w", e.DataDir, ctx.Err())
		}
		return fmt.Errorf("initdb in %s failed: %w: %s", e.DataDir, err, oneLine(tail(string(out), 10)))
	}
	return nil
}

// makeSocketDir gives the server a private unix-socket directory, so it never
// collides with the system cluster's /var/run/postgresql or its lock files.
func (e *Cluster) makeSocketDir() (string, error) {
	dir, err := os.MkdirTemp("", "atrium-pgsock-")
	if err != nil {
		return "", fmt.Errorf("creating socket directory: %w", err)
	}
	if e.runAs != nil {
		if err := os.Chown(dir, e.runAs.uid, e.runAs.gid); err != nil {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("handing socket directory %s to the postgres user: %w", dir, err)
		}
	}
	// sun_path is 108 bytes on Linux and 104 on the BSDs and macOS; fail here rather than in the
	// server log.
	sunPath := 104
	if runtime.GOOS == "linux" {
		sunPath = 108
	}
	if len(dir)+len("/.s.PGSQL.65535.lock") >= sunPath {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("socket directory %s is too long for a unix socket: set TMPDIR to a shorter path", dir)
	}
	return dir, nil
}

func (e *Cluster) start(ctx context.Context, logw io.Writer, fast bool) error {
	logFile := filepath.Join(e.DataDir, serverLogName)
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		opts := []string{"-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1", "-k", shellQuote(e.socketDir)}
		if fast {
			opts = append(opts, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
		}
		// Remember where this attempt's log output begins, so errors quote
		// only what this start wrote, not earlier runs.
		var offset int64
		if st, err := os.Stat(logFile); err == nil {
			offset = st.Size()
		}
		fmt.Fprintf(logw, "starting PostgreSQL (%s) on 127.0.0.1:%d\n", e.binDir, port)
		out, err := e.command(ctx, "pg_ctl", "-w", "-t", "60", "-D", e.DataDir, "-l", logFile, "-o", strings.Join(opts, " "), "start").CombinedOutput()
		if err == nil {
			e.Port = port
			return nil
		}
		serverLog := readFrom(logFile, offset)
		e.abandonStart()
		if ctx.Err() != nil {
			return fmt.Errorf("starting postgres in %s: %w", e.DataDir, ctx.Err())
		}
		if strings.Contains(serverLog, `lock file "postmaster.pid" already exists`) {
			return fmt.Errorf("postgres cluster in %s is already running, probably left by an earlier atrium process: stop that process or run %q", e.DataDir, e.shellHint("pg_ctl", "-D", e.DataDir, "-m", "fast", "stop"))
		}
		lastErr = fmt.Errorf("pg_ctl start in %s failed: %w: %s | server log %s: %s", e.DataDir, err, oneLine(tail(string(out), 3)), logFile, oneLine(tail(serverLog, 10)))
		if !strings.Contains(serverLog, "Address already in use") && !strings.Contains(serverLog, "could not bind") {
			return lastErr
		}
		fmt.Fprintf(logw, "port %d was taken before postgres could bind it; retrying\n", port)
	}
	return lastErr
}

// abandonStart stops a postmaster that pg_ctl gave up on (timeout or
// cancellation); pg_ctl detaches the server, so nobody else would.
func (e *Cluster) abandonStart() {
	if _, err := os.Stat(filepath.Join(e.DataDir, "postmaster.pid")); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = e.command(ctx, "pg_ctl", "-D", e.DataDir, "-m", "immediate", "-w", "stop").Run()
}

// createDatabase uses the createdb client rather than a SQL driver so this
// file stays standard-library only.
func (e *Cluster) createDatabase(ctx context.Context, logw io.Writer) error {
	if _, err := os.Stat(filepath.Join(e.binDir, "createdb")); err != nil {
		fmt.Fprintf(logw, "createdb not found in %s; create the %q database yourself\n", e.binDir, embeddedDatabase)
		return nil
	}
	out, err := e.command(ctx, "createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(e.Port), "-U", "postgres", embeddedDatabase).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "already exists") {
		return fmt.Errorf("creating database %q on 127.0.0.1:%d: %w: %s", embeddedDatabase, e.Port, err, oneLine(tail(string(out), 5)))
	}
	return nil
}

// Stop shuts the cluster down with a fast shutdown; later calls return the first call's result.
func (e *Cluster) Stop() error {
	if e == nil {
		return nil
	}
	e.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		out, err := e.command(ctx, "pg_ctl", "-D", e.DataDir, "-m", "fast", "-w", "stop").CombinedOutput()
		// A server that is already gone (killed, or stopped by hand) is the
		// state Stop wants, not a failure.
		if err != nil {
			if _, statErr := os.Stat(filepath.Join(e.DataDir, "postmaster.pid")); statErr == nil {
				e.stopErr = fmt.Errorf("stopping postgres in %s: %w: %s", e.DataDir, err, oneLine(tail(string(out), 3)))
			}
		}
		if e.socketDir != "" {
			_ = os.RemoveAll(e.socketDir)
		}
	})
	return e.stopErr
}

// command runs a tool from binDir as the postgres user when we are root, with
// a clean environment so a developer's PG* variables cannot redirect it and
// C locale so the messages we match on are not translated.
func (e *Cluster) command(ctx context.Context, tool string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(e.binDir, tool), args...)
	cmd.Dir = "/" // the caller's cwd may be unreadable by postgres
	env := []string{"LC_ALL=C"}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG") {
			continue
		}
		if e.runAs != nil && (strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "USER=") || strings.HasPrefix(kv, "LOGNAME=")) {
			continue
		}
		env = append(env, kv)
	}
	if e.runAs != nil {
		env = append(env, "USER="+e.runAs.name, "LOGNAME="+e.runAs.name, "HOME=/")
		groups := make([]uint32, len(e.runAs.groups))
		for i, g := range e.runAs.groups {
			groups[i] = uint32(g)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid: uint32(e.runAs.uid), Gid: uint32(e.runAs.gid), Groups: groups,
		}}
	}
	cmd.Env = env
	return cmd
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// shellQuote protects the socket path because pg_ctl passes -o through /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return string(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// oneLine keeps errors on one line, as log lines and CLI output expect.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}

// StartStandby makes a streaming replica of the running cluster e: pg_basebackup of e into
// dataDir (which must be missing or empty) with the standby's settings written by -R, then the
// standby started in hot standby on another free 127.0.0.1 port; call Stop on exit. Its URL names
// the same "atrium" database, read-only.
func (e *Cluster) StartStandby(ctx context.Context, dataDir string) (*Cluster, error) {
	dir, err := prepareDataDir(dataDir, e.runAs, io.Discard)
	if err != nil {
		return nil, err
	}
	s := &Cluster{DataDir: dir, binDir: e.binDir, runAs: e.runAs}
	out, err := s.command(ctx, "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(e.Port), "-U", "postgres",
		"-D", dir, "-R", "-X", "stream", "-c", "fast", "--no-sync").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("pg_basebackup of 127.0.0.1:%d into %s: %w: %s", e.Port, dir, err, oneLine(tail(string(out), 5)))
	}
	if s.socketDir, err = s.makeSocketDir(); err != nil {
		return nil, err
	}
	if err := s.start(ctx, io.Discard, true); err != nil {
		_ = os.RemoveAll(s.socketDir)
		return nil, err
	}
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, embeddedDatabase)
	return s, nil
}
