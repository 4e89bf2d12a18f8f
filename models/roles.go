package models

import (
	"fmt"
	"strings"
)

// Role is a member's role in a workspace.
type Role string

// The roles, most powerful first.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
	RoleViewer Role = "viewer"
)

// Roles lists every role, most powerful first.
var Roles = []Role{RoleOwner, RoleAdmin, RoleMember, RoleViewer}

// ParseRole accepts a role name in any case.
func ParseRole(s string) (Role, bool) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	return r, r.Rank() >= 0
}

// Rank orders roles: higher is more powerful; -1 for an unknown role.
func (r Role) Rank() int {
	switch r {
	case RoleOwner:
		return 3
	case RoleAdmin:
		return 2
	case RoleMember:
		return 1
	case RoleViewer:
		return 0
	}
	return -1
}

// AtLeast reports whether r is o or more powerful.
func (r Role) AtLeast(o Role) bool { return r.Rank() >= o.Rank() && r.Rank() >= 0 }

// Label is the role's display name.
func (r Role) Label() string {
	if r == "" {
		return ""
	}
	return strings.ToUpper(string(r[:1])) + string(r[1:])
}

// Action is something a member may be allowed to do in a workspace.
type Action string

// The actions of the role table (docs/console.md, Roles).
const (
	ActView          Action = "view"           // workspace, members, usage
	ActManageMembers Action = "manage_members" // invite, change roles, remove non-owners
	ActManageOwners  Action = "manage_owners"  // add/remove/demote owners, transfer ownership
	ActManageTier    Action = "manage_tier"    // change tier, rename, delete workspace
	ActManageAllKeys Action = "manage_all_keys"
	ActManageOwnKeys Action = "manage_own_keys"
	ActViewAudit     Action = "view_audit"
	ActCancelTasks   Action = "cancel_tasks" // stop a running task
	ActManageHooks   Action = "manage_webhooks"
	ActManageAlerts  Action = "manage_alerts" // quota alerts: thresholds and recipients
	ActExport        Action = "export"        // export the workspace's data, download the zip
)

var minRole = map[Action]Role{
	ActView:          RoleViewer,
	ActManageMembers: RoleAdmin,
	ActManageOwners:  RoleOwner,
	ActManageTier:    RoleOwner,
	ActManageAllKeys: RoleAdmin,
	ActManageOwnKeys: RoleMember,
	ActViewAudit:     RoleAdmin,
	ActCancelTasks:   RoleAdmin,
	ActManageHooks:   RoleAdmin,
	ActManageAlerts:  RoleOwner,
	ActExport:        RoleOwner,
}

// Can reports whether role r may perform a.
func (r Role) Can(a Action) bool {
	need, ok := minRole[a]
	return ok && r.AtLeast(need)
}

// Scan lets a Role come straight from the enum column.
func (r *Role) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*r = Role(v)
	case []byte:
		*r = Role(v)
	default:
		return fmt.Errorf("role: cannot scan %T", src)
	}
	return nil
}
