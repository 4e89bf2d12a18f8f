package models

import (
	"archive/zip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
)

// Workspace export: an owner asks for a zip of the workspace's data (StartExport); a background
// job (ExportArgs, worked by package mail's worker) builds it with BuildExport, streaming each
// table's rows into the zip and the zip into ExportChunkSize chunks stored in the database, so its
// memory stays bounded whatever the workspace's size; the settings page follows its progress and
// links the finished zip until ExportLinkLifetime has passed, after which the retention sweep
// deletes the zip and leaves the row as a tombstone (ExportExpired) for ExportTombstoneRetention,
// so the link still says it expired.
const (
	// ExportLinkLifetime is how long a finished export can be downloaded.
	ExportLinkLifetime = 24 * time.Hour
	// ExportTombstoneRetention is how long an expired export's row stays after its link expired
	// (its zip is gone at the expiry): until then its link answers "expired" (410), after it
	// "not found" like any unknown link.
	ExportTombstoneRetention = 30 * 24 * time.Hour
	// ExportChunkSize is the size of one stored piece of the zip.
	ExportChunkSize = 1 << 20
	// exportProgressEvery is how many rows pass between two progress updates.
	exportProgressEvery = 2000
	// ExportQueue is the job queue of the exports.
	ExportQueue = "exports"
)

// The states of an export.
const (
	ExportQueued  = "queued"
	ExportRunning = "running"
	ExportReady   = "ready"
	ExportFailed  = "failed"
	// ExportExpired is a tombstone: the link expired and the sweep deleted the zip.
	ExportExpired = "expired"
)

// WorkspaceExport is one export of a workspace: its progress, and once ready the zip's size and
// SHA-256 and the link's token and expiry.
type WorkspaceExport struct {
	bun.BaseModel `bun:"table:workspace_exports,alias:we"`
	Scoped

	ID          uuid.UUID  `bun:"id,pk,type:uuid"`
	RequestedBy *uuid.UUID `bun:"requested_by,type:uuid"`
	Status      string     `bun:"status"`
	RowsDone    int64      `bun:"rows_done"`
	RowsTotal   int64      `bun:"rows_total"`
	Token       string     `bun:"token"`
	FileName    string     `bun:"file_name"`
	SizeBytes   int64      `bun:"size_bytes"`
	SHA256      string     `bun:"sha256"`
	Error       string     `bun:"error"`
	CreatedAt   time.Time  `bun:"created_at"`
	FinishedAt  *time.Time `bun:"finished_at"`
	ExpiresAt   *time.Time `bun:"expires_at"`
}

// Percent is the share of rows written, 0 to 100 (100 only when ready).
func (e *WorkspaceExport) Percent() int {
	switch {
	case e.Status == ExportReady:
		return 100
	case e.RowsTotal <= 0:
		return 0
	}
	return int(min(99, e.RowsDone*100/e.RowsTotal))
}

// Building reports whether the export is still on its way.
func (e *WorkspaceExport) Building() bool {
	return e.Status == ExportQueued || e.Status == ExportRunning
}

// Downloadable reports whether the zip can be downloaded at now.
func (e *WorkspaceExport) Downloadable(now time.Time) bool {
	return e.Status == ExportReady && e.ExpiresAt != nil && now.Before(*e.ExpiresAt)
}

// latestExportJSON is an export row (alias e) as JSON in WorkspaceExport's field names.
const latestExportJSON = `jsonb_build_object('ID', e.id, 'RequestedBy', e.requested_by, 'Status', e.status,
  'RowsDone', e.rows_done, 'RowsTotal', e.rows_total, 'Token', e.token, 'FileName', e.file_name,
  'SizeBytes', e.size_bytes, 'SHA256', e.sha256, 'Error', e.error, 'CreatedAt', e.created_at,
  'FinishedAt', e.finished_at, 'ExpiresAt', e.expires_at)`

// ExportArgs is the job that builds one export.
type ExportArgs struct {
	WorkspaceID uuid.UUID `json:"workspace_id"`
	ExportID    uuid.UUID `json:"export_id"`
}

// Kind names the job for the queue.
func (ExportArgs) Kind() string { return "workspace_export" }

