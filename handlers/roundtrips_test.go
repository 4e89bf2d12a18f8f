package handlers_test

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// wireCount counts, at the protocol level, what the database connections dialled through it do:
// a round trip is a client write that follows something read from the server; a statement is a
// CommandComplete (BEGIN and COMMIT included).
type wireCount struct{ roundTrips, statements atomic.Int64 }

func (w *wireCount) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, w: w}, nil
}

type countedConn struct {
	net.Conn
	w         *wireCount
	readSince atomic.Bool
	wrote     atomic.Bool
	rawByte   atomic.Bool // the next server byte answers an SSL or GSS request
	hdr       [5]byte
	nhdr      int
	left      int
}

func (c *countedConn) Write(p []byte) (int, error) {
	if !c.wrote.Swap(true) {
		c.w.roundTrips.Add(1)
		if len(p) == 8 {
			if code := binary.BigEndian.Uint32(p[4:8]); code == 80877103 || code == 80877104 {
				c.rawByte.Store(true)
			}
		}
	} else if c.readSince.Swap(false) {
		c.w.roundTrips.Add(1)
	}
	return c.Conn.Write(p)
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	b := p[:n]
	if n > 0 {
		c.readSince.Store(true)
	}
	for len(b) > 0 {
		if c.rawByte.Swap(false) {
			b = b[1:]
			continue
		}
		if c.left > 0 {
			k := min(c.left, len(b))
			c.left -= k
			b = b[k:]
			continue
		}
		k := copy(c.hdr[c.nhdr:], b)
		c.nhdr += k
		b = b[k:]
		if c.nhdr < len(c.hdr) {
			break
		}
		c.nhdr = 0
		c.left = int(binary.BigEndian.Uint32(c.hdr[1:5])) - 4
		if c.hdr[0] == 'C' {
			c.w.statements.Add(1)
		}
	}
	return n, err
}

// TestConsolePagesInAtMostFiveRoundTrips: a signed-in page view (overview, members, usage over 90
// days) makes at most five database round trips and five statements, counted on the wire,
// session and frame included, once the once-a-minute notes (last active) are made.
func TestConsolePagesInAtMostFiveRoundTrips(t *testing.T) {
	d := testdb.Get(t)
	var w wireCount
	db, err := models.Open(context.Background(), models.OpenOptions{URL: d.OwnerURL, SetRole: models.AppRole, MaxConns: 4, Dial: w.dial})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	app := &webtest.App{T: t, DB: d}
	app.Server = handlers.New(db, handlers.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	app.Server.Now = testdb.Clock
	app.HTTP = httptest.NewServer(app.Server)
	t.Cleanup(app.HTTP.Close)

	owner := app.User(webtest.UniqueEmail("rt"))
	ws := app.Workspace(owner, webtest.UniqueSlug("rt"))
	for i := range 3 {
		app.AddMember(ws, app.User(webtest.UniqueEmail("rt-member")), []models.Role{models.RoleAdmin, models.RoleMember, models.RoleViewer}[i])
	}
	c := app.Login(owner.Email)
	base := "/w/" + ws.Slug
	pages := []string{base, base + "/members", base + "/usage?range=90", base + "/usage"}
	for _, p := range pages { // settle: the session's CSRF token and workspace, last active
		if res := c.Get(p); res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", p, res.StatusCode)
		}
	}
	for _, p := range pages {
		best := int64(1 << 30)
		for range 3 { // a pooled connection idle for a second is pinged first: take the best of three
			rt0, st0 := w.roundTrips.Load(), w.statements.Load()
			if res := c.Get(p); res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", p, res.StatusCode)
			}
			rt, st := w.roundTrips.Load()-rt0, w.statements.Load()-st0
			if st > 5 {
				t.Errorf("GET %s: %d statements, want at most 5", p, st)
			}
			best = min(best, rt)
			time.Sleep(10 * time.Millisecond)
		}
		if best > 5 {
			t.Errorf("GET %s: %d round trips, want at most 5", p, best)
		}
		t.Logf("GET %s: %d round trips", p, best)
	}
}
