// Package models is Atrium's domain: workspaces and their members, invitations, API keys, agents,
// tasks and messages, tiers and their limits, metering, the audit log and support's reads, on
// PostgreSQL through bun. Handlers call its use cases and run no SQL of their own.
//
// # Tenant isolation
//
// Every tenant-owned table carries workspace_id first in its primary key and in every foreign key
// between tenant tables. Four walls keep one workspace's rows from another:
//
//   - The compiler: tenant tables are reached only through a *Tenant, a transaction bound to one
//     workspace, which only InWorkspace (and AllTenants.InWorkspace, a support read narrowed to
//     one workspace) make. Functions on global tables (users, sessions, the SECURITY DEFINER
//     lookups) take the plain connection.
//   - The base query hook: tenant models embed Scoped, whose bun hooks add the workspace to every
//     select, update and delete and stamp it on inserts; without a workspace they fail with
//     ErrNoWorkspace. The hooks cannot see Count, Exists, raw SQL, subqueries or upserts; the code
//     avoids those forms on tenant tables.
//   - Row-level security: ENABLE and FORCE on every tenant table, a policy on
//     current_setting('app.workspace_id'), set transaction-locally by InWorkspace, under a runtime
//     role (AppRole) that is not the owner and has no BYPASSRLS. ReadAcrossTenants opens a READ
//     ONLY transaction that support's policies require.
//   - Tests that try every query form against another workspace's rows (scope_test.go,
//     tenant_test.go) and a scope guard in models/testdb that fails any statement on a tenant
//     table without workspace_id.
//
// # Access
//
// Roles (owner, admin, member, viewer) can do Actions (Role.Can); the route table in package
// handlers names the same actions, and the use cases check them again under the workspace's row
// lock, so a role that changed since the request was authorised is not trusted.
// MemberPermissions says what an actor may do to a member and InvitationPermissions what a role
// may do with invitations, for the checks and the pages alike.
//
// # Time
//
// Model code never reads a clock: functions that compare times take now from the caller
// (clock_test.go enforces it). Column defaults are the one exception.
//
// The full design is in docs/design.md at the repository's root.
package models
