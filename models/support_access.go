package models

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// SupportAccessWindow is how long one reason opens a workspace to a support person, unless the
// server is configured otherwise.
const SupportAccessWindow = 60 * time.Minute

// Lengths of a support reason and of its ticket reference, in characters.
const (
	SupportReasonMax = 500
	SupportTicketMax = 100
)

// SupportGrant is a support person's access to one workspace, given for a reason and a ticket,
// until ExpiresAt.
type SupportGrant struct {
	bun.BaseModel `bun:"table:support_access_grants,alias:sg"`
	Scoped

	ID            uuid.UUID `bun:"id,pk,type:uuid"`
	SupportUserID uuid.UUID `bun:"support_user_id,type:uuid"`
	Reason        string    `bun:"reason"`
	Ticket        string    `bun:"ticket"`
	GrantedAt     time.Time `bun:"granted_at"`
	ExpiresAt     time.Time `bun:"expires_at"`
}

// SupportAccess is what support needs before opening a workspace: which workspace the slug names,
// and the person's grant in force, if any (Grant nil: a reason is needed first).
type SupportAccess struct {
	WorkspaceID uuid.UUID
	Name        string
	// Workspace is the workspace's row as the lookup read it (id, name, slug, tier, created_at,
	// deleted_at).
	Workspace *Workspace
	Grant     *SupportGrant
}

// LookupSupportAccess finds the workspace slug and viewer's grant in force at now, in one round
// trip (atrium_support_access). Only support staff may (anyone else, or no such workspace:
// ErrNotFound).
func LookupSupportAccess(ctx context.Context, db bun.IDB, viewer *User, slug string, now time.Time) (*SupportAccess, error) {
	if viewer == nil || !viewer.IsSupport() {
		return nil, Errorf(ErrNotFound, "not found")
	}
	return supportAccess(ctx, db.NewRaw("SELECT * FROM atrium_support_access(?, ?, ?)", slug, viewer.ID, now), viewer)
}

// supportAccess reads the answer of atrium_support_access, or of atrium_support_look (the same
// columns), asked by viewer.
func supportAccess(ctx context.Context, q *bun.RawQuery, viewer *User) (*SupportAccess, error) {
	var rows []struct {
		WorkspaceID uuid.UUID  `bun:"workspace_id"`
		Name        string     `bun:"name"`
		Slug        string     `bun:"slug"`
		Tier        Tier       `bun:"tier"`
		CreatedAt   time.Time  `bun:"created_at"`
		DeletedAt   *time.Time `bun:"deleted_at"`
		GrantID     *uuid.UUID `bun:"grant_id"`
		Reason      *string    `bun:"reason"`
		Ticket      *string    `bun:"ticket"`
		ExpiresAt   *time.Time `bun:"expires_at"`
	}
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("support access: %w", err)
	}
	if len(rows) == 0 {
		return nil, Errorf(ErrNotFound, "workspace not found")
	}
	r := rows[0]
	a := &SupportAccess{WorkspaceID: r.WorkspaceID, Name: r.Name,
		Workspace: &Workspace{ID: r.WorkspaceID, Name: r.Name, Slug: r.Slug, Tier: r.Tier, CreatedAt: r.CreatedAt, DeletedAt: r.DeletedAt}}
	if r.GrantID != nil && r.Reason != nil && r.Ticket != nil && r.ExpiresAt != nil {
		a.Grant = &SupportGrant{ID: *r.GrantID, SupportUserID: viewer.ID, Reason: *r.Reason, Ticket: *r.Ticket, ExpiresAt: *r.ExpiresAt}
		a.Grant.WorkspaceID = r.WorkspaceID
	}
	return a, nil
}

// checkSupportReason validates a reason and a ticket reference.
func checkSupportReason(reason, ticket string) error {
	var v ValidationError
	switch n := utf8.RuneCountInString(reason); {
	case n == 0:
		v.Add("reason", "Say why you need to open this workspace.")
	case n > SupportReasonMax:
		v.Add("reason", fmt.Sprintf("Keep the reason within %d characters (this one has %d).", SupportReasonMax, n))
	default:
		if msg := TextProblem(reason, true); msg != "" {
			v.Add("reason", msg)
		}
	}
	switch n := utf8.RuneCountInString(ticket); {
	case n == 0:
		v.Add("ticket", "Give the ticket this work is for (its number or link).")
	case n > SupportTicketMax:
		v.Add("ticket", fmt.Sprintf("Keep the ticket reference within %d characters.", SupportTicketMax))
	default:
		if msg := TextProblem(ticket, false); msg != "" {
			v.Add("ticket", msg)
		}
	}
	return v.Err()
}

