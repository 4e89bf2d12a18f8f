package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// SignUp creates an account from the sign-up form and records the sign-up in the platform log.
func SignUp(ctx context.Context, db bun.IDB, in NewUser, now time.Time) (*User, error) {
	u, err := CreateUser(ctx, db, in, now)
	if err != nil {
		return nil, err
	}
	if err := RecordPlatform(ctx, db, Event{At: now, ActorUserID: u.ID, Action: "user.signup", Target: u.Email}); err != nil {
		return nil, err
	}
	return u, nil
}

// RenameUser changes the user's display name (at most 80 characters, trimmed) and updates u.
func RenameUser(ctx context.Context, db bun.IDB, u *User, name string) error {
	name = strings.TrimSpace(name)
	if msg := CheckUserName(name); msg != "" {
		return Invalid("name", msg)
	}
	if _, err := db.NewUpdate().Model((*User)(nil)).Set("name = ?", name).Where("id = ?", u.ID).Exec(ctx); err != nil {
		return fmt.Errorf("rename user: %w", err)
	}
	u.Name = name
	return nil
}

// PasswordChange is the change-password form with the session it is made from.
type PasswordChange struct {
	Current, New string
	// Renew gives the session a fresh token once the new password is stored (see RenewSession)
	// and returns it; that session stays signed in, every other one of the user ends.
	Renew func() (token string, err error)
}

// ChangePassword checks the current password, stores the new one, renews the acting session,
// ends every other session of the user and records the change. It returns how many sessions ended.
func ChangePassword(ctx context.Context, db bun.IDB, u *User, in PasswordChange, now time.Time) (int, error) {
	ok, err := VerifyPassword(u.PasswordHash, in.Current)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, Invalid("current_password", "That is not your current password.")
	}
	if msg := CheckPassword(in.New); msg != "" {
		return 0, Invalid("password", msg)
	}
	hash, err := HashPassword(in.New)
	if err != nil {
		return 0, err
	}
	if _, err := db.NewUpdate().Model((*User)(nil)).Set("password_hash = ?", hash).Where("id = ?", u.ID).Exec(ctx); err != nil {
		return 0, fmt.Errorf("change password: %w", err)
	}
	u.PasswordHash = hash
	token, err := in.Renew()
	if err != nil {
		return 0, err
	}
	n, err := EndSessions(ctx, db, u.ID, uuid.Nil, token)
	if err != nil {
		return 0, err
	}
	err = RecordPlatform(ctx, db, Event{At: now, ActorUserID: u.ID, Action: "user.password_change", Target: u.Email,
		Details: map[string]any{"sessions_ended": n}})
	return n, err
}

// RenewSession keeps a session listed under the fresh token it got after a privilege change.
func RenewSession(ctx context.Context, db bun.IDB, oldToken, newToken string) error {
	_, err := db.NewUpdate().Model((*UserSession)(nil)).Set("token = ?", newToken).Where("token = ?", oldToken).Exec(ctx)
	if err != nil {
		return fmt.Errorf("renew session: %w", err)
	}
	return nil
}
