package models

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
)

// SessionTouchEvery is how far a session's idle deadline may fall behind before a request that
// changed nothing in the session writes it again. A session with an idle timeout of T therefore
// ends between T minus this and T after its last request.
const SessionTouchEvery = time.Minute

// SessionStore is the session manager's PostgreSQL store (the sessions table) that writes a
// session back only when something in it changed or its idle deadline moved by at least
// SessionTouchEvery. The session manager, with an idle timeout, commits every session it loaded on
// every request; through this store a plain page view writes nothing.
//
// It recognises an unchanged session by the bytes the same request loaded (SessionCodec's
// deterministic encoding, which the session manager must use too), so the request's context must
// come through WithSessionMemo before the session manager loads it; without that, every commit
// writes.
//
// A request can also ask for its frame (see LoadFrame) with the session: the store then reads the
// user the session was signed in as (user_sessions) with the session, in the same query.
type SessionStore struct {
	*postgresstore.PostgresStore
	db    *sql.DB
	bun   bun.IDB
	codec scs.Codec
	// prepare: the pool keeps prepared statements (the frame query is prepared).
	prepare bool

	mu  sync.RWMutex
	now func() time.Time
}

var _ scs.CtxStore = (*SessionStore)(nil)

// NewSessionStore returns the store over db's sessions table; expired rows are deleted every
// cleanup interval (0: never here; the server leaves it to the retention sweep, RunRetention).
func NewSessionStore(db *bun.DB, cleanup time.Duration) *SessionStore {
	return &SessionStore{PostgresStore: postgresstore.NewWithCleanupInterval(db.DB, cleanup), db: db.DB, bun: db,
		codec: SessionCodec{}, now: time.Now, prepare: prepares(db)}
}

// SetClock replaces the clock that decides whether a session has expired; nil restores the real
// time. The server gives the store its own clock (Server.Now), so that a test moving the server's
// clock moves the sessions' with it: one clock. The session manager computes expiries on the real
// time; the store moves each one onto its clock as it saves it (the offset between the two at
// that moment), so sessions.expiry and every check against it are on the store's clock.
func (s *SessionStore) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

// Time is the store's clock: the time sessions.expiry is set and checked by.
func (s *SessionStore) Time() time.Time { return s.clock() }

func (s *SessionStore) clock() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.now()
}

// sessionMemo is what the request's load found, for its commit to compare with.
type sessionMemo struct {
	// What the request asks to read with the session: the frame for this workspace slug, and the
	// switcher's list.
	wantFrame bool
	slug      string
	switcher  bool
	// frame is the frame of the user the session belongs to (frameUser), when it was read.
	frame     *RequestFrame
	frameUser uuid.UUID

	token  string
	data   []byte
	expiry time.Time
	found  bool
}

type sessionMemoKey struct{}

// WithSessionMemo prepares ctx for one request's session load and commit.
func WithSessionMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, sessionMemoKey{}, &sessionMemo{})
}

// WithSessionAndFrame prepares ctx like WithSessionMemo and asks the store to read, with the
// session, the frame of its user for workspace slug (LoadFrame's arguments).
func WithSessionAndFrame(ctx context.Context, slug string, switcher bool) context.Context {
	return context.WithValue(ctx, sessionMemoKey{}, &sessionMemo{wantFrame: true, slug: slug, switcher: switcher})
}

// SessionFrame is the frame the store read with the request's session and the user it belongs
// to; nil when none was read (an anonymous session, or none asked for). The caller checks that
// the user is the one the session names.
func SessionFrame(ctx context.Context) (*RequestFrame, uuid.UUID) {
	if m := memoFrom(ctx); m != nil && m.frame != nil {
		return m.frame, m.frameUser
	}
	return nil, uuid.Nil
}

func memoFrom(ctx context.Context) *sessionMemo {
	m, _ := ctx.Value(sessionMemoKey{}).(*sessionMemo)
	return m
}

