package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/mail"
	"atrium/models/testdb"
	"atrium/models/webhook"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// verify checks a Standard Webhooks signature header the way the scheme's reference libraries
// do, written here from the scheme's description: the key is the base64 after "whsec_", the
// signed content "<webhook-id>.<webhook-timestamp>.<body>", each "v1,<base64>" in the
// space-separated header is a candidate, and the timestamp must be within five minutes of now.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s is %s away from now", ts, d)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, s := range strings.Split(sigs, " ") {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no signature matches")
}

// receiver is a webhook endpoint in the test process. Its behave says how to answer the n-th
// request (from 1): a status, or a delay before answering 200.
type receiver struct {
	*httptest.Server
	secret func() string
	behave func(n int) (status int, delay time.Duration)

	mu       sync.Mutex
	requests int
	ok       []string // webhook-ids answered 2xx, in order
	seqs     []int    // the events' "n" answered 2xx, in order
	bad      []string // signature problems
	all      []string // every webhook-id received
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{behave: func(int) (int, time.Duration) { return 200, 0 }}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests++
		n := r.requests
		r.all = append(r.all, req.Header.Get("webhook-id"))
		if err := verify(r.secret(), req.Header, body, testdb.Clock()); err != nil {
			r.bad = append(r.bad, err.Error())
		}
		r.mu.Unlock()
		status, delay := r.behave(n)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-req.Context().Done():
				return
			}
		}
		if status/100 == 2 {
			var msg struct {
				Type      string `json:"type"`
				Timestamp string `json:"timestamp"`
				Data      struct {
					N int `json:"n"`
				} `json:"data"`
			}
			if err := json.Unmarshal(body, &msg); err != nil || msg.Type == "" || msg.Timestamp == "" {
				r.mu.Lock()
				r.bad = append(r.bad, fmt.Sprintf("body %s: %v", body, err))
				r.mu.Unlock()
			}
			r.mu.Lock()
			r.ok = append(r.ok, req.Header.Get("webhook-id"))
			r.seqs = append(r.seqs, msg.Data.N)
			r.mu.Unlock()
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) snapshot() (ok []string, seqs []int, bad, all []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ok...), append([]int(nil), r.seqs...), append([]string(nil), r.bad...), append([]string(nil), r.all...)
}

// startProcess runs one app process's background worker (webhooks only) on the test database.
func startProcess(t *testing.T, db *bun.DB, timeout time.Duration) {
	t.Helper()
	d := &mail.Delivery{DB: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: testdb.Clock,
		PollInterval: 50 * time.Millisecond, NoMail: true,
		Webhooks: &webhook.Worker{DB: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: testdb.Clock,
			RetryBase: 100 * time.Millisecond, Busy: 50 * time.Millisecond,
			Sender: &webhook.Sender{AllowPrivate: true, Timeout: timeout}}}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Stop(ctx)
	})
}

type team struct {
	ws    *models.Workspace
	owner *models.User
}

