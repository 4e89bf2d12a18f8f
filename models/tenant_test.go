package models_test

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"atrium/models"
	"atrium/models/testdb"
)

// globalFuncs are the model functions that may take a bare connection, each with the reason it is
// not a tenant function. Every other function reaches tenant tables through a *Tenant, so the
// compiler refuses a call without the workspace's transaction.
var globalFuncs = map[string]string{
	"bindWorkspace": "binds the transaction a Tenant is made from", "prepares": "reads a pool's prepared-statement setting", "taskCommit": "reads a pool's task commit setting",
	"InWorkspace": "makes the Tenant", "ReadAcrossTenants": "makes the cross-tenant read",
	"CreateUser": "users are global", "Authenticate": "users are global", "UserByID": "users are global",
	"UserByEmail": "users are global", "RememberWorkspace": "users are global", "RecordPlatform": "platform events belong to no workspace",
	"TrackSession": "sessions are global", "TouchSession": "sessions are global", "ActiveSessions": "sessions are global",
	"EndSessions": "sessions are global", "ForgetSession": "sessions are global", "LoginLockedFor": "log-in throttle is global",
	"RecordLoginFailure": "log-in throttle is global", "ClearLoginFailures": "log-in throttle is global",
	"AuthenticateKey":   "SECURITY DEFINER lookup of a key before its workspace is known",
	"InvitationByToken": "SECURITY DEFINER lookup of an invitation before its workspace is known",
	"ResolveMembership": "SECURITY DEFINER lookup of the user's membership",
	"NewSessionStore":   "sessions are global",
	"LoadFrame":         "the user and SECURITY DEFINER lookups of the user's memberships",
	"UserWorkspaces":    "SECURITY DEFINER list of the user's workspaces", "SlugTaken": "SECURITY DEFINER check",
	"CreateWorkspace": "opens the new workspace's own transaction", "AcceptInvitation": "opens the workspace's transaction",
	"startTaskTx": "opens the key's workspace transaction", "ReadInWorkspace": "makes the TenantRead", "ReadPage": "makes the page read's Tenant", "PreparesStatements": "reads a pool's prepared-statement setting", "NewKeyCache": "authenticates keys before their workspace is known", "NewMeter": "opens each workspace's transaction for its leases", "lookupKey": "SECURITY DEFINER lookup of a key before its workspace is known", "poolConnConfig": "reads the pool's connection settings", "StartTask": "opens the key's workspace transaction",
	"CompleteTask":    "opens the key's workspace transaction",
	"ReplicaPosition": "reads the servers' replication positions, no table", "SupportWorkspaces": "opens a cross-tenant read",
	"SignUp": "users are global", "RenameUser": "users are global", "ChangePassword": "users and sessions are global",
	"RenewSession": "sessions are global", "SupportSearch": "opens a cross-tenant read",
	"SupportExport": "opens a cross-tenant read", "readAcrossTenantsOnce": "makes the one-statement cross-tenant read", "onPgxConn": "hands the reads that make a TenantRead or a cross-tenant read their pgx connection",
	"SupportLook":      "SECURITY DEFINER lookup of a workspace and support's grant by slug, which records the look in the workspace's binding; then its read-only page read",
	"readSupportUsage": "makes the workspace's read-only page read", "readOnlyPage": "makes the read-only page read's Tenant",
	"loadPasskeyUser": "passkeys are a user's, global", "ListPasskeys": "passkeys are a user's, global",
	"CountPasskeys": "passkeys are a user's, global", "RenamePasskey": "passkeys are a user's, global",
	"RemovePasskey": "passkeys are a user's, global", "SoleOwnedShared": "SECURITY DEFINER list of the user's memberships",
	"DeleteAccount":            "users are global; opens each of the user's workspace transactions",
	"DeletedWorkspaces":        "SECURITY DEFINER list of the user's scheduled deletions",
	"RestoreWorkspace":         "SECURITY DEFINER lookup of the user's scheduled deletion; opens its transaction",
	"EraseDeletedWorkspaces":   "SECURITY DEFINER list of the workspaces to erase; opens each one's transaction",
	"FoldTaskMinutes":          "SECURITY DEFINER list of the workspaces with minute slots to fold; opens each one's transaction",
	"SupportDeletions":         "opens a cross-tenant read",
	"LookupSupportAccess":      "SECURITY DEFINER lookup of a workspace and support's grant by slug",
	"GrantSupportAccess":       "opens the workspace's transaction",
	"checkAccountSecondFactor": "a user's second factor is global",
	"VerifyAuditChains":        "opens a cross-tenant read for the workspace list and each workspace's transaction",
	"SignRedactions":           "SECURITY DEFINER signing of an erasure's rewrites, which span workspaces",
	"pruneAuditLogs":           "SECURITY DEFINER list of workspaces; opens each workspace's transaction",
	"pruneAudit":               "opens the workspace's transaction",
	"SetAuditRetention":        "opens a cross-tenant read to find the workspace, then its transaction",
	// The mail outbox and the job queue belong to no workspace; neither do account links.
	"enqueue": "the job queue is global", "JobCounts": "the job queue is global", "QueueMail": "the mail outbox is global", "QueueMailNow": "the mail outbox is global",
	"OutboxMailByID": "the mail outbox is global", "MailAttemptFailed": "the mail outbox is global",
	"MailSent": "the mail outbox is global", "RecentMail": "the mail outbox is global",
	"issueToken": "account links are global", "openToken": "account links are global",
	"ResetLimited": "the reset throttle is global", "RequestPasswordReset": "users and the job queue are global",
	"IssuePasswordReset": "users are global", "PasswordResetEmail": "account links are global",
	"ResetPassword": "users and sessions are global", "throttled": "the throttles are global",
	"SignUpVerified": "users are global", "sendVerification": "users are global",
	"ResendVerification": "users are global", "RequestEmailChange": "users are global", "ConfirmEmail": "users are global",
	"markVerifiedBy":      "users are global; runs in the accepting workspace's transaction",
	"recordFailure":       "log-in throttle is global",
	"UserHasSecondFactor": "a user's second factors are global", "ReadTwoFactor": "a user's second factors are global",
	"BeginTOTP": "a user's second factors are global", "EnableTOTP": "a user's second factors are global",
	"replaceRecoveryCodes": "a user's second factors are global", "VerifyTOTP": "a user's second factors are global",
	"UseRecoveryCode": "a user's second factors are global", "checkChange": "a user's second factors are global",
	"DisableTOTP": "a user's second factors are global", "RegenerateRecoveryCodes": "a user's second factors are global",
	"SecondFactorLockedFor": "the second step's throttle is global", "RecordSecondFactorFailure": "the second step's throttle is global",
	"ClearSecondFactorFailures": "the second step's throttle is global",
	// The retention sweep: global tables directly, each workspace's rows in its own transaction.
	"RunRetention": "sweeps global tables; opens each workspace's transaction", "sweep": "sweeps global tables",
	"pruneWorkspace":   "opens the workspace's transaction",
	"pruneEventTables": "SECURITY DEFINER list of workspaces; opens each workspace's transaction",
	"BuildExport":      "opens the workspace's transactions: its snapshot and one per stored chunk", "buildExport": "opens the workspace's transactions: its snapshot and one per stored chunk",
	"inSnapshot": "makes the snapshot's Tenant", "pruneExports": "opens the workspace's transaction",
	// A quota alert's job: the workspace comes from the job the counting statement queued.
	"DeliverQuotaAlert": "a job's work; opens the alert's workspace's transaction",
}

