package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Lifetimes of the links sent by mail.
const (
	PasswordResetLifetime = 30 * time.Minute
	EmailLinkLifetime     = 7 * 24 * time.Hour
)

// Password reset requests: at most 5 per address and 30 per client IP within ThrottleWindow.
const (
	ResetMaxPerAccount = 5
	ResetMaxPerIP      = 30
)

// The purposes of an account token.
const (
	purposeReset       = "password_reset"
	purposeVerify      = "email_verify"
	purposeEmailChange = "email_change"
)

// accountToken is a one-time link sent by mail; only the token's hash is stored.
type accountToken struct {
	bun.BaseModel `bun:"table:account_tokens,alias:at"`

	TokenHash string     `bun:"token_hash,pk"`
	UserID    uuid.UUID  `bun:"user_id,type:uuid"`
	Purpose   string     `bun:"purpose"`
	Email     string     `bun:"email"`
	CreatedAt time.Time  `bun:"created_at"`
	ExpiresAt time.Time  `bun:"expires_at"`
	UsedAt    *time.Time `bun:"used_at"`
}

// ErrLinkInvalid is the one answer for a link that is unknown, expired, used or replaced by a newer
// one: the person asks for a new link either way.
var ErrLinkInvalid = errors.New("this link has expired or was already used")

// issueToken retires the user's open links of purpose (a newer link replaces them) and stores a
// new one for email; it returns the token for the mail.
func issueToken(ctx context.Context, db bun.IDB, userID uuid.UUID, purpose, email string, life time.Duration, now time.Time) (string, time.Time, error) {
	if _, err := db.NewUpdate().Model((*accountToken)(nil)).Set("used_at = ?", now).
		Where("user_id = ? AND purpose = ? AND used_at IS NULL", userID, purpose).Exec(ctx); err != nil {
		return "", time.Time{}, fmt.Errorf("retire links: %w", err)
	}
	token, hash := newInvitationToken()
	t := &accountToken{TokenHash: hash, UserID: userID, Purpose: purpose, Email: email, CreatedAt: now, ExpiresAt: now.Add(life)}
	if _, err := db.NewInsert().Model(t).Exec(ctx); err != nil {
		return "", time.Time{}, fmt.Errorf("store link: %w", err)
	}
	return token, t.ExpiresAt, nil
}

// openToken finds a usable link of one of purposes (locking it when lock is set).
func openToken(ctx context.Context, db bun.IDB, token string, lock bool, now time.Time, purposes ...string) (*accountToken, error) {
	if !plausibleToken(token) {
		return nil, ErrLinkInvalid
	}
	t := new(accountToken)
	q := db.NewSelect().Model(t).Where("token_hash = ? AND purpose IN (?)", HashInvitationToken(token), bun.List(purposes))
	if lock {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		if errors.Is(notFound(err, "link"), ErrNotFound) {
			return nil, ErrLinkInvalid
		}
		return nil, err
	}
	if t.UsedAt != nil || !now.Before(t.ExpiresAt) {
		return nil, ErrLinkInvalid
	}
	return t, nil
}

// ResetLimited returns how long password reset requests for this address or IP stay refused
// (0 when they are not). It counts requests, not accounts, so it says nothing about whether the
// address has one.
func ResetLimited(ctx context.Context, db bun.IDB, email, ip string, now time.Time) (time.Duration, error) {
	return throttled(ctx, db, now, []throttleKey{{"reset_account", email, ResetMaxPerAccount}, {"reset_ip", ip, ResetMaxPerIP}})
}

