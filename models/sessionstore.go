package models

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/v2"
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
// It recognises an unchanged session by what the same request loaded, so the request's context
// must come through WithSessionMemo before the session manager loads it; without that, every
// commit writes.
type SessionStore struct {
	*postgresstore.PostgresStore
	db    *sql.DB
	codec scs.Codec

	mu  sync.RWMutex
	now func() time.Time
}

var _ scs.CtxStore = (*SessionStore)(nil)

// NewSessionStore returns the store over db's sessions table; expired rows are deleted every
// cleanup interval.
func NewSessionStore(db *sql.DB, cleanup time.Duration) *SessionStore {
	return &SessionStore{PostgresStore: postgresstore.NewWithCleanupInterval(db, cleanup), db: db,
		codec: scs.GobCodec{}, now: time.Now}
}

// SetClock replaces the clock that decides whether a session has expired (tests move it to
// see idle sessions end); nil restores the real time.
func (s *SessionStore) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

func (s *SessionStore) clock() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.now()
}

// sessionMemo is what the request's load found, for its commit to compare with.
type sessionMemo struct {
	token    string
	deadline time.Time
	values   map[string]any
	expiry   time.Time
	found    bool
}

type sessionMemoKey struct{}

// WithSessionMemo prepares ctx for one request's session load and commit.
func WithSessionMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, sessionMemoKey{}, &sessionMemo{})
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
	if m := memoFrom(ctx); m != nil {
		if deadline, values, err := s.codec.Decode(b); err == nil {
			*m = sessionMemo{token: token, deadline: deadline, values: values, expiry: expiry, found: true}
		}
	}
	return b, true, nil
}

// Commit saves a session (scs.Store).
func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// CommitCtx saves a session unless this request loaded it with the same contents and an expiry
// less than SessionTouchEvery earlier.
func (s *SessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if m := memoFrom(ctx); m != nil && m.found && m.token == token {
		moved := expiry.Sub(m.expiry)
		if moved >= 0 && moved < SessionTouchEvery {
			if deadline, values, err := s.codec.Decode(b); err == nil && deadline.Equal(m.deadline) && reflect.DeepEqual(values, m.values) {
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

// Delete removes a session (scs.Store).
func (s *SessionStore) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }

// DeleteCtx removes a session.
func (s *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE token = $1", token)
	return err
}