// modelFiles parses the package's non-test sources.
func modelFiles(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return fset, files
}

// TestTenantFunctionsTakeATenant is the compile-time wall's own guard: a model function that takes
// a bare connection (bun.IDB, bun.Tx, *bun.DB) must be one of the global ones above, so a new
// tenant function cannot slip back to a connection the compiler would accept without a workspace.
func TestTenantFunctionsTakeATenant(t *testing.T) {
	fset, files := modelFiles(t)
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil {
				continue
			}
			for _, p := range fn.Type.Params.List {
				typ := types(p.Type)
				if typ != "bun.IDB" && typ != "bun.Tx" && typ != "*bun.DB" {
					continue
				}
				if _, ok := globalFuncs[fn.Name.Name]; !ok {
					t.Errorf("%s: %s takes %s; a tenant function takes *Tenant (or add it to globalFuncs with the reason it is global)",
						fset.Position(fn.Pos()), fn.Name.Name, typ)
				}
			}
		}
	}
}

// TestOnlyTheTenantMakersMakeATenant: a Tenant or AllTenants value is built in exactly the
// functions that bind the transaction first.
func TestOnlyTheTenantMakersMakeATenant(t *testing.T) {
	fset, files := modelFiles(t)
	makers := []string{"InWorkspace", "narrowed", "ReadAcrossTenants", "inSnapshot", "ReadPage", "readOnlyPage"}
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				cl, ok := n.(*ast.CompositeLit)
				if !ok {
					return true
				}
				if id, ok := cl.Type.(*ast.Ident); ok && (id.Name == "Tenant" || id.Name == "AllTenants") && !slices.Contains(makers, fn.Name.Name) {
					t.Errorf("%s: %s builds a %s; only %v may", fset.Position(cl.Pos()), fn.Name.Name, id.Name, makers)
				}
				return true
			})
		}
	}
}

