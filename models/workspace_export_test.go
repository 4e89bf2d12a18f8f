package models_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

// exportSeed is a workspace with one of everything an export holds, and every secret it must not.
type exportSeed struct {
	ws      *models.Workspace
	owner   *models.User
	actor   models.Actor
	secrets map[string]string // what must appear in no file, by what it is
	names   []string          // what does appear in this workspace's export and no other's
}

// seedExport makes a workspace with a member, an invitation, a key (rolled, so with a previous
// hash), agents, tasks with messages, usage and audit events; its owner has a password, a TOTP
// secret, recovery codes and a session.
func seedExport(t *testing.T, db, owner bun.IDB, tasks int) *exportSeed {
	t.Helper()
	ctx := testdb.Ctx(t)
	now := testdb.Now(t)
	tag := uuid.NewString()[:8]
	u := newUser(t, db)
	ws, err := models.CreateWorkspace(context.Background(), db, u, "Export "+tag, "exp-"+tag, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	s := &exportSeed{ws: ws, owner: u, actor: models.Actor{UserID: u.ID, Role: models.RoleOwner}, secrets: map[string]string{}}
	member := newUser(t, db)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := owner.NewRaw(q, args...).Exec(context.Background()); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var keyToken, rolledToken, invToken string
	err = models.InWorkspace(ctx, db, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		if _, err := models.ChangeTier(ctx, tn, s.actor, models.TierEnterprise, now); err != nil {
			return err
		}
		inv, err := models.CreateInvitation(ctx, tn, s.actor, "invitee-"+tag+"@example.com", models.RoleMember, now)
		if err != nil {
			return err
		}
		invToken = inv.Token
		k, token, err := models.CreateKey(ctx, tn, s.actor, models.NewKey{Name: "key " + tag, Scope: string(models.ScopeReadWrite), ExpiresInDays: "0"}, now)
		if err != nil {
			return err
		}
		keyToken = token
		if _, rolledToken, err = models.RollKey(ctx, tn, s.actor, k.ID, time.Hour, now); err != nil {
			return err
		}
		a := &models.Agent{CreatedAt: testdb.Clock(), ID: models.NewID(), Name: "agent " + tag, Status: "active"}
		if _, err := tn.Tx().NewInsert().Model(a).Exec(ctx); err != nil {
			return err
		}
		// Tasks with inputs that do not compress to nothing, so the zip spans several chunks.
		if _, err := tn.Tx().NewRaw(`INSERT INTO tasks (workspace_id, id, agent_id, status, input, created_at, started_at, finished_at, agent_minutes)
			SELECT ?, gen_random_uuid(), ?, 'succeeded', 'task '||i||' of '||?||' '||md5(i::text || ?) || md5(i::text || 'b') || md5(i::text || 'c') || md5(i::text || 'd') || md5(i::text || 'e'), ?::timestamptz - i * interval '1 second', ?::timestamptz - i * interval '1 second', ?, 1
			FROM generate_series(1, ?) AS i`, ws.ID, a.ID, tag, tag, now, now, now, tasks).Exec(ctx); err != nil {
			return err
		}
		if _, err := tn.Tx().NewRaw(`INSERT INTO messages (workspace_id, id, task_id, role, body, created_at)
			SELECT workspace_id, gen_random_uuid(), id, 'agent', 'reply of '||?, ? FROM tasks WHERE workspace_id = ? ORDER BY created_at LIMIT 10`,
			tag, now, ws.ID).Exec(ctx); err != nil {
			return err
		}
		_, err = tn.Tx().NewInsert().Model(&models.UsageHour{Hour: now.UTC().Truncate(time.Hour), APICalls: 7, AgentMinutes: 3}).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	exec(`INSERT INTO workspace_members (workspace_id, user_id, role, created_at) VALUES (?, ?, 'member', ?)`, ws.ID, member.ID, now)
	totp := "TOTPSECRET" + strings.ToUpper(tag)
	exec(`INSERT INTO user_totp (user_id, secret, created_at, enabled_at) VALUES (?, ?, ?, ?)`, u.ID, totp, now, now)
	exec(`INSERT INTO user_recovery_codes (user_id, code_hash) VALUES (?, ?)`, u.ID, "recoveryhash"+tag)
	exec(`INSERT INTO sessions (token, data, expiry) VALUES (?, ?, ?)`, "sessiontoken"+tag, []byte("sessiondata"+tag), now.Add(time.Hour))

	s.secrets["the key"] = keyToken
	s.secrets["the rolled key"] = rolledToken
	_, secret, _ := models.ParseKey(keyToken)
	s.secrets["the key's secret"] = secret
	_, rolledSecret, _ := models.ParseKey(rolledToken)
	s.secrets["the rolled key's secret"] = rolledSecret
	s.secrets["the invitation token"] = invToken
	s.secrets["the TOTP secret"] = totp
	s.secrets["a recovery code hash"] = "recoveryhash" + tag
	s.secrets["the session token"] = "sessiontoken" + tag
	s.secrets["the session data"] = "sessiondata" + tag
	var hashes []struct {
		Secret   []byte `bun:"secret_hash"`
		Previous []byte `bun:"previous_secret_hash"`
	}
	if err := owner.NewRaw(`SELECT secret_hash, previous_secret_hash FROM api_keys WHERE workspace_id = ?`, ws.ID).Scan(context.Background(), &hashes); err != nil || len(hashes) != 1 {
		t.Fatalf("key hashes: %v %d", err, len(hashes))
	}
	for what, h := range map[string][]byte{"key hash": hashes[0].Secret, "previous key hash": hashes[0].Previous} {
		s.secrets[what+" (hex)"] = hex.EncodeToString(h)
		s.secrets[what+" (base64)"] = base64.StdEncoding.EncodeToString(h)
	}
	for _, q := range []struct{ what, sql string }{
		{"the owner's password hash", `SELECT password_hash FROM users WHERE id = ?`},
		{"the member's password hash", `SELECT password_hash FROM users WHERE id = ?`},
	} {
		id := u.ID
		if strings.Contains(q.what, "member") {
			id = member.ID
		}
		var v string
		if err := owner.NewRaw(q.sql, id).Scan(context.Background(), &v); err != nil {
			t.Fatal(err)
		}
		s.secrets[q.what] = v
	}
	var invHash string
	if err := owner.NewRaw(`SELECT token_hash FROM invitations WHERE workspace_id = ?`, ws.ID).Scan(context.Background(), &invHash); err != nil {
		t.Fatal(err)
	}
	s.secrets["the invitation token hash"] = invHash
	s.names = []string{ws.ID.String(), ws.Slug, u.Email, member.Email, "invitee-" + tag, "agent " + tag, "key " + tag, "reply of " + tag}
	return s
}

// startAndBuild starts an export of s as its owner and builds it as the worker would.
func startAndBuild(t *testing.T, db bun.IDB, s *exportSeed, now time.Time) *models.WorkspaceExport {
	t.Helper()
	ctx := testdb.Ctx(t)
	var e *models.WorkspaceExport
	err := models.InWorkspace(ctx, db, s.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
		e, err = models.StartExport(ctx, tn, s.actor, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := models.BuildExport(ctx, db, s.ws.ID, e.ID, func() time.Time { return now }); err != nil {
		t.Fatal(err)
	}
	err = models.InWorkspace(ctx, db, s.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
		e, err = models.LatestExport(ctx, tn)
		return err
	})
	if err != nil || e.Status != models.ExportReady {
		t.Fatalf("after the build: %v %+v", err, e)
	}
	return e
}

// downloadExport reads the stored zip as an owner's download would.
func downloadExport(t *testing.T, db bun.IDB, s *exportSeed, token string, now time.Time) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	err := models.InWorkspace(testdb.Ctx(t), db, s.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		e, err := models.ExportForDownload(ctx, tn, s.actor, token, now)
		if err != nil {
			return err
		}
		return models.WriteExport(ctx, tn, e, &buf)
	})
	return buf.Bytes(), err
}

// verifiedExport opens a zip, checks its manifest and SHA256SUMS against every file, and returns
// the files with the manifest.
func verifiedExport(t *testing.T, raw []byte) (map[string][]byte, models.ExportManifest) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		files[f.Name] = b.Bytes()
	}
	var man models.ExportManifest
	if err := json.Unmarshal(files["manifest.json"], &man); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	want := []string{"workspace.json", "members.csv", "invitations.csv", "api_keys.csv", "agents.csv", "tasks.ndjson",
		"messages.ndjson", "usage_hourly.csv", "usage_daily.csv", "audit.ndjson", "audit_chain.json"}
	if len(man.Files) != len(want) {
		t.Fatalf("the manifest lists %d files, want %d", len(man.Files), len(want))
	}
	for i, f := range man.Files {
		b, ok := files[f.Name]
		if f.Name != want[i] || !ok {
			t.Fatalf("manifest file %d is %q (in the zip: %v), want %q", i, f.Name, ok, want[i])
		}
		if int64(len(b)) != f.Bytes || sum(b) != f.SHA256 {
			t.Errorf("%s: %d bytes, sha256 %s; the manifest says %d, %s", f.Name, len(b), sum(b), f.Bytes, f.SHA256)
		}
		lines := int64(bytes.Count(b, []byte("\n")))
		switch {
		case strings.HasSuffix(f.Name, ".csv"):
			lines-- // the header
		case f.Name == "workspace.json" || f.Name == "audit_chain.json":
			lines = 1
		}
		if lines != f.Rows {
			t.Errorf("%s: %d rows, the manifest says %d", f.Name, lines, f.Rows)
		}
	}
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(files["SHA256SUMS"]))
	for sc.Scan() {
		h, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		sums[name] = h
	}
	if len(sums) != len(want)+1 {
		t.Fatalf("SHA256SUMS has %d lines, want %d", len(sums), len(want)+1)
	}
	for name, h := range sums {
		if b, ok := files[name]; !ok || sum(b) != h {
			t.Errorf("SHA256SUMS: %s does not verify", name)
		}
	}
	return files, man
}

