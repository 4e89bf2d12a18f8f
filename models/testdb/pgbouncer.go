package testdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// With TEST_PGBOUNCER=1 the runtime connections of the tests go through a pgbouncer in
// transaction pooling mode that the harness starts from the machine's binary (Debian's package
// pgbouncer), in front of the test server: consecutive transactions of one client connection then
// run on whichever server connection is free, so any state kept in a session (a SET, a prepared
// statement, an advisory lock, a LISTEN) would be lost or would leak to another client. The owner
// connection (migrations, fixtures) stays direct, as in production, and so does the key cache's
// notification connection (OpenOptions.ListenURL).

// PgbouncerEnabled reports whether TEST_PGBOUNCER asks for the pooler.
func PgbouncerEnabled() bool { return os.Getenv("TEST_PGBOUNCER") == "1" }

// testAppPassword is given to the runtime role only when the test server asks for passwords.
const testAppPassword = "atrium-test-app"

// bouncer is a running pgbouncer.
type bouncer struct {
	port     int
	dir      string
	cmd      *exec.Cmd
	out      *lockedBuffer
	password bool // the server wants passwords: the runtime role gets testAppPassword
	done     chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startPgbouncer starts pgbouncer in front of the server at base: pool_mode = transaction, on a
// free port of 127.0.0.1, its configuration and auth file in a temporary directory. Without the
// binary it fails: TEST_PGBOUNCER=1 never turns into a silent run without the pooler.
func startPgbouncer(ctx context.Context, base string) (*bouncer, error) {
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		for _, p := range []string{"/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		return nil, errors.New("TEST_PGBOUNCER=1 but there is no pgbouncer binary: install it (Debian: apt-get install pgbouncer) or unset TEST_PGBOUNCER")
	}
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		return nil, err
	}
	host := cfg.Host
	if strings.HasPrefix(host, "/") {
		host = "unix_socket_dir=" + host // pgbouncer names a socket directory this way
	} else {
		host = "host=" + host
	}
	dir, err := os.MkdirTemp("", "atrium-pgbouncer-")
	if err != nil {
		return nil, err
	}
	// pgbouncer refuses to run as root; it then runs as the postgres system user, who must read
	// the directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	b := &bouncer{dir: dir, out: &lockedBuffer{}, password: cfg.Password != "", done: make(chan struct{})}
	appPassword := ""
	if b.password {
		appPassword = testAppPassword
	}
	users := fmt.Sprintf("%s %s\n%s %s\n", quoteAuth(cfg.User), quoteAuth(cfg.Password), quoteAuth("atrium_app"), quoteAuth(appPassword))
	if err := os.WriteFile(filepath.Join(dir, "userlist.txt"), []byte(users), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		b.port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		ini := fmt.Sprintf(`[databases]
* = %s port=%d

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
admin_users = %s
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
server_reset_query =
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
`, host, cfg.Port, b.port, filepath.Join(dir, "userlist.txt"), cfg.User)
		if err := os.WriteFile(filepath.Join(dir, "pgbouncer.ini"), []byte(ini), 0o644); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		b.cmd = exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
		b.cmd.Dir = "/"
		b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
		if b.cmd.SysProcAttr, err = bouncerProcAttr(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		if err := b.cmd.Start(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("start pgbouncer: %w", err)
		}
		b.done = make(chan struct{})
		go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(b.cmd, b.done)
		err = b.waitReady(ctx)
		if err == nil {
			return b, nil
		}
		b.stop()
		if attempt == 2 {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgbouncer did not start: %w\n%s", err, b.out.String())
		}
		b.out = &lockedBuffer{} // the port was taken meanwhile: another one
	}
}

// waitReady waits until pgbouncer accepts connections and answers a query through to the server.
func (b *bouncer) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-b.done:
			return errors.New("pgbouncer exited")
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("nothing listens on 127.0.0.1:%d after 10 s", b.port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// url is the address of database db through the pooler, as user (the runtime role or the admin
// console's user).
func (b *bouncer) url(user, password, db string) string {
	u := url.URL{Scheme: "postgres", Host: "127.0.0.1:" + strconv.Itoa(b.port), Path: "/" + db, RawQuery: "sslmode=disable"}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}

func (b *bouncer) stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	b.cmd.Process.Signal(os.Interrupt) // a safe shutdown: it waits for the clients to go
	select {
	case <-b.done:
	case <-time.After(3 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
}

// close stops pgbouncer and removes its directory.
func (b *bouncer) close() {
	b.stop()
	os.RemoveAll(b.dir)
}

func quoteAuth(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
