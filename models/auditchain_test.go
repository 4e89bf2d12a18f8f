package models_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

// recordN appends n events to ws's audit log at the tests' clock, one transaction each.
func recordN(t *testing.T, db bun.IDB, ws uuid.UUID, n int, at time.Time) {
	t.Helper()
	for i := range n {
		err := models.InWorkspace(testdb.Ctx(t), db, ws, func(ctx context.Context, tn *models.Tenant) error {
			return models.Record(ctx, tn, models.Event{Action: "test.event", Target: fmt.Sprintf("t%d", i),
				Details: map[string]any{"i": i}, At: at.Add(time.Duration(i) * time.Second)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func verifyChain(t *testing.T, db bun.IDB, ws uuid.UUID) *models.ChainReport {
	t.Helper()
	var r *models.ChainReport
	err := models.InWorkspace(testdb.Ctx(t), db, ws, func(ctx context.Context, tn *models.Tenant) error {
		var err error
		r, err = models.VerifyAuditChain(ctx, tn, testdb.Now(t))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// chainIDs lists ws's events' ids in chain order.
func chainIDs(t *testing.T, db bun.IDB, ws uuid.UUID) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	err := models.InWorkspace(testdb.Ctx(t), db, ws, func(ctx context.Context, tn *models.Tenant) error {
		return models.EachAuditChainEvent(ctx, tn, func(e *models.ChainEvent) error {
			ids = append(ids, e.ID)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestAuditChainConcurrentWrites: many goroutines recording into several workspaces at once leave
// one unbroken chain per workspace, seq 1…N without a gap, the head at the last event.
func TestAuditChainConcurrentWrites(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t)
	wss := make([]uuid.UUID, 4)
	base := make([]int, len(wss))
	for i := range wss {
		wss[i] = newFixtureWorkspace(t, d.App)
		base[i] = len(chainIDs(t, d.App, wss[i])) // workspace.create
	}
	const writers, each = 12, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ws := wss[(w+i)%len(wss)]
				errs <- models.InWorkspace(context.Background(), d.App, ws, func(ctx context.Context, tn *models.Tenant) error {
					return models.Record(ctx, tn, models.Event{Action: "test.concurrent", Target: fmt.Sprintf("w%d-%d", w, i),
						Details: map[string]any{"writer": w, "i": i}, At: now})
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for i, ws := range wss {
		r := verifyChain(t, d.App, ws)
		if !r.OK() {
			t.Fatalf("workspace %d: chain broken: %v", i, r.Broken)
		}
		n := len(chainIDs(t, d.App, ws))
		if int64(n) != r.Events || r.Head.Seq != int64(n) {
			t.Errorf("workspace %d: %d events, %d verified, head seq %d", i, n, r.Events, r.Head.Seq)
		}
		total += n - base[i]
	}
	if total != writers*each {
		t.Errorf("%d events chained, %d recorded", total, writers*each)
	}
}

// TestAuditCanonicalFormMatchesDatabase: the Go canonical form of events with awkward details
// (escapes, control characters, non-ASCII, HTML characters, numbers in several spellings, nesting)
// is byte for byte the database's, so the hashes the trigger wrote verify.
func TestAuditCanonicalFormMatchesDatabase(t *testing.T) {
	d := testdb.Get(t)
	ws := newFixtureWorkspace(t, d.App)
	details := []map[string]any{
		{"quote": `a "b" \c`, "ctl": "\x01\x1f\b\f\n\r\t", "html": "<a href='x'>&</a>", "ls": "\u2028\u2029", "uni": "Zoë 東京 🎉", "del": "\x7f", "/": "a/b"},
		{"n": 1.5, "big": 1e21, "neg": -0.000001, "int": 12345678901234, "z": 0, "b": true, "nil": nil},
		{"nested": map[string]any{"b": []any{1, "two", map[string]any{"y": 1, "x": nil}}, "a": map[string]any{}}, "": "empty key", "B": 1, "a": 2, "é": 3},
		{},
	}
	for i, det := range details {
		err := models.InWorkspace(testdb.Ctx(t), d.App, ws, func(ctx context.Context, tn *models.Tenant) error {
			return models.Record(ctx, tn, models.Event{Action: "test.canonical", Target: "tgt \"\n" + fmt.Sprint(i), Details: det,
				IP: "203.0.113.7", At: testdb.Now(t).Add(time.Duration(i)*time.Microsecond + 123*time.Nanosecond)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := models.InWorkspace(testdb.Ctx(t), d.App, ws, func(ctx context.Context, tn *models.Tenant) error {
		return models.EachAuditChainEvent(ctx, tn, func(e *models.ChainEvent) error {
			var db string
			if err := tn.Tx().NewRaw(`SELECT atrium_audit_canonical(seq, id, workspace_id, actor_user_id, actor_key_id, action, target, details, ip, created_at, prev_hash)
				FROM audit_events WHERE workspace_id = ? AND id = ?`, ws, e.ID).Scan(ctx, &db); err != nil {
				return err
			}
			got, err := e.Canonical()
			if err != nil {
				return err
			}
			if got != db {
				t.Errorf("seq %d: canonical forms differ:\n go: %s\n db: %s", e.Seq, got, db)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := verifyChain(t, d.App, ws); !r.OK() {
		t.Fatalf("chain broken: %v", r.Broken)
	}
}

// tamper runs statements as the database's owner would, outside the application.
func tamper(t *testing.T, db bun.IDB, bypassTriggers bool, stmts ...string) {
	t.Helper()
	err := db.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
		if bypassTriggers {
			if _, err := tx.ExecContext(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
				return err
			}
		}
		for _, s := range stmts {
			res, err := tx.ExecContext(ctx, s)
			if err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("%s: no row changed", s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAuditChainTamperingPinpointed: altering, deleting or reordering events in the database as its
// superuser is found by verification, which names the first event whose link is broken.
func TestAuditChainTamperingPinpointed(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t)
	cases := []struct {
		name string
		// do tampers with the chain of ws, whose events are ids in chain order; it returns the
		// event verification must name (uuid.Nil: none) and a word its reason must contain.
		do func(ws uuid.UUID, ids []uuid.UUID) (uuid.UUID, string)
	}{
		{"details altered, triggers bypassed", func(ws uuid.UUID, ids []uuid.UUID) (uuid.UUID, string) {
			tamper(t, d.Owner, true, fmt.Sprintf(`UPDATE audit_events SET details = '{"i": 99}' WHERE workspace_id = '%s' AND id = '%s'`, ws, ids[3]))
			return ids[3], "contents"
		}},
		{"target altered through the trigger", func(ws uuid.UUID, ids []uuid.UUID) (uuid.UUID, string) {
			tamper(t, d.Owner, false, fmt.Sprintf(`UPDATE audit_events SET target = 'someone else' WHERE workspace_id = '%s' AND id = '%s'`, ws, ids[2]))
			return ids[2], "redaction"
		}},
		{"time altered and its hash recomputed", func(ws uuid.UUID, ids []uuid.UUID) (uuid.UUID, string) {
			tamper(t, d.Owner, true, fmt.Sprintf(`UPDATE audit_events SET created_at = created_at - interval '1 day',
				hash = atrium_audit_hash(seq, id, workspace_id, actor_user_id, actor_key_id, action, target, details, ip, created_at - interval '1 day', prev_hash)
				WHERE workspace_id = '%s' AND id = '%s'`, ws, ids[2]))
			return ids[3], "previous hash"
		}},
		{"an event in the middle deleted", func(ws uuid.UUID, ids []uuid.UUID) (uuid.UUID, string) {
			tamper(t, d.Owner, false, fmt.Sprintf(`DELETE FROM audit_events WHERE workspace_id = '%s' AND id = '%s'`, ws, ids[4]))
			return ids[5], "missing"
		}},
		{"the newest events deleted", func(ws uuid.UUID, ids []uuid.UUID) (uuid.UUID, string) {
			tamper(t, d.Owner, false, fmt.Sprintf(`DELETE FROM audit_events WHERE workspace_id = '%s' AND id IN ('%s', '%s')`, ws, ids[len(ids)-1], ids[len(ids)-2]))
			return ids[len(ids)-3], "missing"
		}},
		{"the newest events deleted and the head moved back", func(ws uuid.UUID, ids []uuid.UUID) (uuid.UUID, string) {
			// A head moved back without the deleted event's predecessor's hash does not match either.
			tamper(t, d.Owner, false, fmt.Sprintf(`DELETE FROM audit_events WHERE workspace_id = '%s' AND id = '%s'`, ws, ids[len(ids)-1]),
				fmt.Sprintf(`UPDATE audit_chain_heads SET seq = seq - 1, hash = 'x' WHERE workspace_id = '%s'`, ws))
			return ids[len(ids)-2], "head"
		}},
		{"two events swapped", func(ws uuid.UUID, ids []uuid.UUID) (uuid.UUID, string) {
			tamper(t, d.Owner, true,
				fmt.Sprintf(`UPDATE audit_events SET seq = -seq WHERE workspace_id = '%s' AND id IN ('%s', '%s')`, ws, ids[2], ids[3]),
				fmt.Sprintf(`UPDATE audit_events SET seq = CASE WHEN id = '%[2]s' THEN 4 ELSE 3 END WHERE workspace_id = '%[1]s' AND id IN ('%[2]s', '%[3]s')`, ws, ids[2], ids[3]))
			return ids[3], "previous hash"
		}},
		{"the first event deleted", func(ws uuid.UUID, ids []uuid.UUID) (uuid.UUID, string) {
			tamper(t, d.Owner, false, fmt.Sprintf(`DELETE FROM audit_events WHERE workspace_id = '%s' AND id = '%s'`, ws, ids[0]))
			return ids[1], "missing"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ws := newFixtureWorkspace(t, d.App)
			dropWorkspaceAfter(t, d.Owner, ws) // a broken chain would hold up other tests' retention sweeps
			recordN(t, d.App, ws, 7, now)
			if r := verifyChain(t, d.App, ws); !r.OK() || r.Events != 8 {
				t.Fatalf("before tampering: %+v, broken %v", r, r.Broken)
			}
			ids := chainIDs(t, d.App, ws)
			want, word := c.do(ws, ids)
			r := verifyChain(t, d.App, ws)
			if r.OK() {
				t.Fatal("tampering went unnoticed")
			}
			if r.Broken.EventID != want {
				t.Errorf("named event %s (%v), want %s", r.Broken.EventID, r.Broken, want)
			}
			if !strings.Contains(r.Broken.Reason, word) {
				t.Errorf("reason %q does not say %q", r.Broken.Reason, word)
			}
		})
	}
}

// TestAuditChainErasureRedactions: an account's erasure rewrites the person's events; they keep
// their places, signed as redactions, and the chain verifies. A redaction changed afterwards, or
// signed with another key, does not.
func TestAuditChainErasureRedactions(t *testing.T) {
	ctx := context.Background()
	d := testdb.Get(t)
	pw := "correct horse battery staple"
	owner := newUser(t, d.App)
	leaver, err := models.CreateUser(ctx, d.App, models.NewUser{Email: "chain-leaver-" + uuid.NewString()[:6] + "@example.com", Name: "Lea Ver", Password: pw}, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	slug := "chain-" + uuid.NewString()[:8]
	ws, err := models.CreateWorkspace(ctx, d.App, owner, "Chain", slug, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner.NewRaw("INSERT INTO workspace_members (workspace_id, user_id, role, created_at) VALUES (?, ?, 'member', ?)", ws.ID, leaver.ID, testdb.Clock()).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	err = models.InWorkspace(ctx, d.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		return models.Record(ctx, tn, models.Event{ActorUserID: leaver.ID, Action: "test.by_leaver", Target: leaver.Email,
			Details: map[string]any{"who": leaver.Email}, IP: "198.51.100.1", At: testdb.Now(t)})
	})
	if err != nil {
		t.Fatal(err)
	}
	recordN(t, d.App, ws.ID, 2, testdb.Now(t))
	if _, err := models.DeleteAccount(ctx, d.App, leaver, models.AccountDeletion{Password: pw}, testdb.Now(t)); err != nil {
		t.Fatal(err)
	}
	var redacted int
	if err := d.Owner.NewRaw("SELECT count(*) FROM audit_events WHERE workspace_id = ? AND redacted AND redaction_sig IS NOT NULL", ws.ID).Scan(ctx, &redacted); err != nil {
		t.Fatal(err)
	}
	if redacted < 2 { // the leaver's event and the leave itself
		t.Fatalf("%d signed redactions", redacted)
	}
	r := verifyChain(t, d.App, ws.ID)
	if !r.OK() {
		t.Fatalf("chain broken after the erasure: %v", r.Broken)
	}
	var id uuid.UUID
	if err := d.Owner.NewRaw("SELECT id FROM audit_events WHERE workspace_id = ? AND action = 'test.by_leaver'", ws.ID).Scan(ctx, &id); err != nil {
		t.Fatal(err)
	}
	// A further change keeps the signature (triggers bypassed): it no longer matches.
	tamper(t, d.Owner, true, fmt.Sprintf(`UPDATE audit_events SET ip = '192.0.2.1' WHERE workspace_id = '%s' AND id = '%s'`, ws.ID, id))
	if r := verifyChain(t, d.App, ws.ID); r.OK() || r.Broken.EventID != id {
		t.Fatalf("a changed redaction: %+v", r.Broken)
	}
}

// dropWorkspaceAfter deletes the workspace when the test ends.
func dropWorkspaceAfter(t *testing.T, owner bun.IDB, ws uuid.UUID) {
	t.Cleanup(func() {
		if _, err := owner.NewRaw("DELETE FROM workspaces WHERE id = ?", ws).Exec(context.Background()); err != nil {
			t.Errorf("drop workspace: %v", err)
		}
	})
}

// bareWorkspace makes a workspace of tier with no audit event (as the owner), so a test decides
// every event of its chain.
func bareWorkspace(t *testing.T, owner bun.IDB, tier models.Tier, retentionDays any) uuid.UUID {
	t.Helper()
	id := models.NewID()
	if _, err := owner.NewRaw("INSERT INTO workspaces (id, name, slug, tier, audit_retention_days, created_at) VALUES (?, 'Bare', ?, ?, ?, ?)",
		id, "bare-"+uuid.NewString()[:8], tier, retentionDays, testdb.Clock()).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	return id
}

func countEvents(t *testing.T, owner bun.IDB, ws uuid.UUID) int {
	t.Helper()
	var n int
	if err := owner.NewRaw("SELECT count(*) FROM audit_events WHERE workspace_id = ?", ws).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAuditRetentionPrunesBehindASignedCheckpoint: the retention sweep removes each workspace's
// audit events past its tier's retention (Free 30 days, Pro 365, Enterprise its own or 365, 0 for
// forever), oldest first, only up to the first event still within it; the rest of the chain
// verifies from the signed checkpoint. A checkpoint changed in the database is detected, and a
// chain that does not verify is not pruned.
func TestAuditRetentionPrunesBehindASignedCheckpoint(t *testing.T) {
	d := testdb.Get(t)
	ctx := testdb.Ctx(t)
	now := testdb.Now(t)
	day := 24 * time.Hour
	free := bareWorkspace(t, d.Owner, models.TierFree, nil)
	recordN(t, d.App, free, 5, now.Add(-40*day))
	recordN(t, d.App, free, 3, now.Add(-10*day))
	recordN(t, d.App, free, 1, now.Add(-50*day)) // out of time order: after one within retention, so it stays
	pro := bareWorkspace(t, d.Owner, models.TierPro, nil)
	recordN(t, d.App, pro, 2, now.Add(-400*day))
	recordN(t, d.App, pro, 2, now.Add(-10*day))
	entDefault := bareWorkspace(t, d.Owner, models.TierEnterprise, nil)
	recordN(t, d.App, entDefault, 2, now.Add(-400*day))
	recordN(t, d.App, entDefault, 1, now)
	entForever := bareWorkspace(t, d.Owner, models.TierEnterprise, 0)
	recordN(t, d.App, entForever, 2, now.Add(-4000*day))
	entShort := bareWorkspace(t, d.Owner, models.TierEnterprise, 7)
	recordN(t, d.App, entShort, 2, now.Add(-8*day))
	recordN(t, d.App, entShort, 1, now.Add(-6*day))
	broken := bareWorkspace(t, d.Owner, models.TierFree, nil)
	dropWorkspaceAfter(t, d.Owner, broken)
	recordN(t, d.App, broken, 3, now.Add(-40*day))
	brokenIDs := chainIDs(t, d.App, broken)
	tamper(t, d.Owner, true, fmt.Sprintf(`UPDATE audit_events SET target = 'x' WHERE workspace_id = '%s' AND id = '%s'`, broken, brokenIDs[1]))

	res, err := models.RunRetention(ctx, d.App, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.AuditEvents < 5+2+2+2 || res.AuditBroken < 1 {
		t.Errorf("reported %+v", res)
	}
	for _, c := range []struct {
		name       string
		ws         uuid.UUID
		left       int
		checkpoint int64
	}{{"free", free, 4, 5}, {"pro", pro, 2, 2}, {"enterprise default", entDefault, 1, 2}, {"enterprise forever", entForever, 2, 0},
		{"enterprise 7 days", entShort, 1, 2}, {"broken", broken, 3, 0}} {
		if n := countEvents(t, d.Owner, c.ws); n != c.left {
			t.Errorf("%s: %d events left, want %d", c.name, n, c.left)
		}
		r := verifyChain(t, d.App, c.ws)
		if c.name == "broken" {
			if r.OK() || r.Broken.EventID != brokenIDs[1] {
				t.Errorf("broken: %+v", r.Broken)
			}
			continue
		}
		if !r.OK() {
			t.Errorf("%s: chain broken after pruning: %v", c.name, r.Broken)
			continue
		}
		var cp int64
		if r.Checkpoint != nil {
			cp = r.Checkpoint.Seq
		}
		if cp != c.checkpoint || r.Events != int64(c.left) {
			t.Errorf("%s: checkpoint at %d, %d events verified; want %d, %d", c.name, cp, r.Events, c.checkpoint, c.left)
		}
	}
	if again, err := models.RunRetention(ctx, d.App, now); err != nil || again.AuditEvents != 0 {
		t.Errorf("a second sweep pruned %+v (%v)", again, err)
	}

	// A checkpoint moved in the database (its signature no longer covers it), or re-signed with
	// another key, is detected.
	tamper(t, d.Owner, false, fmt.Sprintf(`UPDATE audit_checkpoints SET seq = 4 WHERE workspace_id = '%s'`, free))
	if r := verifyChain(t, d.App, free); r.OK() || !strings.Contains(r.Broken.Reason, "checkpoint") {
		t.Errorf("moved checkpoint: %+v", r.Broken)
	}
	tamper(t, d.Owner, false, fmt.Sprintf(`UPDATE audit_checkpoints SET seq = 5, signature = repeat('ab', 32) WHERE workspace_id = '%s'`, free))
	if r := verifyChain(t, d.App, free); r.OK() || !strings.Contains(r.Broken.Reason, "checkpoint") {
		t.Errorf("forged signature: %+v", r.Broken)
	}
	// Events removed with a checkpoint forged past them: the signature does not hold either.
	tamper(t, d.Owner, false, fmt.Sprintf(`DELETE FROM audit_events WHERE workspace_id = '%s' AND seq = 6`, free),
		fmt.Sprintf(`UPDATE audit_checkpoints SET seq = 6, hash = (SELECT prev_hash FROM audit_events WHERE workspace_id = '%[1]s' AND seq = 7) WHERE workspace_id = '%[1]s'`, free))
	if r := verifyChain(t, d.App, free); r.OK() || !strings.Contains(r.Broken.Reason, "checkpoint") {
		t.Errorf("checkpoint forged past deleted events: %+v", r.Broken)
	}
	dropWorkspaceAfter(t, d.Owner, free)
}

// TestAuditEventsAreWebhookEvents: with an endpoint subscribed to audit.event, each recorded event
// is emitted in the insert's own statement, with its hash and seq; without a subscriber nothing is
// written.
func TestAuditEventsAreWebhookEvents(t *testing.T) {
	d := testdb.Get(t)
	tm := newKeyTeam(t, d.App)
	recordN(t, d.App, tm.ws.ID, 1, testdb.Now(t))
	if n, _, _ := hookRows(t, d.Owner, tm.ws.ID, "audit.event"); n != 0 {
		t.Fatalf("%d audit.event events without a subscriber", n)
	}
	hookEndpoint(t, d.App, tm, "http://127.0.0.1:9/hook", "audit.*")
	recordN(t, d.App, tm.ws.ID, 2, testdb.Now(t))
	events, deliveries, _ := hookRows(t, d.Owner, tm.ws.ID, "audit.event")
	if events != 3 || deliveries != 3 { // the endpoint's own creation, audited, and the 2
		t.Fatalf("%d events, %d deliveries; want 3 each", events, deliveries)
	}
	var hash, chained string
	err := d.Owner.NewRaw(`SELECT v.data->>'hash', e.hash FROM webhook_events v JOIN audit_events e
		ON e.workspace_id = v.workspace_id AND e.seq = (v.data->>'seq')::bigint
		WHERE v.workspace_id = ? AND v.type = 'audit.event' ORDER BY v.seq DESC LIMIT 1`, tm.ws.ID).Scan(context.Background(), &hash, &chained)
	if err != nil || hash == "" || hash != chained {
		t.Fatalf("the event's hash %q, the chain's %q (%v)", hash, chained, err)
	}
}

// TestAuditNotedHeadBehindACheckpoint: a head noted before retention pruned the chain's beginning
// is compared with the signed checkpoint when it is the checkpoint's event, cannot be compared (and
// says so) when it was pruned before it, and is found as usual after it; a head past the chain's
// end is a cut tail.
func TestAuditNotedHeadBehindACheckpoint(t *testing.T) {
	d := testdb.Get(t)
	ctx := testdb.Ctx(t)
	now := testdb.Now(t)
	day := 24 * time.Hour
	ws := bareWorkspace(t, d.Owner, models.TierFree, nil)
	recordN(t, d.App, ws, 5, now.Add(-40*day))
	recordN(t, d.App, ws, 3, now.Add(-10*day))
	hashes := map[int64]string{}
	var rows []models.ChainLink
	if err := d.Owner.NewRaw("SELECT seq, hash FROM audit_events WHERE workspace_id = ? ORDER BY seq", ws).Scan(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	for _, l := range rows {
		hashes[l.Seq] = l.Hash
	}
	if len(hashes) != 8 {
		t.Fatalf("%d events, want 8", len(hashes))
	}
	if _, err := models.RunRetention(ctx, d.App, now); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		noted  models.ChainLink
		reason string // "" when it holds
	}{
		{"the checkpoint's event", models.ChainLink{Seq: 5, Hash: hashes[5]}, ""},
		{"the checkpoint's event with another hash", models.ChainLink{Seq: 5, Hash: hashes[4]}, "checkpoint"},
		{"an event pruned before the checkpoint", models.ChainLink{Seq: 3, Hash: hashes[3]}, "pruned by retention"},
		{"an event after the checkpoint", models.ChainLink{Seq: 7, Hash: hashes[7]}, ""},
		{"the head", models.ChainLink{Seq: 8, Hash: hashes[8]}, ""},
		{"past the end", models.ChainLink{Seq: 9, Hash: hashes[8]}, "removed from its end"},
	} {
		var r *models.ChainReport
		err := models.InWorkspace(ctx, d.App, ws, func(ctx context.Context, tn *models.Tenant) error {
			var err error
			r, err = models.VerifyAuditChainHead(ctx, tn, now, &c.noted)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.Checkpoint == nil || r.Checkpoint.Seq != 5 {
			t.Fatalf("%s: checkpoint %+v, want seq 5", c.name, r.Checkpoint)
		}
		switch {
		case c.reason == "" && !r.OK():
			t.Errorf("%s: %v", c.name, r.Broken)
		case c.reason != "" && (r.OK() || !strings.Contains(r.Broken.Reason, c.reason)):
			t.Errorf("%s: %+v, want a break saying %q", c.name, r.Broken, c.reason)
		}
	}
}
