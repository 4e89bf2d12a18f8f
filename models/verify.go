package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// LinkMail makes the email that carries a link: to whom, the link's token and until when it works.
type LinkMail func(to, token string, expires time.Time) Mail

// EmailVerified reports whether the user has confirmed their address.
func (u *User) EmailVerified() bool { return u.EmailVerifiedAt != nil }

// ErrUnverified refuses what needs a confirmed address (API keys, invitations).
var ErrUnverified = errors.New("email address not verified")

// CheckVerified returns ErrUnverified (as an *Error that says what to do) for a user whose address
// is not confirmed yet.
func CheckVerified(u *User) error {
	if u.EmailVerified() {
		return nil
	}
	return &Error{Kind: ErrUnverified, Message: fmt.Sprintf(
		"Confirm your email address first: open the link we sent to %s. Until then you cannot create API keys or invite anyone.", u.Email)}
}

// SignUpVerified creates an account from the sign-up form, records it in the platform log and
// mails a verification link (made by verify) in the same transaction.
func SignUpVerified(ctx context.Context, db bun.IDB, in NewUser, verify LinkMail, now time.Time) (*User, error) {
	in.VerifiedAt = time.Time{}
	var u *User
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if u, err = SignUp(ctx, tx, in, now); err != nil {
			return err
		}
		return sendVerification(ctx, tx, u, verify, now)
	})
	return u, err
}

// sendVerification issues a verification link for the user's address, replacing earlier ones,
// and queues its mail.
func sendVerification(ctx context.Context, tx bun.Tx, u *User, verify LinkMail, now time.Time) error {
	token, expires, err := issueToken(ctx, tx, u.ID, purposeVerify, u.Email, EmailLinkLifetime, now)
	if err != nil {
		return err
	}
	return QueueMail(ctx, tx, "email-verify:"+HashInvitationToken(token), verify(u.Email, token, expires), now)
}

// Verification mails: at most 5 within ThrottleWindow per account.
const verifyMaxPerWindow = 5

// ResendVerification mails a fresh verification link; earlier links stop working.
func ResendVerification(ctx context.Context, db bun.IDB, u *User, verify LinkMail, now time.Time) error {
	if u.EmailVerified() {
		return Errorf(ErrConflict, "Your email address %s is already confirmed.", u.Email)
	}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		n, err := tx.NewSelect().Model((*accountToken)(nil)).
			Where("user_id = ? AND purpose = ? AND created_at > ?", u.ID, purposeVerify, now.Add(-ThrottleWindow)).Count(ctx)
		if err != nil {
			return err
		}
		if n >= verifyMaxPerWindow {
			return Errorf(ErrLimitReached, "We sent several links already. Check your inbox (and spam folder), or try again in %d minutes.", int(ThrottleWindow.Minutes()))
		}
		return sendVerification(ctx, tx, u, verify, now)
	})
}

// EmailChangeRequest is the change-email form.
type EmailChangeRequest struct {
	Email, Password string
}

// RequestEmailChange checks the password and sends a confirmation link to the new address (made by
// confirm) and a notice to the current one (made by notice). Nothing changes until the link is
// opened (ConfirmEmail).
func RequestEmailChange(ctx context.Context, db bun.IDB, u *User, in EmailChangeRequest, confirm LinkMail,
	notice func(to, newAddress string, at time.Time) Mail, now time.Time) (string, error) {
	email, ok := NormalizeEmail(in.Email)
	if !ok {
		return "", Invalid("email", "Enter a valid email address.")
	}
	if email == u.Email {
		return "", Invalid("email", "That is your address already.")
	}
	ok, err := VerifyPassword(u.PasswordHash, in.Password)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", Invalid("current_password", "That is not your current password.")
	}
	taken, err := db.NewSelect().Model((*User)(nil)).Where("email = ?", email).Exists(ctx)
	if err != nil {
		return "", err
	}
	if taken {
		return "", Invalid("email", "An account with this email already exists.")
	}
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		token, expires, err := issueToken(ctx, tx, u.ID, purposeEmailChange, email, EmailLinkLifetime, now)
		if err != nil {
			return err
		}
		key := HashInvitationToken(token)
		if err := QueueMail(ctx, tx, "email-change:"+key, confirm(email, token, expires), now); err != nil {
			return err
		}
		if err := QueueMail(ctx, tx, "email-change-notice:"+key, notice(u.Email, email, now), now); err != nil {
			return err
		}
		return RecordPlatform(ctx, tx, Event{At: now, ActorUserID: u.ID, Action: "user.email_change_request", Target: u.Email,
			Details: map[string]any{"after": map[string]any{"email": email}}})
	})
	return email, err
}

