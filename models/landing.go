package models

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// RememberWorkspace notes that the user opened workspace wsID, for their next log-in to land
// there. The caller writes only when u.LastWorkspaceID differs, so most requests write nothing;
// the condition keeps a concurrent request's identical write a no-op too.
func RememberWorkspace(ctx context.Context, db bun.IDB, u *User, wsID uuid.UUID) error {
	if u.LastWorkspaceID != nil && *u.LastWorkspaceID == wsID {
		return nil
	}
	_, err := db.NewUpdate().Model((*User)(nil)).Set("last_workspace_id = ?", wsID).
		Where("id = ?", u.ID).Where("last_workspace_id IS DISTINCT FROM ?", wsID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("remember workspace: %w", err)
	}
	u.LastWorkspaceID = &wsID
	return nil
}

// Landing is the workspace a log-in opens for u among their workspaces: the one they used last
// while they still belong to it, else their only one; "" sends them to the list.
func Landing(u *User, workspaces []Membership) string {
	if u.LastWorkspaceID != nil {
		for _, w := range workspaces {
			if w.ID == *u.LastWorkspaceID {
				return w.Slug
			}
		}
	}
	if len(workspaces) == 1 {
		return workspaces[0].Slug
	}
	return ""
}

// RolesFor lists the roles that may do a, most powerful first.
func RolesFor(a Action) []Role {
	var out []Role
	for _, r := range Roles {
		if r.Can(a) {
			out = append(out, r)
		}
	}
	return out
}

// RoleHolders lists up to limit members of the tenant's workspace whose role is one of roles, most
// powerful first, then by name, with their users.
func RoleHolders(ctx context.Context, tn *Tenant, roles []Role, limit int) ([]Member, error) {
	var out []Member
	if len(roles) == 0 {
		return out, nil
	}
	err := tn.db().NewSelect().Model(&out).Relation("User").Where("m.role IN (?)", bun.List(roles)).
		OrderExpr(`m.role, lower("user".name), "user".email`).Limit(int64(limit)).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("role holders: %w", err)
	}
	return out, nil
}
