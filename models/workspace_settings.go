package models

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// RenameWorkspace gives the tenant's workspace a new name; its address (slug) stays. Only an
// owner may. It runs in the workspace's transaction; the same name again changes nothing.
func RenameWorkspace(ctx context.Context, tn *Tenant, actor Actor, name string, now time.Time) (*Workspace, error) {
	name = strings.TrimSpace(name)
	if msg := CheckWorkspaceName(name); msg != "" {
		return nil, &ValidationError{Fields: map[string]string{"name": msg}}
	}
	ws, _, err := lockAs(ctx, tn, actor, ActManageTier, "Only owners rename the workspace.")
	if err != nil {
		return nil, err
	}
	if ws.Name == name {
		return ws, nil
	}
	before := ws.Name
	ws.Name = name
	if _, err := tn.db().NewUpdate().Model(ws).Column("name").WherePK().Exec(ctx); err != nil {
		return nil, fmt.Errorf("rename workspace: %w", err)
	}
	return ws, Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "workspace.rename", Target: ws.Slug,
		Details: map[string]any{"before": map[string]any{"name": before}, "after": map[string]any{"name": name}}})
}

// SetRequireTwoFactor turns the workspace's "require two-factor" setting on or off. Only an owner
// may, and turning it on needs the owner to have a second factor (they would be shut out of the
// workspace otherwise). It runs in the workspace's transaction and is audited when it changes.
func SetRequireTwoFactor(ctx context.Context, tn *Tenant, actor Actor, on bool, now time.Time) (*Workspace, error) {
	ws, _, err := lockAs(ctx, tn, actor, ActManageTier, "Only owners change whether the workspace requires two-factor.")
	if err != nil {
		return nil, err
	}
	if ws.RequireTwoFactor == on {
		return ws, nil
	}
	if on {
		has, err := UserHasSecondFactor(ctx, tn.db(), actor.UserID)
		if err != nil {
			return nil, err
		}
		if !has {
			return nil, Invalid("require_two_factor", "Turn on two-factor authentication for your own account first.")
		}
	}
	ws.RequireTwoFactor = on
	if _, err := tn.db().NewUpdate().Model(ws).Column("require_two_factor").WherePK().Exec(ctx); err != nil {
		return nil, fmt.Errorf("require two-factor: %w", err)
	}
	return ws, Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "workspace.require_two_factor", Target: ws.Slug,
		Details: map[string]any{"before": map[string]any{"require_two_factor": !on}, "after": map[string]any{"require_two_factor": on}}})
}