func newTeam(t *testing.T, db bun.IDB) team {
	t.Helper()
	ctx := context.Background()
	tag := uuid.NewString()[:8]
	u, err := models.CreateUser(ctx, db, models.NewUser{Email: "owner-" + tag + "@example.com", Name: "Owner", Password: "correct horse battery"}, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	ws, err := models.CreateWorkspace(ctx, db, u, "Hooks "+tag, "hooks-"+tag, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	return team{ws: ws, owner: u}
}

func (tm team) in(t *testing.T, db bun.IDB, fn func(ctx context.Context, tn *models.Tenant) error) {
	t.Helper()
	if err := models.InWorkspace(testdb.Ctx(t), db, tm.ws.ID, fn); err != nil {
		t.Fatal(err)
	}
}

func (tm team) endpoint(t *testing.T, db bun.IDB, url string, types ...string) *models.WebhookEndpoint {
	t.Helper()
	var e *models.WebhookEndpoint
	tm.in(t, db, func(ctx context.Context, tn *models.Tenant) (err error) {
		e, err = models.CreateWebhookEndpoint(ctx, tn, models.Actor{UserID: tm.owner.ID, Role: models.RoleOwner},
			models.NewWebhookEndpoint{URL: url, EventTypes: types}, models.WebhookURLRules{AllowHTTP: true, AllowPrivate: true}, testdb.Now(t))
		return err
	})
	return e
}

func (tm team) emit(t *testing.T, db bun.IDB, typ string, n int) {
	t.Helper()
	tm.in(t, db, func(ctx context.Context, tn *models.Tenant) error {
		return models.EmitEvent(ctx, tn, typ, map[string]any{"n": n, "workspace": tm.ws.Slug}, testdb.Now(t))
	})
}

// deliveries reads ws's deliveries as the owner of the tables: id → status.
func deliveries(t *testing.T, owner *bun.DB, ws uuid.UUID) map[string]string {
	t.Helper()
	var rows []struct {
		ID     string `bun:"id"`
		Status string `bun:"status"`
	}
	if err := owner.NewRaw("SELECT id::text AS id, status FROM webhook_deliveries WHERE workspace_id = ?", ws).Scan(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.ID] = r.Status
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDeliveriesInOrderThroughFailuresAcrossProcesses: two app processes work one database. A
// receiver that fails, then times out, then recovers gets every event of its workspace, verified
// with an independent implementation of the signature scheme, in the order they happened, none
// twice after it succeeded; each event has one delivery per endpoint, retried under its own id.
// Another workspace's receiver gets only its own workspace's events.
func TestDeliveriesInOrderThroughFailuresAcrossProcesses(t *testing.T) {
	d := testdb.Get(t)
	second, err := d.OpenApp(context.Background(), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.Close() })

	a, b := newTeam(t, d.App), newTeam(t, d.App)
	ra, rb := newReceiver(t), newReceiver(t)
	ra.behave = func(n int) (int, time.Duration) {
		switch {
		case n <= 2:
			return 500, 0
		case n == 3:
			return 200, 2 * time.Second // beyond the sender's timeout
		}
		return 204, 0
	}
	ea := a.endpoint(t, d.App, ra.URL+"/hook", "member.*")
	eb := b.endpoint(t, d.App, rb.URL+"/hook", "member.*")
	ra.secret = func() string { return ea.Secret }
	rb.secret = func() string { return eb.Secret }

	const events = 8
	for i := 1; i <= events; i++ {
		a.emit(t, d.App, "member.added", i)
		b.emit(t, second, "member.added", 100+i)
	}
	startProcess(t, d.App, 500*time.Millisecond)
	startProcess(t, second, 500*time.Millisecond)

	waitFor(t, "every delivery of both workspaces", func() bool {
		okA, _, _, _ := ra.snapshot()
		okB, _, _, _ := rb.snapshot()
		return len(okA) >= events && len(okB) >= events
	})
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show
	okA, seqA, badA, allA := ra.snapshot()
	okB, seqB, badB, _ := rb.snapshot()
	if len(badA)+len(badB) > 0 {
		t.Errorf("signature or body problems: %v %v", badA, badB)
	}
	for i, n := range seqA {
		if n != i+1 {
			t.Fatalf("workspace A received events %v; want 1..%d in order, each once", seqA, events)
		}
	}
	for i, n := range seqB {
		if n != 101+i {
			t.Fatalf("workspace B received events %v; want 101..%d in order, each once (and nothing of A's)", seqB, 100+events)
		}
	}
	if len(okA) != events || len(okB) != events {
		t.Errorf("successes: A %d, B %d; want %d each", len(okA), len(okB), events)
	}
	// The failures and the timeout were of the first event's delivery, retried under its id.
	if len(allA) < events+3 || allA[0] != allA[1] || allA[1] != allA[2] || allA[0] != okA[0] {
		t.Errorf("requests to A: %v; want the first delivery tried three times under one id before it succeeded", allA)
	}
	stA := deliveries(t, d.Owner, a.ws.ID)
	if len(stA) != events {
		t.Errorf("workspace A has %d deliveries; want one per event (%d)", len(stA), events)
	}
	for _, id := range okA {
		if stA[id] != models.DeliverySucceeded {
			t.Errorf("delivery %s is %q; want succeeded", id, stA[id])
		}
	}
	var attempts int
	if err := d.Owner.NewRaw("SELECT attempts FROM webhook_deliveries WHERE id = ?", okA[0]).Scan(context.Background(), &attempts); err != nil {
		t.Fatal(err)
	}
	if attempts != 4 {
		t.Errorf("the first delivery recorded %d attempts; want 4 (two errors, a timeout, a success)", attempts)
	}
}

// TestSenderRefusesPrivateAddresses: with private addresses refused, the address a connection
// goes to is checked after resolution, so neither a loopback literal nor a name that resolves
// to loopback reaches the receiver.
func TestSenderRefusesPrivateAddresses(t *testing.T) {
	r := newReceiver(t)
	r.secret = func() string { return "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef01234567")) }
	port := r.Listener.Addr().(interface{ String() string }).String()
	_, port, _ = strings.Cut(port, ":")
	s := &webhook.Sender{Timeout: 2 * time.Second}
	ev := &models.WebhookEvent{ID: models.NewID(), Type: "member.added", Data: json.RawMessage(`{}`), CreatedAt: testdb.Now(t)}
	for _, url := range []string{r.URL, "http://localhost:" + port + "/hook", "http://[::1]:" + port + "/"} {
		e := &models.WebhookEndpoint{URL: url, Secret: r.secret()}
		res := s.Send(context.Background(), e, models.NewID().String(), ev, testdb.Now(t))
		if res.OK() || !strings.Contains(res.Err, "refused") {
			t.Errorf("%s: %+v; want refused", url, res)
		}
	}
	if _, _, _, all := r.snapshot(); len(all) != 0 {
		t.Errorf("the receiver got %d requests; want none", len(all))
	}
	// The same sender allowed private addresses reaches it, signed.
	ok := (&webhook.Sender{AllowPrivate: true}).Send(context.Background(), &models.WebhookEndpoint{URL: r.URL, Secret: r.secret()},
		models.NewID().String(), ev, testdb.Now(t))
	if !ok.OK() {
		t.Fatalf("allowed: %+v", ok)
	}
	if _, _, bad, _ := r.snapshot(); len(bad) != 0 {
		t.Errorf("signature: %v", bad)
	}
}