// StartExport queues a new export of the tenant's workspace for actor (an owner), with its job, in
// the tenant's transaction; while one is being built, that one is returned instead.
func StartExport(ctx context.Context, tn *Tenant, actor Actor, now time.Time) (*WorkspaceExport, error) {
	if !actor.Role.Can(ActExport) {
		return nil, Errorf(ErrForbidden, "Only owners can export the workspace.")
	}
	if cur, err := LatestExport(ctx, tn); err != nil {
		return nil, err
	} else if cur != nil && cur.Building() {
		return cur, nil
	}
	b := make([]byte, 32)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	by := actor.UserID
	e := &WorkspaceExport{ID: NewID(), RequestedBy: &by, Status: ExportQueued, Token: base64.RawURLEncoding.EncodeToString(b), CreatedAt: now}
	if _, err := tn.db().NewInsert().Model(e).Exec(ctx); err != nil {
		return nil, fmt.Errorf("start export: %w", err)
	}
	c, err := inserter()
	if err != nil {
		return nil, err
	}
	if _, err := c.InsertTx(ctx, tn.tx.Tx, ExportArgs{WorkspaceID: tn.ws, ExportID: e.ID},
		&river.InsertOpts{Queue: ExportQueue, MaxAttempts: 3}); err != nil {
		return nil, fmt.Errorf("queue export job: %w", err)
	}
	return e, Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "workspace.export", Target: e.ID.String()})
}

// LatestExport is the workspace's newest export, or nil.
func LatestExport(ctx context.Context, tn *Tenant) (*WorkspaceExport, error) {
	e := new(WorkspaceExport)
	err := tn.db().NewSelect().Model(e).OrderExpr("we.created_at DESC, we.id DESC").Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("latest export: %w", err)
	}
	return e, nil
}

// ExportForDownload finds the finished export whose link token is token, for actor (an owner),
// at now; a link that expired is refused (ErrLinkInvalid, with a message that says so), and an
// unknown one is ErrNotFound. The download is recorded in the audit log.
func ExportForDownload(ctx context.Context, tn *Tenant, actor Actor, token string, now time.Time) (*WorkspaceExport, error) {
	if !actor.Role.Can(ActExport) {
		return nil, Errorf(ErrForbidden, "Only owners can download the workspace's export.")
	}
	e := new(WorkspaceExport)
	err := tn.db().NewSelect().Model(e).Where("we.token = ?", token).Where("we.status IN (?, ?)", ExportReady, ExportExpired).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if !e.Downloadable(now) {
		return nil, Errorf(ErrLinkInvalid, "This export's link expired. Start a new export on the settings page.")
	}
	return e, Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "workspace.export_download", Target: e.ID.String()})
}