// TestWorkspaceExport: the export holds every table of the workspace, its manifest and checksums
// verify, the stored zip's size and SHA-256 are right, and no file holds a secret: not the keys, their
// secrets or hashes, password hashes, the TOTP secret, recovery codes, invitation tokens or their
// hashes, nor session tokens or data. Another workspace's export holds nothing of the first, and
// its owner's actor cannot fetch the first's zip with its token.
func TestWorkspaceExport(t *testing.T) {
	d := testdb.Get(t)
	db := d.App
	now := testdb.Now(t)
	a := seedExport(t, db, d.Owner, 12000)
	b := seedExport(t, db, d.Owner, 5)

	ea := startAndBuild(t, db, a, now)
	if ea.Token == "" || len(ea.Token) < 43 || ea.ExpiresAt == nil || ea.ExpiresAt.Sub(now.Add(models.ExportLinkLifetime)).Abs() > time.Millisecond {
		t.Fatalf("the link: token %q, expires %v", ea.Token, ea.ExpiresAt)
	}
	var chunks int
	if err := d.Owner.NewRaw(`SELECT count(*) FROM workspace_export_chunks WHERE workspace_id = ? AND export_id = ?`, a.ws.ID, ea.ID).
		Scan(context.Background(), &chunks); err != nil || chunks < 2 {
		t.Fatalf("the zip is in %d chunks (%v); this one should span several", chunks, err)
	}
	raw, err := downloadExport(t, db, a, ea.Token, now)
	if err != nil {
		t.Fatal(err)
	}
	whole := sha256.Sum256(raw)
	if int64(len(raw)) != ea.SizeBytes || hex.EncodeToString(whole[:]) != ea.SHA256 {
		t.Fatalf("the zip: %d bytes, the export says %d; sha256 %x, the export says %s", len(raw), ea.SizeBytes, whole, ea.SHA256)
	}
	files, man := verifiedExport(t, raw)
	if man.WorkspaceID != a.ws.ID || man.WorkspaceSlug != a.ws.Slug || !man.GeneratedAt.Equal(now.UTC()) || man.Format != models.ExportFormat {
		t.Fatalf("manifest header: %+v", man)
	}
	rows := map[string]int64{}
	for _, f := range man.Files {
		rows[f.Name] = f.Rows
	}
	if rows["tasks.ndjson"] != 12000 || rows["members.csv"] != 2 || rows["invitations.csv"] != 1 || rows["api_keys.csv"] != 1 ||
		rows["agents.csv"] != 1 || rows["messages.ndjson"] != 10 || rows["usage_hourly.csv"] != 1 || rows["audit.ndjson"] < 3 {
		t.Fatalf("rows: %v", rows)
	}
	if ea.RowsTotal != ea.RowsDone || ea.RowsTotal < 12000 {
		t.Fatalf("progress at the end: %d of %d", ea.RowsDone, ea.RowsTotal)
	}
	// The audit log is NDJSON in chain order whose details are JSON, not a string of it; each
	// event's hash is the SHA-256 of its canonical form and each prev_hash the hash before it, up
	// to the head that audit_chain.json names.
	first := bytes.SplitN(files["audit.ndjson"], []byte("\n"), 2)[0]
	var ev map[string]any
	if err := json.Unmarshal(first, &ev); err != nil {
		t.Fatalf("audit line %s: %v", first, err)
	}
	if _, ok := ev["details"].(map[string]any); !ok || ev["action"] == nil {
		t.Fatalf("audit line %s", first)
	}
	prev, seq := "", int64(0)
	for _, line := range bytes.Split(bytes.TrimSpace(files["audit.ndjson"]), []byte("\n")) {
		var e models.ChainEvent
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("audit line %s: %v", line, err)
		}
		h, err := e.ComputeHash()
		if err != nil || h != e.Hash || e.PrevHash != prev || e.Seq != seq+1 || e.WorkspaceID != a.ws.ID {
			t.Fatalf("audit event %d does not chain: hash %s (computed %s, %v), prev %s want %s", e.Seq, e.Hash, h, err, e.PrevHash, prev)
		}
		prev, seq = e.Hash, e.Seq
	}
	var chain struct {
		Head models.ChainLink `json:"head"`
	}
	if err := json.Unmarshal(files["audit_chain.json"], &chain); err != nil || chain.Head.Seq != seq || chain.Head.Hash != prev {
		t.Fatalf("audit_chain.json: %v %+v, the last event is %d %s", err, chain, seq, prev)
	}

	for name, body := range files {
		for what, secret := range a.secrets {
			if secret != "" && bytes.Contains(body, []byte(secret)) {
				t.Errorf("%s holds %s", name, what)
			}
		}
		for what, secret := range b.secrets {
			if secret != "" && bytes.Contains(body, []byte(secret)) {
				t.Errorf("%s holds the other workspace's %s", name, what)
			}
		}
		for _, n := range b.names {
			if bytes.Contains(body, []byte(n)) {
				t.Errorf("%s holds the other workspace's %q", name, n)
			}
		}
	}
	all := bytes.Join(func() [][]byte {
		var out [][]byte
		for _, b := range files {
			out = append(out, b)
		}
		return out
	}(), nil)
	for _, n := range a.names {
		if !bytes.Contains(all, []byte(n)) {
			t.Errorf("the export misses %q", n)
		}
	}

	// B's export, and B's transaction asked for A's token: nothing.
	eb := startAndBuild(t, db, b, now)
	rawB, err := downloadExport(t, db, b, eb.Token, now)
	if err != nil {
		t.Fatal(err)
	}
	filesB, _ := verifiedExport(t, rawB)
	for name, body := range filesB {
		for _, n := range a.names {
			if bytes.Contains(body, []byte(n)) {
				t.Errorf("B's %s holds A's %q", name, n)
			}
		}
	}
	if _, err := downloadExport(t, db, b, ea.Token, now); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("A's token in B's workspace: %v", err)
	}
}