// TestRolledSecretSignsWithBoth: during a roll's grace period a delivery carries a signature
// with each secret, and either verifies it.
func TestRolledSecretSignsWithBoth(t *testing.T) {
	now := testdb.Now(t)
	old := "whsec_" + base64.StdEncoding.EncodeToString([]byte("old-secret-24-bytes-long"))
	newer := "whsec_" + base64.StdEncoding.EncodeToString([]byte("new-secret-24-bytes-long"))
	until := now.Add(time.Hour)
	e := &models.WebhookEndpoint{Secret: newer, PreviousSecret: &old, PreviousSecretUntil: &until}
	for _, at := range []time.Time{now, now.Add(2 * time.Hour)} {
		var got http.Header
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
		e.URL = srv.URL
		ev := &models.WebhookEvent{ID: models.NewID(), Type: "member.added", Data: json.RawMessage(`{"a":1}`), CreatedAt: at}
		if res := (&webhook.Sender{AllowPrivate: true}).Send(context.Background(), e, "msg_1", ev, at); !res.OK() {
			t.Fatalf("%+v", res)
		}
		srv.Close()
		body := ev.Body()
		inGrace := at.Before(until)
		if err := verify(newer, got, body, at); err != nil {
			t.Errorf("at %s: new secret: %v", at, err)
		}
		if err := verify(old, got, body, at); (err == nil) != inGrace {
			t.Errorf("at %s (grace %v): old secret verifies: %v", at, inGrace, err)
		}
		if n := len(strings.Fields(got.Get("webhook-signature"))); n != map[bool]int{true: 2, false: 1}[inGrace] {
			t.Errorf("at %s: %d signatures", at, n)
		}
	}
}