// RequestPasswordReset records a reset request for email from ip and queues its job, which mails a
// link when an account has that address (IssuePasswordReset). The request does the same work for
// any well-formed address, so neither the answer nor its timing tells whether an account exists.
func RequestPasswordReset(ctx context.Context, db bun.IDB, email, ip string, now time.Time) error {
	email, ok := NormalizeEmail(email)
	if !ok {
		return Invalid("email", "Enter a valid email address.")
	}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewRaw(`INSERT INTO login_failures (scope, key, at) VALUES ('reset_account', ?, ?), ('reset_ip', ?, ?)`,
			email, now, ip, now).Exec(ctx); err != nil {
			return fmt.Errorf("record reset request: %w", err)
		}
		return enqueue(ctx, tx, PasswordResetArgs{RequestID: NewID(), Email: email})
	})
}

// IssuePasswordReset answers a reset request in the background: for an active account with the
// address it replaces any earlier reset link with a new one, valid for PasswordResetLifetime, and
// queues its mail (made by compose) in the same transaction. An unknown address gets nothing.
func IssuePasswordReset(ctx context.Context, db bun.IDB, req PasswordResetArgs, compose func(to, token string, expires time.Time) Mail, now time.Time) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		u := new(User)
		err := tx.NewSelect().Model(u).Where("email = ? AND disabled_at IS NULL", req.Email).Scan(ctx)
		if errors.Is(notFound(err, "user"), ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		token, expires, err := issueToken(ctx, tx, u.ID, purposeReset, u.Email, PasswordResetLifetime, now)
		if err != nil {
			return err
		}
		return QueueMail(ctx, tx, "password-reset:"+req.RequestID.String(), compose(u.Email, token, expires), now)
	})
}

// PasswordResetEmail returns the address a usable reset link belongs to, or ErrLinkInvalid.
func PasswordResetEmail(ctx context.Context, db bun.IDB, token string, now time.Time) (string, error) {
	t, err := openToken(ctx, db, token, false, now, purposeReset)
	if err != nil {
		return "", err
	}
	return t.Email, nil
}

// ResetPassword sets a new password through a reset link: the link is used up, every other reset
// link of the account stops working, every session of the account ends, its failed log-ins are
// forgotten, and the person is told by mail (made by notice) in the same transaction.
func ResetPassword(ctx context.Context, db bun.IDB, token, password string, notice func(to string, at time.Time) Mail, now time.Time) (*User, error) {
	if _, err := openToken(ctx, db, token, false, now, purposeReset); err != nil {
		return nil, err
	}
	if msg := CheckPassword(password); msg != "" {
		return nil, Invalid("password", msg)
	}
	hash, err := HashPassword(password) // before the transaction: no lock waits on the hashing
	if err != nil {
		return nil, err
	}
	u := new(User)
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		t, err := openToken(ctx, tx, token, true, now, purposeReset)
		if err != nil {
			return err
		}
		if err := tx.NewSelect().Model(u).Where("id = ?", t.UserID).For("UPDATE").Scan(ctx); err != nil {
			return notFound(err, "user")
		}
		if u.DisabledAt != nil {
			return ErrLinkInvalid
		}
		if _, err := tx.NewUpdate().Model((*User)(nil)).Set("password_hash = ?", hash).Where("id = ?", u.ID).Exec(ctx); err != nil {
			return fmt.Errorf("reset password: %w", err)
		}
		u.PasswordHash = hash
		if _, err := tx.NewUpdate().Model((*accountToken)(nil)).Set("used_at = ?", now).
			Where("user_id = ? AND purpose = ? AND used_at IS NULL", u.ID, purposeReset).Exec(ctx); err != nil {
			return fmt.Errorf("retire reset links: %w", err)
		}
		n, err := EndSessions(ctx, tx, u.ID, uuid.Nil, "")
		if err != nil {
			return err
		}
		if err := ClearLoginFailures(ctx, tx, u.Email); err != nil {
			return err
		}
		if err := RecordPlatform(ctx, tx, Event{At: now, ActorUserID: u.ID, Action: "user.password_reset", Target: u.Email,
			Details: map[string]any{"sessions_ended": n}}); err != nil {
			return err
		}
		return QueueMail(ctx, tx, "password-changed:"+t.TokenHash, notice(u.Email, now), now)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}