// WriteExport copies the stored zip of e to w, one chunk in memory at a time.
func WriteExport(ctx context.Context, tn *Tenant, e *WorkspaceExport, w io.Writer) error {
	rows, err := tn.tx.QueryContext(ctx, `SELECT data FROM workspace_export_chunks
		WHERE workspace_id = ? AND export_id = ? ORDER BY seq`, tn.ws, e.ID)
	if err != nil {
		return fmt.Errorf("export chunks: %w", err)
	}
	defer rows.Close()
	var data []byte
	for rows.Next() {
		if err := rows.Scan(&data); err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ExportManifest is manifest.json in the zip: what each file holds and its SHA-256.
type ExportManifest struct {
	Format        string               `json:"format"`
	WorkspaceID   uuid.UUID            `json:"workspace_id"`
	WorkspaceSlug string               `json:"workspace_slug"`
	ExportID      uuid.UUID            `json:"export_id"`
	GeneratedAt   time.Time            `json:"generated_at"`
	Files         []ExportManifestFile `json:"files"`
}

// ExportManifestFile is one file of the zip.
type ExportManifestFile struct {
	Name   string `json:"name"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// ExportFormat names the layout of the zip, for readers of manifest.json.
const ExportFormat = "atrium-workspace-export/1"

// BuildExport builds export id of workspace ws: it counts the rows, reads every table in one
// read-only snapshot, streams them as files into a zip whose bytes go to the database in chunks
// (each chunk, and the progress, committed on its own, so the settings page sees it move), then
// marks the export ready with the link's expiry. clock is the caller's (generated_at, the
// files' times, the expiry). A build that fails leaves no chunks and says why on the export.
func BuildExport(ctx context.Context, db bun.IDB, ws, id uuid.UUID, clock func() time.Time) error {
	err := buildExport(ctx, db, ws, id, clock)
	if err != nil && !errors.Is(err, ErrNotFound) {
		t := clock()
		exp := t.Add(ExportLinkLifetime)
		msg := "The export could not be built. Try again."
		ferr := InWorkspace(context.WithoutCancel(ctx), db, ws, func(ctx context.Context, tn *Tenant) error {
			if _, err := tn.tx.ExecContext(ctx, `DELETE FROM workspace_export_chunks WHERE workspace_id = ? AND export_id = ?`, ws, id); err != nil {
				return err
			}
			_, err := tn.tx.ExecContext(ctx, `UPDATE workspace_exports SET status = ?, error = ?, finished_at = ?, expires_at = ?
				WHERE workspace_id = ? AND id = ?`, ExportFailed, msg, t, exp, ws, id)
			return err
		})
		return errors.Join(err, ferr)
	}
	return err
}

func buildExport(ctx context.Context, db bun.IDB, ws, id uuid.UUID, clock func() time.Time) error {
	generated := clock().UTC()
	var total int64
	var slug string
	// Start (again, after a failed try): no chunks, the rows counted.
	err := InWorkspace(ctx, db, ws, func(ctx context.Context, tn *Tenant) error {
		var status string
		if err := tn.tx.QueryRowContext(ctx, `SELECT status FROM workspace_exports WHERE workspace_id = ? AND id = ? FOR UPDATE`, ws, id).
			Scan(&status); errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if status == ExportReady {
			return errExportDone
		}
		if _, err := tn.tx.ExecContext(ctx, `DELETE FROM workspace_export_chunks WHERE workspace_id = ? AND export_id = ?`, ws, id); err != nil {
			return err
		}
		if err := tn.tx.QueryRowContext(ctx, `SELECT w.slug,
			  (SELECT count(*) FROM workspace_members WHERE workspace_id = ?0)
			+ (SELECT count(*) FROM invitations WHERE workspace_id = ?0)
			+ (SELECT count(*) FROM api_keys WHERE workspace_id = ?0)
			+ (SELECT count(*) FROM agents WHERE workspace_id = ?0)
			+ (SELECT count(*) FROM tasks WHERE workspace_id = ?0)
			+ (SELECT count(*) FROM messages WHERE workspace_id = ?0)
			+ (SELECT count(*) FROM usage_hourly_total WHERE workspace_id = ?0)
			+ (SELECT count(*) FROM usage_daily_total WHERE workspace_id = ?0)
			+ (SELECT count(*) FROM audit_events WHERE workspace_id = ?0)
			FROM workspaces AS w WHERE w.id = ?0`, ws).Scan(&slug, &total); err != nil {
			return fmt.Errorf("count rows: %w", err)
		}
		_, err := tn.tx.ExecContext(ctx, `UPDATE workspace_exports SET status = ?, rows_done = 0, rows_total = ?, error = ''
			WHERE workspace_id = ? AND id = ?`, ExportRunning, total, ws, id)
		return err
	})
	if errors.Is(err, errExportDone) {
		return nil
	}
	if err != nil {
		return err
	}

	store := &chunkStore{ctx: ctx, db: db, ws: ws, id: id}
	whole := sha256.New()
	counted := &countWriter{w: io.MultiWriter(store, whole)}
	zw := zip.NewWriter(counted)
	b := &exportBuilder{zw: zw, modified: generated, progress: store}
	err = inSnapshot(ctx, db, ws, func(ctx context.Context, tn *Tenant) error {
		if err := b.writeAll(ctx, tn.tx, ws); err != nil {
			return err
		}
		return b.writeAudit(ctx, tn)
	})
	if err != nil {
		return err
	}
	man := ExportManifest{Format: ExportFormat, WorkspaceID: ws, WorkspaceSlug: slug, ExportID: id, GeneratedAt: generated, Files: b.files}
	mb, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	if err := b.file("manifest.json", func(w io.Writer) (int64, error) { _, err := w.Write(append(mb, '\n')); return 0, err }); err != nil {
		return err
	}
	// SHA256SUMS, as sha256sum -c reads it: every file above, the manifest included.
	var sums strings.Builder
	for _, f := range b.files {
		fmt.Fprintf(&sums, "%s  %s\n", f.SHA256, f.Name)
	}
	h, err := zw.CreateHeader(&zip.FileHeader{Name: "SHA256SUMS", Method: zip.Deflate, Modified: generated})
	if err != nil {
		return err
	}
	if _, err := io.WriteString(h, sums.String()); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := store.flush(); err != nil {
		return err
	}
	done := clock()
	name := fmt.Sprintf("atrium-export-%s-%s.zip", slug, generated.Format("20060102-150405"))
	return InWorkspace(ctx, db, ws, func(ctx context.Context, tn *Tenant) error {
		_, err := tn.tx.ExecContext(ctx, `UPDATE workspace_exports SET status = ?, rows_done = rows_total, file_name = ?, size_bytes = ?,
			sha256 = ?, finished_at = ?, expires_at = ? WHERE workspace_id = ? AND id = ?`,
			ExportReady, name, counted.n, hex.EncodeToString(whole.Sum(nil)), done, done.Add(ExportLinkLifetime), ws, id)
		return err
	})
}

var errExportDone = errors.New("export already built")

// inSnapshot runs fn in a READ ONLY, REPEATABLE READ transaction bound to workspace ws: every file
// of an export is read from the same moment of the workspace.
func inSnapshot(ctx context.Context, db bun.IDB, ws uuid.UUID, fn func(ctx context.Context, tn *Tenant) error) error {
	ctx = withWorkspace(ctx, ws)
	return db.RunInTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, func(_ context.Context, tx bun.Tx) error {
		if err := bindWorkspace(ctx, tx, ws); err != nil {
			return err
		}
		return fn(ctx, &Tenant{tx: tx, ws: ws})
	})
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// chunkStore takes the zip's bytes and stores them ExportChunkSize at a time, each chunk and the
// rows written so far committed in a short transaction of the workspace's own.
type chunkStore struct {
	ctx    context.Context
	db     bun.IDB
	ws, id uuid.UUID
	buf    []byte
	seq    int
	rows   int64 // rows written so far
	told   int64 // rows last reported
}

func (s *chunkStore) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := ExportChunkSize - len(s.buf)
		take := min(room, len(p))
		s.buf = append(s.buf, p[:take]...)
		p = p[take:]
		if len(s.buf) == ExportChunkSize {
			if err := s.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush stores what is buffered (if anything) with the progress.
func (s *chunkStore) flush() error {
	if len(s.buf) == 0 && s.rows == s.told {
		return nil
	}
	err := InWorkspace(s.ctx, s.db, s.ws, func(ctx context.Context, tn *Tenant) error {
		if len(s.buf) > 0 {
			if _, err := tn.tx.ExecContext(ctx, `INSERT INTO workspace_export_chunks (workspace_id, export_id, seq, data) VALUES (?, ?, ?, ?)`,
				s.ws, s.id, s.seq, s.buf); err != nil {
				return fmt.Errorf("store export chunk: %w", err)
			}
		}
		_, err := tn.tx.ExecContext(ctx, `UPDATE workspace_exports SET rows_done = ? WHERE workspace_id = ? AND id = ?`, s.rows, s.ws, s.id)
		return err
	})
	if err != nil {
		return err
	}
	if len(s.buf) > 0 {
		s.seq++
		s.buf = s.buf[:0]
	}
	s.told = s.rows
	return nil
}

// row counts one row written, reporting the progress now and then.
func (s *chunkStore) row() error {
	s.rows++
	if s.rows-s.told >= exportProgressEvery {
		return s.report()
	}
	return nil
}

// report writes the progress without storing a partial chunk.
func (s *chunkStore) report() error {
	err := InWorkspace(s.ctx, s.db, s.ws, func(ctx context.Context, tn *Tenant) error {
		_, err := tn.tx.ExecContext(ctx, `UPDATE workspace_exports SET rows_done = ? WHERE workspace_id = ? AND id = ?`, s.rows, s.ws, s.id)
		return err
	})
	if err == nil {
		s.told = s.rows
	}
	return err
}

// exportBuilder writes the files of an export into its zip, noting each in the manifest.
type exportBuilder struct {
	zw       *zip.Writer
	modified time.Time
	progress *chunkStore
	files    []ExportManifestFile
}

// file adds one file, written by fill (which returns the rows it wrote), with its size and SHA-256.
func (b *exportBuilder) file(name string, fill func(w io.Writer) (int64, error)) error {
	zf, err := b.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: b.modified})
	if err != nil {
		return err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(zf, h)}
	rows, err := fill(cw)
	if err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	b.files = append(b.files, ExportManifestFile{Name: name, Rows: rows, Bytes: cw.n, SHA256: hexSum(h)})
	return nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// exportTable is one file of the export: the statement that reads it (one parameter, the
// workspace) and how a row is written.
type exportTable struct {
	name   string
	query  string
	header []string // a CSV file's columns; nil: NDJSON, one object per row of the query's columns
}

// exportTables are the files, in the zip's order. They name their columns: nothing secret (key
// hashes, invitation token hashes, passwords, second factors, sessions) is ever selected.
var exportTables = []exportTable{
	{name: "members.csv", header: []string{"user_id", "name", "email", "role", "joined_at", "last_seen_at"},
		query: `SELECT m.user_id, u.name, u.email::text, m.role::text, m.created_at, m.last_seen_at
		  FROM workspace_members AS m JOIN users AS u ON u.id = m.user_id
		  WHERE m.workspace_id = ? ORDER BY m.created_at, m.user_id`},
	{name: "invitations.csv", header: []string{"id", "email", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"},
		query: `SELECT id, email::text, role::text, invited_by, created_at, expires_at, accepted_at, revoked_at
		  FROM invitations WHERE workspace_id = ? ORDER BY created_at, id`},
	{name: "api_keys.csv", header: []string{"id", "name", "prefix", "scope", "created_by", "created_at", "expires_at", "last_used_at", "revoked_at", "rolled_at"},
		query: `SELECT id, name, prefix, scope::text, created_by, created_at, expires_at, last_used_at, revoked_at, rolled_at
		  FROM api_keys WHERE workspace_id = ? ORDER BY created_at, id`},
	{name: "agents.csv", header: []string{"id", "name", "status", "created_at"},
		query: `SELECT id, name, status, created_at FROM agents WHERE workspace_id = ? ORDER BY created_at, id`},
	{name: "tasks.ndjson",
		query: `SELECT id, agent_id, key_id, status::text AS status, input, created_at, started_at, finished_at, agent_minutes
		  FROM tasks WHERE workspace_id = ? ORDER BY created_at, id`},
	{name: "messages.ndjson",
		query: `SELECT id, task_id, role, body, created_at FROM messages WHERE workspace_id = ? ORDER BY task_id, created_at, id`},
	{name: "usage_hourly.csv", header: []string{"hour_utc", "api_calls", "agent_minutes"},
		query: `SELECT hour, api_calls, agent_minutes FROM usage_hourly_total WHERE workspace_id = ? ORDER BY hour`},
	{name: "usage_daily.csv", header: []string{"day_utc", "api_calls", "agent_minutes"},
		query: `SELECT day, api_calls, agent_minutes FROM usage_daily_total WHERE workspace_id = ? ORDER BY day`},
}

// writeAudit writes audit.ndjson: the workspace's audit log in chain order (EachAuditChainEvent),
// each event with seq, prev_hash and hash, so whoever holds the export can check the chain
// (docs/audit-chain.md); and audit_chain.json, where the chain starts (the signed checkpoint, when
// retention pruned its beginning) and its head when the export was read.
func (b *exportBuilder) writeAudit(ctx context.Context, tn *Tenant) error {
	err := b.file("audit.ndjson", func(w io.Writer) (int64, error) {
		enc := json.NewEncoder(w)
		var n int64
		err := EachAuditChainEvent(ctx, tn, func(e *ChainEvent) error {
			if err := enc.Encode(e); err != nil {
				return err
			}
			n++
			return b.progress.row()
		})
		return n, err
	})
	if err != nil {
		return err
	}
	return b.file("audit_chain.json", func(w io.Writer) (int64, error) {
		cp, head, err := ReadAuditChainStart(ctx, tn)
		if err != nil {
			return 0, err
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return 1, enc.Encode(struct {
			Checkpoint *AuditCheckpoint `json:"checkpoint"`
			Head       ChainLink        `json:"head"`
		}{cp, head})
	})
}

// writeAll writes workspace.json and every table of exportTables from tx.
func (b *exportBuilder) writeAll(ctx context.Context, tx bun.Tx, ws uuid.UUID) error {
	err := b.file("workspace.json", func(w io.Writer) (int64, error) {
		var out struct {
			ID               uuid.UUID `json:"id"`
			Name             string    `json:"name"`
			Slug             string    `json:"slug"`
			Tier             string    `json:"tier"`
			RequireTwoFactor bool      `json:"require_two_factor"`
			CreatedAt        time.Time `json:"created_at"`
		}
		if err := tx.QueryRowContext(ctx, `SELECT id, name, slug, tier::text, require_two_factor, created_at FROM workspaces WHERE id = ?`, ws).
			Scan(&out.ID, &out.Name, &out.Slug, &out.Tier, &out.RequireTwoFactor, &out.CreatedAt); err != nil {
			return 0, err
		}
		out.CreatedAt = out.CreatedAt.UTC()
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return 1, enc.Encode(out)
	})
	if err != nil {
		return err
	}
	for _, t := range exportTables {
		if err := b.file(t.name, func(w io.Writer) (int64, error) { return b.table(ctx, tx, ws, t, w) }); err != nil {
			return err
		}
	}
	return nil
}

// table streams one table's rows to w: CSV with its header, or NDJSON.
func (b *exportBuilder) table(ctx context.Context, tx bun.Tx, ws uuid.UUID, t exportTable, w io.Writer) (int64, error) {
	rows, err := tx.QueryContext(ctx, t.query, ws)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var cw *csv.Writer
	var enc *json.Encoder
	if t.header != nil {
		cw = csv.NewWriter(w)
		if err := cw.Write(t.header); err != nil {
			return 0, err
		}
	} else {
		enc = json.NewEncoder(w)
	}
	var n int64
	rec := make([]string, len(cols))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		if cw != nil {
			for i, v := range vals {
				rec[i] = exportCell(v)
			}
			if err := cw.Write(rec); err != nil {
				return n, err
			}
		} else {
			obj := make(orderedObject, len(cols))
			for i, v := range vals {
				obj[i] = field{cols[i], exportJSON(v, cols[i] == "details")}
			}
			if err := enc.Encode(obj); err != nil {
				return n, err
			}
		}
		n++
		if err := b.progress.row(); err != nil {
			return n, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	if cw != nil {
		cw.Flush()
		return n, cw.Error()
	}
	return n, nil
}

// exportCell is a value as a CSV cell: times in UTC RFC 3339, NULL as empty.
func exportCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		return string(x)
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case [16]byte:
		return uuid.UUID(x).String()
	default:
		return fmt.Sprint(x)
	}
}

// exportJSON is a value for an NDJSON line: times in UTC, uuids as text, a JSON column (raw) as
// the JSON it holds.
func exportJSON(v any, raw bool) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case []byte:
		if raw && json.Valid(x) {
			return json.RawMessage(append([]byte(nil), x...))
		}
		return string(x)
	case string:
		if raw && json.Valid([]byte(x)) {
			return json.RawMessage(x)
		}
		return x
	case [16]byte:
		return uuid.UUID(x).String()
	}
	return v
}

// orderedObject is a JSON object whose keys keep the query's column order.
type orderedObject []field

type field struct {
	key string
	val any
}

// MarshalJSON writes the fields in order.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			sb.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		v, err := json.Marshal(f.val)
		if err != nil {
			return nil, err
		}
		sb.Write(k)
		sb.WriteByte(':')
		sb.Write(v)
	}
	sb.WriteByte('}')
	return []byte(sb.String()), nil
}

// pruneExports deletes the zips of the workspace's exports whose link expired and marks them
// expired (tombstones), and deletes the rows of failed builds past their expiry and of tombstones
// past ExportTombstoneRetention.
func pruneExports(ctx context.Context, db bun.IDB, ws uuid.UUID, now time.Time) (n int64, err error) {
	err = InWorkspace(ctx, db, ws, func(ctx context.Context, tn *Tenant) error {
		// The zip goes at the expiry; the row stays as a tombstone, so the link says it expired.
		if _, err := tn.tx.ExecContext(ctx, `DELETE FROM workspace_export_chunks WHERE workspace_id = ?0 AND export_id IN (
			  SELECT id FROM workspace_exports WHERE workspace_id = ?0 AND status = ?1 AND expires_at < ?2)`, ws, ExportReady, now); err != nil {
			return fmt.Errorf("expired exports' zips: %w", err)
		}
		res, err := tn.tx.ExecContext(ctx, `UPDATE workspace_exports SET status = ?1
			WHERE workspace_id = ?0 AND status = ?2 AND expires_at < ?3`, ws, ExportExpired, ExportReady, now)
		if err != nil {
			return fmt.Errorf("expired exports: %w", err)
		}
		n, _ = res.RowsAffected()
		// A failed build's row at its expiry, a tombstone ExportTombstoneRetention after it.
		res, err = tn.tx.ExecContext(ctx, `DELETE FROM workspace_exports WHERE workspace_id = ?0
			AND ((status <> ?1 AND expires_at < ?2) OR (status = ?1 AND expires_at < ?3))`,
			ws, ExportExpired, now, now.Add(-ExportTombstoneRetention))
		if err != nil {
			return fmt.Errorf("old export rows: %w", err)
		}
		gone, _ := res.RowsAffected()
		n += gone
		return nil
	})
	return n, err
}