// ConfirmEmail opens a verification or email-change link: the address is confirmed, or the
// account moves to the new one (confirmed by this very link). It returns the user as now stored.
func ConfirmEmail(ctx context.Context, db bun.IDB, token string, now time.Time) (*User, error) {
	u := new(User)
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		t, err := openToken(ctx, tx, token, true, now, purposeVerify, purposeEmailChange)
		if err != nil {
			return err
		}
		if err := tx.NewSelect().Model(u).Where("id = ?", t.UserID).For("UPDATE").Scan(ctx); err != nil {
			return notFound(err, "user")
		}
		if _, err := tx.NewUpdate().Model((*accountToken)(nil)).Set("used_at = ?", now).Where("token_hash = ?", t.TokenHash).Exec(ctx); err != nil {
			return err
		}
		switch t.Purpose {
		case purposeVerify:
			if t.Email != u.Email {
				return ErrLinkInvalid // the address changed since the link was sent
			}
			if u.EmailVerifiedAt == nil {
				u.EmailVerifiedAt = &now
			}
			_, err = tx.NewUpdate().Model((*User)(nil)).Set("email_verified_at = ?", u.EmailVerifiedAt).Where("id = ?", u.ID).Exec(ctx)
			if err != nil {
				return err
			}
			return RecordPlatform(ctx, tx, Event{At: now, ActorUserID: u.ID, Action: "user.email_verify", Target: u.Email})
		default:
			old := u.Email
			_, err = tx.NewUpdate().Model((*User)(nil)).Set("email = ?", t.Email).Set("email_verified_at = ?", now).Where("id = ?", u.ID).Exec(ctx)
			if isUniqueViolation(err) {
				return Errorf(ErrConflict, "An account with %s was created meanwhile, so the address cannot move to it.", t.Email)
			}
			if err != nil {
				return err
			}
			u.Email, u.EmailVerifiedAt = t.Email, &now
			// Links sent to the old address (reset, verification) stop working.
			if _, err := tx.NewUpdate().Model((*accountToken)(nil)).Set("used_at = ?", now).
				Where("user_id = ? AND used_at IS NULL", u.ID).Exec(ctx); err != nil {
				return err
			}
			return RecordPlatform(ctx, tx, Event{At: now, ActorUserID: u.ID, Action: "user.email_change", Target: u.Email,
				Details: map[string]any{"before": map[string]any{"email": old}, "after": map[string]any{"email": u.Email}}})
		}
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// markVerifiedBy confirms the user's address when an invitation sent to it is accepted: the link
// reached that inbox.
func markVerifiedBy(ctx context.Context, db bun.IDB, u *User, invitedEmail string, now time.Time) error {
	if u.EmailVerified() || !strings.EqualFold(invitedEmail, u.Email) {
		return nil
	}
	if _, err := db.NewUpdate().Model((*User)(nil)).Set("email_verified_at = ?", now).
		Where("id = ? AND email = ? AND email_verified_at IS NULL", u.ID, invitedEmail).Exec(ctx); err != nil {
		return fmt.Errorf("verify email: %w", err)
	}
	u.EmailVerifiedAt = &now
	return nil
}