func types(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			return x.Name + "." + e.Sel.Name
		}
	case *ast.StarExpr:
		return "*" + types(e.X)
	case *ast.Ident:
		return e.Name
	}
	return ""
}

// TestAcrossTenantsNarrowedToOne: a support read narrowed to workspace A is bound like A's own
// transaction (row-level security and the hooks see only A, writes are refused), and the
// cross-tenant read is whole again afterwards.
func TestAcrossTenantsNarrowedToOne(t *testing.T) {
	d := testdb.Get(t)
	a, b := newFixture(t, d.App), newFixture(t, d.App)
	ctx := testdb.AllowUnscoped(testdb.Ctx(t))
	agentWorkspaces := func(ctx context.Context, q interface {
		Scan(context.Context, ...any) error
	}) map[uuid.UUID]bool {
		t.Helper()
		var ids []uuid.UUID
		if err := q.Scan(ctx, &ids); err != nil {
			t.Fatal(err)
		}
		out := map[uuid.UUID]bool{}
		for _, id := range ids {
			out[id] = true
		}
		return out
	}
	err := models.ReadAcrossTenants(ctx, d.App, "test", func(ctx context.Context, all *models.AllTenants) error {
		if seen := agentWorkspaces(ctx, all.Tx().NewRaw("SELECT workspace_id FROM agents")); !seen[a.ws.ID] || !seen[b.ws.ID] {
			t.Fatalf("the cross-tenant read does not see both workspaces: %v", seen)
		}
		err := all.InWorkspace(ctx, a.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			if tn.WorkspaceID() != a.ws.ID || !tn.ReadOnly() {
				t.Errorf("narrowed tenant: workspace %s read-only %v", tn.WorkspaceID(), tn.ReadOnly())
			}
			if seen := agentWorkspaces(ctx, tn.Tx().NewRaw("SELECT workspace_id FROM agents")); seen[b.ws.ID] || !seen[a.ws.ID] {
				t.Errorf("narrowed to A, row-level security lets a raw query see %v", seen)
			}
			agents, _, err := models.ListAgents(ctx, tn, models.Page{Limit: 100})
			if err != nil {
				return err
			}
			for _, ag := range agents {
				if ag.WorkspaceID != a.ws.ID {
					t.Errorf("ListAgents narrowed to A returned B's agent %s", ag.ID)
				}
			}
			if len(agents) == 0 {
				t.Error("ListAgents narrowed to A returned none of A's agents")
			}
			return nil
		})
		if err != nil {
			return err
		}
		// A write in the narrowed read is refused by the transaction, and the refusal leaves the
		// outer read usable.
		err = all.InWorkspace(ctx, a.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := models.CreateAgent(ctx, tn, &models.APICaller{WorkspaceID: a.ws.ID}, "intruder", testdb.Clock())
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("write in a narrowed support read: %v, want a read-only refusal", err)
		}
		if seen := agentWorkspaces(ctx, all.Tx().NewRaw("SELECT workspace_id FROM agents")); !seen[a.ws.ID] || !seen[b.ws.ID] {
			t.Errorf("after narrowing, the cross-tenant read sees only %v", seen)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := models.ReadAcrossTenants(ctx, d.App, "test", func(ctx context.Context, all *models.AllTenants) error {
		return all.InWorkspace(ctx, uuid.Nil, func(context.Context, *models.Tenant) error { return nil })
	}); !errors.Is(err, models.ErrNoWorkspace) {
		t.Errorf("narrowing to no workspace: %v, want ErrNoWorkspace", err)
	}
}