// SupportAccessMail composes the mail that tells an owner support opened the workspace; nil sends
// none (mail not configured).
type SupportAccessMail func(to, workspace string, viewer *User, g *SupportGrant) *Mail

// GrantSupportAccess opens the workspace ws to viewer (support staff) for window from now, for
// reason and ticket (both required, length-limited). The grant is stored, the workspace's audit
// log records it (support.access, with the reason and ticket), and when the workspace's owners
// asked for it each owner is mailed once for this grant, all in the workspace's transaction.
func GrantSupportAccess(ctx context.Context, db bun.IDB, viewer *User, ws uuid.UUID, reason, ticket string, now time.Time,
	window time.Duration, mail SupportAccessMail) (*SupportGrant, error) {
	if viewer == nil || !viewer.IsSupport() {
		return nil, Errorf(ErrNotFound, "not found")
	}
	reason, ticket = strings.TrimSpace(reason), strings.TrimSpace(ticket)
	if err := checkSupportReason(reason, ticket); err != nil {
		return nil, err
	}
	if window <= 0 {
		window = SupportAccessWindow
	}
	g := &SupportGrant{ID: NewID(), SupportUserID: viewer.ID, Reason: reason, Ticket: ticket, GrantedAt: now.UTC(), ExpiresAt: now.UTC().Add(window)}
	err := InWorkspace(ctx, db, ws, func(ctx context.Context, tn *Tenant) error {
		w, err := WorkspaceByID(ctx, tn, ws)
		if err != nil {
			return err
		}
		if _, err := tn.db().NewInsert().Model(g).Exec(ctx); err != nil {
			return fmt.Errorf("grant support access: %w", err)
		}
		if err := Record(ctx, tn, Event{At: now, ActorUserID: viewer.ID, Action: "support.access", Target: w.Slug,
			Details: map[string]any{"reason": reason, "ticket": ticket, "grant_id": g.ID.String(),
				"expires_at": g.ExpiresAt.Format(time.RFC3339), "minutes": int(window / time.Minute)}}); err != nil {
			return err
		}
		if !w.NotifySupportAccess || mail == nil {
			return nil
		}
		var owners []struct {
			ID    uuid.UUID `bun:"id"`
			Email string    `bun:"email"`
		}
		if err := tn.db().NewRaw(`SELECT u.id, u.email::text AS email FROM workspace_members AS m JOIN users AS u ON u.id = m.user_id
			WHERE m.workspace_id = ? AND m.role = 'owner' ORDER BY u.email`, ws).Scan(ctx, &owners); err != nil {
			return fmt.Errorf("owners to tell: %w", err)
		}
		for _, o := range owners {
			if m := mail(o.Email, w.Name, viewer, g); m != nil {
				if err := QueueWorkspaceMail(ctx, tn, "support-access:"+g.ID.String()+":"+o.ID.String(), *m, now); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// SetNotifySupportAccess turns the owners' mail at every support access on or off. Only an owner
// may; it runs in the workspace's transaction and is audited when it changes.
func SetNotifySupportAccess(ctx context.Context, tn *Tenant, actor Actor, on bool, now time.Time) (*Workspace, error) {
	ws, _, err := lockAs(ctx, tn, actor, ActManageTier, "Only owners choose whether support access is mailed to them.")
	if err != nil {
		return nil, err
	}
	if ws.NotifySupportAccess == on {
		return ws, nil
	}
	ws.NotifySupportAccess = on
	if _, err := tn.db().NewUpdate().Model(ws).Column("notify_support_access").WherePK().Exec(ctx); err != nil {
		return nil, fmt.Errorf("notify support access: %w", err)
	}
	return ws, Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "workspace.notify_support_access", Target: ws.Slug,
		Details: map[string]any{"before": map[string]any{"notify_support_access": !on}, "after": map[string]any{"notify_support_access": on}}})
}
