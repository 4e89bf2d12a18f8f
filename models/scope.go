package models

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

type workspaceKey struct{}
type crossTenantKey struct{}

// withWorkspace returns a context bound to workspace id; tenant queries made with it are scoped to
// it. Only the makers of a Tenant call it, so no context carries a workspace outside the
// workspace's transaction.
func withWorkspace(ctx context.Context, id uuid.UUID) context.Context {
	return context.WithValue(ctx, workspaceKey{}, id)
}

// workspaceFrom returns the workspace the context is bound to.
func workspaceFrom(ctx context.Context) (uuid.UUID, bool) {
	id, ok := ctx.Value(workspaceKey{}).(uuid.UUID)
	return id, ok && id != uuid.Nil
}

// crossTenant returns a context whose tenant queries are not scoped by the hooks. Only
// ReadAcrossTenants calls it, for support views and platform jobs; the reason is logged. Row-level
// security still applies: ReadAcrossTenants opens the database side, and only for reads.
func crossTenant(ctx context.Context, reason string) context.Context {
	if reason == "" {
		panic("models.ReadAcrossTenants needs a reason")
	}
	slog.InfoContext(ctx, "cross-tenant access", "reason", reason)
	return context.WithValue(ctx, crossTenantKey{}, reason)
}

// crossTenantReason returns the reason given to crossTenant, or "".
func crossTenantReason(ctx context.Context) string {
	r, _ := ctx.Value(crossTenantKey{}).(string)
	return r
}

// Scoped is embedded first in every tenant-owned model. Its bun hooks scope selects, updates and
// deletes to the context's workspace and stamp inserts with it; with no workspace they fail with
// ErrNoWorkspace. The hooks cannot see Count, Exists, raw SQL, subqueries or upserts (package doc): row-level security
// covers those.
type Scoped struct {
	WorkspaceID uuid.UUID `bun:"workspace_id,pk,type:uuid"`
}

var (
	_ bun.BeforeSelectHook      = (*Scoped)(nil)
	_ bun.BeforeUpdateHook      = (*Scoped)(nil)
	_ bun.BeforeDeleteHook      = (*Scoped)(nil)
	_ bun.BeforeAppendModelHook = (*Scoped)(nil)
)

// scopeOf returns the workspace to filter by; scoped is false in a cross-tenant read.
func scopeOf(ctx context.Context) (id uuid.UUID, scoped bool, err error) {
	if id, ok := workspaceFrom(ctx); ok {
		return id, true, nil
	}
	if crossTenantReason(ctx) != "" {
		return uuid.Nil, false, nil
	}
	return uuid.Nil, false, ErrNoWorkspace
}

// BeforeSelect adds the workspace filter to every select on a tenant model.
func (*Scoped) BeforeSelect(ctx context.Context, q *bun.SelectQuery) error {
	id, scoped, err := scopeOf(ctx)
	if scoped {
		q.Where("?TableAlias.workspace_id = ?", id)
	}
	return err
}

// BeforeUpdate adds the workspace filter to every update on a tenant model.
func (*Scoped) BeforeUpdate(ctx context.Context, q *bun.UpdateQuery) error {
	id, scoped, err := scopeOf(ctx)
	if scoped {
		q.Where("?TableAlias.workspace_id = ?", id)
	}
	return err
}

// BeforeDelete adds the workspace filter to every delete on a tenant model.
func (*Scoped) BeforeDelete(ctx context.Context, q *bun.DeleteQuery) error {
	id, scoped, err := scopeOf(ctx)
	if scoped {
		q.Where("?TableAlias.workspace_id = ?", id)
	}
	return err
}

// BeforeAppendModel stamps the context's workspace on inserted and updated rows and refuses a row
// that names another workspace.
func (s *Scoped) BeforeAppendModel(ctx context.Context, q bun.Query) error {
	switch q.(type) {
	case *bun.InsertQuery, *bun.UpdateQuery:
	default:
		return nil
	}
	id, scoped, err := scopeOf(ctx)
	if err != nil {
		return err
	}
	if !scoped {
		if s.WorkspaceID == uuid.Nil {
			return ErrNoWorkspace
		}
		return nil
	}
	if s.WorkspaceID == uuid.Nil {
		s.WorkspaceID = id
	} else if s.WorkspaceID != id {
		return fmt.Errorf("row of workspace %s written in workspace %s: %w", s.WorkspaceID, id, ErrNoWorkspace)
	}
	return nil
}

// Workspace returns the row's workspace.
func (s *Scoped) Workspace() uuid.UUID { return s.WorkspaceID }