// TestWorkspaceExportRefusalsAndExpiry: only owners start or download an export; a second start
// while one is being built returns that one; the link works until ExportLinkLifetime has passed and
// not after; the retention sweep then deletes the export and its zip, and leaves a newer one.
func TestWorkspaceExportRefusalsAndExpiry(t *testing.T) {
	d := testdb.Get(t)
	db := d.App
	ctx := testdb.Ctx(t)
	now := testdb.Now(t)
	s := seedExport(t, db, d.Owner, 3)
	for _, role := range []models.Role{models.RoleAdmin, models.RoleMember, models.RoleViewer} {
		err := models.InWorkspace(ctx, db, s.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := models.StartExport(ctx, tn, models.Actor{UserID: s.owner.ID, Role: role}, now)
			return err
		})
		if !errors.Is(err, models.ErrForbidden) {
			t.Fatalf("%s starting an export: %v", role, err)
		}
	}
	var first, again *models.WorkspaceExport
	err := models.InWorkspace(ctx, db, s.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
		if first, err = models.StartExport(ctx, tn, s.actor, now); err != nil {
			return err
		}
		again, err = models.StartExport(ctx, tn, s.actor, now)
		return err
	})
	if err != nil || again.ID != first.ID || first.Status != models.ExportQueued {
		t.Fatalf("a second start while building: %v, %v vs %v", err, again, first)
	}
	if err := models.BuildExport(ctx, db, s.ws.ID, first.ID, func() time.Time { return now }); err != nil {
		t.Fatal(err)
	}
	if _, err := downloadExport(t, db, s, first.Token, now.Add(models.ExportLinkLifetime-time.Second)); err != nil {
		t.Fatalf("just before the expiry: %v", err)
	}
	admin := *s
	admin.actor.Role = models.RoleAdmin
	if _, err := downloadExport(t, db, &admin, first.Token, now); !errors.Is(err, models.ErrForbidden) {
		t.Fatalf("an admin's download: %v", err)
	}
	if _, err := downloadExport(t, db, s, first.Token, now.Add(models.ExportLinkLifetime)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("at the expiry: %v", err)
	}
	if _, err := downloadExport(t, db, s, "not-a-token", now); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("a made-up token: %v", err)
	}
	later := now.Add(2 * time.Hour)
	second := startAndBuild(t, db, s, later)
	count := func(q string) int {
		var n int
		if err := d.Owner.NewRaw(q, s.ws.ID).Scan(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	r, err := models.RunRetention(ctx, db, now.Add(models.ExportLinkLifetime+time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r.Exports < 1 || count(`SELECT count(*) FROM workspace_exports WHERE workspace_id = ?`) != 2 ||
		count(`SELECT count(*) FROM workspace_exports WHERE workspace_id = ? AND status = 'expired'`) != 1 ||
		count(`SELECT count(*) FROM workspace_export_chunks WHERE workspace_id = ? AND export_id = '`+first.ID.String()+`'`) != 0 {
		t.Fatalf("after the sweep: %+v", r)
	}
	if _, err := downloadExport(t, db, s, second.Token, later); err != nil {
		t.Fatalf("the newer export after the sweep: %v", err)
	}
}

// TestExportSweepLeavesATombstone: when an export's link expires the sweep deletes its zip and
// keeps the row, marked expired, so the link still says it expired (not "not found");
// ExportTombstoneRetention after the expiry the row goes too and the link is unknown. A failed
// build's row goes at its expiry; an export whose link is live keeps its zip.
func TestExportSweepLeavesATombstone(t *testing.T) {
	d := testdb.Get(t)
	db := d.App
	ctx := context.Background()
	now := testdb.Now(t)
	s := seedExport(t, db, d.Owner, 1)
	old := startAndBuild(t, db, s, now)
	live := startAndBuild(t, db, s, now.Add(2*time.Hour))
	failed := models.NewID()
	err := models.InWorkspace(ctx, db, s.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := tn.Tx().NewRaw(`INSERT INTO workspace_exports (workspace_id, id, status, token, error, created_at, finished_at, expires_at)
			VALUES (?, ?, 'failed', ?, 'it broke', ?, ?, ?)`, s.ws.ID, failed, "failed-"+failed.String(), now, now, now.Add(models.ExportLinkLifetime)).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	row := func(id uuid.UUID) (status string, chunks int) {
		t.Helper()
		if err := d.Owner.NewRaw(`SELECT coalesce((SELECT status FROM workspace_exports WHERE workspace_id = ?0 AND id = ?1), 'gone'),
			(SELECT count(*) FROM workspace_export_chunks WHERE workspace_id = ?0 AND export_id = ?1)`, s.ws.ID, id).
			Scan(context.Background(), &status, &chunks); err != nil {
			t.Fatal(err)
		}
		return status, chunks
	}
	if st, n := row(old.ID); st != models.ExportReady || n == 0 {
		t.Fatalf("before the sweep: %s with %d chunks", st, n)
	}

	// An hour after the first link expired (the second's is live for another hour).
	at := now.Add(models.ExportLinkLifetime + time.Hour)
	r, err := models.RunRetention(ctx, db, at)
	if err != nil {
		t.Fatal(err)
	}
	if st, n := row(old.ID); st != models.ExportExpired || n != 0 {
		t.Errorf("the expired export: %s with %d chunks, want a tombstone without its zip", st, n)
	}
	if st, n := row(live.ID); st != models.ExportReady || n == 0 {
		t.Errorf("the live export: %s with %d chunks, want it as it was", st, n)
	}
	if st, _ := row(failed); st != "gone" {
		t.Errorf("the failed build past its expiry: %s, want it deleted", st)
	}
	if r.Exports < 2 {
		t.Errorf("reported %d exports", r.Exports)
	}
	if _, err := downloadExport(t, db, s, old.Token, at); !errors.Is(err, models.ErrLinkInvalid) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("the tombstone's link: %v, want it to say it expired", err)
	}
	if _, err := downloadExport(t, db, s, live.Token, at); err != nil {
		t.Errorf("the live export's link: %v", err)
	}

	// A tombstone whose link expired a minute short of ExportTombstoneRetention ago stays; one
	// that expired a minute more than that ago goes. (The expiry is moved back rather than the
	// sweep's clock forward, so the sweep prunes nothing else of the package's tests.)
	for _, c := range []struct {
		ago  time.Duration
		want string
	}{{models.ExportTombstoneRetention - time.Minute, models.ExportExpired}, {models.ExportTombstoneRetention + time.Minute, "gone"}} {
		err := models.InWorkspace(ctx, db, s.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := tn.Tx().NewRaw("UPDATE workspace_exports SET expires_at = ? WHERE workspace_id = ? AND id = ?", at.Add(-c.ago), s.ws.ID, old.ID).Exec(ctx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := models.RunRetention(ctx, db, at); err != nil {
			t.Fatal(err)
		}
		if st, _ := row(old.ID); st != c.want {
			t.Errorf("a tombstone whose link expired %s ago: %s, want %s", c.ago, st, c.want)
		}
	}
	if _, err := downloadExport(t, db, s, old.Token, at); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("the link once the tombstone is gone: %v, want not found", err)
	}
}