// Find loads a session (scs.Store).
func (s *SessionStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// FindCtx loads a session that has not expired and remembers what it held for this request.
func (s *SessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	m := memoFrom(ctx)
	if m != nil && m.wantFrame {
		return s.findWithFrame(ctx, m, token)
	}
	var b []byte
	var expiry time.Time
	err := s.db.QueryRowContext(ctx, "SELECT data, expiry FROM sessions WHERE token = $1 AND expiry > $2",
		token, s.clock()).Scan(&b, &expiry)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	s.remember(m, token, b, expiry)
	return b, true, nil
}

// findWithFrame reads the session and, in the same query, the frame of the user it was signed in
// as. The query is one of four texts (with or without a workspace, with or without the switcher's
// list), each prepared once per connection when the pool keeps prepared statements: every
// signed-in request makes it, and planning it cost as much as running it.
func (s *SessionStore) findWithFrame(ctx context.Context, m *sessionMemo, token string) ([]byte, bool, error) {
	args := []any{token, s.clock()}
	slug := ""
	if slugRe.MatchString(m.slug) {
		args, slug = append(args, m.slug), "$3"
	}
	q := `SELECT s.data, s.expiry, u.id, u.email, u.password_hash, u.name, u.staff_role, u.created_at, u.last_login_at,
		  u.disabled_at, u.last_workspace_id, u.email_verified_at, ` + frameColumns(slug, m.switcher) + `
		FROM sessions AS s
		LEFT JOIN user_sessions AS us ON us.token = s.token
		LEFT JOIN users AS u ON u.id = us.user_id
		WHERE s.token = $1 AND s.expiry > $2`
	if s.prepare {
		args = append([]any{pgx.QueryExecModeCacheStatement}, args...)
	}
	var (
		data                      []byte
		expiry                    time.Time
		uid                       uuid.NullUUID
		email, hash, name, staff  sql.NullString
		created                   sql.NullTime
		login, disabled, verified *time.Time
		last                      uuid.NullUUID
		row                       frameRow
	)
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&data, &expiry, &uid, &email, &hash, &name, &staff, &created, &login,
		&disabled, &last, &verified, &row.SecondFactor, &row.Member, &row.List)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if uid.Valid {
		row.User = User{ID: uid.UUID, Email: email.String, PasswordHash: hash.String, Name: name.String, StaffRole: staff.String,
			CreatedAt: created.Time, LastLoginAt: login, DisabledAt: disabled, EmailVerifiedAt: verified}
		if last.Valid {
			row.User.LastWorkspaceID = &last.UUID
		}
		if f, err := row.frame(m.switcher); err == nil {
			m.frame, m.frameUser = f, uid.UUID
		}
	}
	s.remember(m, token, data, expiry)
	return data, true, nil
}

// remember notes what the request loaded, for its commit to compare with.
func (s *SessionStore) remember(m *sessionMemo, token string, b []byte, expiry time.Time) {
	if m != nil {
		m.token, m.data, m.expiry, m.found = token, b, expiry, true
	}
}

// Commit saves a session (scs.Store).
func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// CommitCtx saves a session unless this request loaded it with the same contents and an expiry
// less than SessionTouchEvery earlier.
func (s *SessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	expiry = expiry.Add(time.Until(s.clock())) // from the real time onto the store's clock
	if m := memoFrom(ctx); m != nil && m.found && m.token == token {
		moved := expiry.Sub(m.expiry)
		if moved >= 0 && moved < SessionTouchEvery {
			if s.unchanged(b, m.data) {
				return nil
			}
		}
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (token, data, expiry) VALUES ($1, $2, $3)
		ON CONFLICT (token) DO UPDATE SET data = EXCLUDED.data, expiry = EXCLUDED.expiry`, token, b, expiry)
	if err == nil {
		if m := memoFrom(ctx); m != nil {
			m.found = false // a second commit in the same request compares with nothing
		}
	}
	return err
}

// unchanged reports whether the session encoded as b holds what the request loaded as was.
// SessionCodec's encoding is deterministic, so equal bytes are an equal session; a session in gob
// (a value of a type SessionCodec does not know, or written by scs's GobCodec) is decoded and
// compared.
func (s *SessionStore) unchanged(b, was []byte) bool {
	if bytes.Equal(b, was) {
		return true
	}
	if len(b) > 0 && b[0] == sessionMagic {
		return false
	}
	d1, v1, err1 := s.codec.Decode(b)
	d2, v2, err2 := s.codec.Decode(was)
	return err1 == nil && err2 == nil && d1.Equal(d2) && reflect.DeepEqual(v1, v2)
}

// Delete removes a session (scs.Store).
func (s *SessionStore) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }

// DeleteCtx removes a session.
func (s *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE token = $1", token)
	return err
}
