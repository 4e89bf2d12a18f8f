package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// AccountDeletion is the delete-my-account form.
type AccountDeletion struct {
	Password string
	// Code is a current second-factor code; asked for when the account has a second factor.
	Code string
}

// SoleOwnership is a workspace whose only owner is the person, with other members in it: the
// person must hand ownership to one of them before deleting their account.
type SoleOwnership struct {
	ID      uuid.UUID `bun:"id"`
	Name    string    `bun:"name"`
	Slug    string    `bun:"slug"`
	Members int64     `bun:"members"`
}

// AccountDeletionBlocked refuses an account deletion that would leave workspaces without an owner.
type AccountDeletionBlocked struct {
	Workspaces []SoleOwnership
}

func (e *AccountDeletionBlocked) Error() string {
	names := make([]string, 0, len(e.Workspaces))
	for _, w := range e.Workspaces {
		names = append(names, w.Name)
	}
	return "You are the only owner of " + strings.Join(names, ", ") + ". Make another member owner first, or delete the workspace."
}

// AccountDeleted says what a deletion did.
type AccountDeleted struct {
	WorkspacesDeleted []string // names of the workspaces the person was alone in
	MembershipsEnded  int
	KeysRevoked       int64
	SessionsEnded     int
	EventsAnonymised  int64
}

// SoleOwnedShared lists the workspaces that stop userID from deleting their account.
func SoleOwnedShared(ctx context.Context, db bun.IDB, userID uuid.UUID) ([]SoleOwnership, error) {
	var out []SoleOwnership
	err := db.NewRaw("SELECT * FROM atrium_sole_owned_shared(?)", userID).Scan(ctx, &out)
	return out, err
}

// checkAccountSecondFactor asks an account that has a second factor for a current code. It is
// the one place a deletion looks at second factors.
func checkAccountSecondFactor(ctx context.Context, db bun.IDB, u *User, code string, now time.Time) error {
	st, err := ReadTwoFactor(ctx, db, u.ID)
	if err != nil || !st.Enabled {
		return err
	}
	ok, err := VerifyTOTP(ctx, db, u.ID, code, now)
	if err == nil && !ok && normalizeCode(code) == "" {
		ok, err = UseRecoveryCode(ctx, db, u, code, now)
	}
	if err != nil {
		return err
	}
	if !ok {
		return Invalid("code", "That code is not right, or was used already. Enter the code your authenticator app shows now, or a recovery code.")
	}
	return nil
}

// DeleteAccount deletes u's account at the person's request, in one transaction: the password
// (and a second-factor code, when the account has one) must be right; it is refused, changing
// nothing, while u is the only owner of a workspace with other members. Otherwise every
// membership ends and the API keys u made there are revoked, workspaces where u was the only
// member are deleted with everything in them, every session ends, and the audit events that name
// u are anonymised (they stay, with the actor shown as "deleted user") as the user row goes.
func DeleteAccount(ctx context.Context, db bun.IDB, u *User, in AccountDeletion, now time.Time) (*AccountDeleted, error) {
	out := &AccountDeleted{}
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// The user's row, locked: two deletions (or a deletion and an invitation's acceptance)
		// of one account run one after the other.
		cur := new(User)
		if err := tx.NewSelect().Model(cur).Where("id = ?", u.ID).For("UPDATE").Scan(ctx); err != nil {
			return notFound(err, "user")
		}
		ok, err := VerifyPassword(cur.PasswordHash, in.Password)
		if err != nil {
			return err
		}
		if !ok {
			return Invalid("password", "That is not your password.")
		}
		if err := checkAccountSecondFactor(ctx, tx, cur, in.Code, now); err != nil {
			return err
		}
		if blocked, err := SoleOwnedShared(ctx, tx, cur.ID); err != nil {
			return err
		} else if len(blocked) > 0 {
			return &AccountDeletionBlocked{Workspaces: blocked}
		}
		if err := RecordPlatform(ctx, tx, Event{At: now, ActorUserID: cur.ID, Action: "user.delete", Target: cur.Email}); err != nil {
			return err
		}
		list, err := UserWorkspaces(ctx, tx, cur.ID)
		if err != nil {
			return err
		}
		for _, m := range list {
			if err := InWorkspace(ctx, tx, m.ID, func(ctx context.Context, tn *Tenant) error {
				return leaveForDeletion(ctx, tn, cur, now, out)
			}); err != nil {
				return err
			}
		}
		if out.SessionsEnded, err = EndSessions(ctx, tx, cur.ID, uuid.Nil, ""); err != nil {
			return err
		}
		if err := tx.NewRaw("SELECT atrium_erase_user(?)", cur.ID).Scan(ctx, &out.EventsAnonymised); err != nil {
			return err
		}
		// The rewritten events keep their places in their chains, signed as redactions.
		_, err = SignRedactions(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// leaveForDeletion ends u's membership of the tenant's workspace, or deletes the workspace when u
// is its only member. The workspace is locked first, so the owner count cannot move under it.
func leaveForDeletion(ctx context.Context, tn *Tenant, u *User, now time.Time, out *AccountDeleted) error {
	ws, err := lockWorkspace(ctx, tn)
	if err != nil {
		return err
	}
	me, err := memberOf(ctx, tn, u.ID)
	if errors.Is(err, ErrNotFound) {
		return nil // removed a moment ago
	}
	if err != nil {
		return err
	}
	members, err := CountMembers(ctx, tn)
	if err != nil {
		return err
	}
	if members == 1 {
		if err := RecordPlatform(ctx, tn.db(), Event{At: now, ActorUserID: u.ID, Action: "workspace.delete", Target: ws.Slug,
			Details: map[string]any{"workspace_id": ws.ID.String(), "name": ws.Name, "tier": ws.Tier, "reason": "account_deleted"}}); err != nil {
			return err
		}
		if _, err := tn.db().NewDelete().Model(ws).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("delete workspace: %w", err)
		}
		out.WorkspacesDeleted = append(out.WorkspacesDeleted, ws.Name)
		return nil
	}
	if me.Role == RoleOwner {
		owners, err := CountOwners(ctx, tn)
		if err != nil {
			return err
		}
		if owners < 2 {
			// Made the only owner since the check above: refuse rather than orphan the workspace.
			return &AccountDeletionBlocked{Workspaces: []SoleOwnership{{ID: ws.ID, Name: ws.Name, Slug: ws.Slug, Members: members}}}
		}
	}
	keys, err := dropMember(ctx, tn, me, now)
	if err != nil {
		return err
	}
	out.MembershipsEnded++
	out.KeysRevoked += keys
	return Record(ctx, tn, Event{At: now, ActorUserID: u.ID, Action: "member.leave", Target: u.Email,
		Details: map[string]any{"user_id": u.ID.String(), "before": map[string]any{"role": me.Role},
			"after": nil, "api_keys_revoked": keys, "reason": "account_deleted"}})
}
