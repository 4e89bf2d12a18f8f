package models_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

// hookEndpoint registers an endpoint of ws taking types, as the workspace's owner.
func hookEndpoint(t *testing.T, db bun.IDB, tm *keyTeam, url string, types ...string) *models.WebhookEndpoint {
	t.Helper()
	var e *models.WebhookEndpoint
	err := keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
		e, err = models.CreateWebhookEndpoint(ctx, tn, tm.actor(tm.owner), models.NewWebhookEndpoint{URL: url, EventTypes: types},
			models.WebhookURLRules{AllowHTTP: true, AllowPrivate: true}, testdb.Now(t))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// hookRows counts, as the tables' owner, ws's events of type typ, their deliveries and the
// delivery jobs waiting for them.
func hookRows(t *testing.T, owner *bun.DB, ws uuid.UUID, typ string) (events, deliveries, jobs int) {
	t.Helper()
	ctx := context.Background()
	err := owner.NewRaw(`SELECT (SELECT count(*) FROM webhook_events WHERE workspace_id = ?0 AND type = ?1),
		(SELECT count(*) FROM webhook_deliveries d JOIN webhook_events v ON v.workspace_id = d.workspace_id AND v.id = d.event_id
		  WHERE d.workspace_id = ?0 AND v.type = ?1 AND d.status = 'pending'),
		(SELECT count(*) FROM river_job j JOIN webhook_deliveries d ON d.id = (j.args->>'delivery_id')::uuid
		   JOIN webhook_events v ON v.workspace_id = d.workspace_id AND v.id = d.event_id
		  WHERE j.kind = 'webhook_delivery' AND j.args->>'workspace_id' = ?0::text AND v.type = ?1 AND j.state = 'available')`,
		ws, typ).Scan(ctx, &events, &deliveries, &jobs)
	if err != nil {
		t.Fatal(err)
	}
	return events, deliveries, jobs
}

func TestEmitEventMakesOneDeliveryPerSubscribedEndpoint(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t)
	tm := newKeyTeam(t, d.App)
	other := newKeyTeam(t, d.App)
	hookEndpoint(t, d.App, tm, "http://127.0.0.1:1/a", "member.*", "task.started")
	hookEndpoint(t, d.App, tm, "http://127.0.0.1:1/b", "member.added")
	hookEndpoint(t, d.App, tm, "http://127.0.0.1:1/c", "invitation.created")
	emit := func(ws uuid.UUID, typ string) {
		t.Helper()
		err := keyIn(t, d.App, ws, func(ctx context.Context, tn *models.Tenant) error {
			return models.EmitEvent(ctx, tn, typ, map[string]any{"user_id": "u1"}, now)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	emit(tm.ws.ID, "member.added")
	if ev, del, jobs := hookRows(t, d.Owner, tm.ws.ID, "member.added"); ev != 1 || del != 2 || jobs != 2 {
		t.Errorf("member.added: %d events, %d deliveries, %d jobs; want 1, 2, 2", ev, del, jobs)
	}
	emit(tm.ws.ID, "member.removed") // only the family subscription takes it
	if ev, del, jobs := hookRows(t, d.Owner, tm.ws.ID, "member.removed"); ev != 1 || del != 1 || jobs != 1 {
		t.Errorf("member.removed: %d events, %d deliveries, %d jobs; want 1, 1, 1", ev, del, jobs)
	}
	emit(tm.ws.ID, "api_key.created") // nobody takes it: nothing is written
	if ev, del, jobs := hookRows(t, d.Owner, tm.ws.ID, "api_key.created"); ev != 0 || del != 0 || jobs != 0 {
		t.Errorf("api_key.created: %d events, %d deliveries, %d jobs; want none", ev, del, jobs)
	}
	emit(other.ws.ID, "member.added") // the other workspace has no endpoints
	if ev, del, jobs := hookRows(t, d.Owner, other.ws.ID, "member.added"); ev != 0 || del != 0 || jobs != 0 {
		t.Errorf("workspace without endpoints: %d events, %d deliveries, %d jobs; want none", ev, del, jobs)
	}

	// An event in a transaction that rolls back leaves nothing behind.
	err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		if err := models.EmitEvent(ctx, tn, "member.role_changed", nil, now); err != nil {
			return err
		}
		return models.ErrConflict
	})
	if err != models.ErrConflict {
		t.Fatalf("rolled back emit: %v", err)
	}
	if ev, _, jobs := hookRows(t, d.Owner, tm.ws.ID, "member.role_changed"); ev != 0 || jobs != 0 {
		t.Errorf("rolled back: %d events, %d jobs remain", ev, jobs)
	}
}

func TestTaskStartAndCompletionEmitEvents(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t)
	c, tm := meterCaller(t, d.App, models.TierPro, now)
	hookEndpoint(t, d.App, tm, "http://127.0.0.1:1/tasks", "task.*")
	agent := meterAgent(t, d.App, c)
	task, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "go", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.CompleteTask(testdb.Ctx(t), d.App, c, task.ID, "succeeded", now.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	// A second completion changes nothing and emits nothing.
	if _, err := models.CompleteTask(testdb.Ctx(t), d.App, c, task.ID, "succeeded", now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]int{"task.started": 1, "task.completed": 1, "task.cancelled": 0} {
		if ev, del, _ := hookRows(t, d.Owner, tm.ws.ID, typ); ev != want || del != want {
			t.Errorf("%s: %d events, %d deliveries; want %d", typ, ev, del, want)
		}
	}
	var raw string
	err = d.Owner.NewRaw("SELECT data::text FROM webhook_events WHERE workspace_id = ? AND type = 'task.completed'", tm.ws.ID).
		Scan(context.Background(), &raw)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(raw), &data); err != nil {
		t.Fatal(err)
	}
	if data["id"] != task.ID.String() || data["status"] != "succeeded" || data["agent_minutes"] != float64(2) {
		t.Errorf("task.completed data = %v", data)
	}
}

// TestChangesEmitTheirEvents: the console's changes emit their webhook events in their own
// transactions, with data about what changed and never a secret.
func TestChangesEmitTheirEvents(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t)
	tm := newKeyTeam(t, d.App)
	hookEndpoint(t, d.App, tm, "http://127.0.0.1:1/all", "member.*", "invitation.*", "api_key.*", "workspace.*")
	owner := tm.actor(tm.owner)
	k, token := keyCreate(t, d.App, tm.ws.ID, owner, "read", 0, now)
	err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		if _, _, err := models.RollKey(ctx, tn, owner, k.ID, 0, now); err != nil {
			return err
		}
		if _, err := models.RevokeKey(ctx, tn, owner, k.ID, now); err != nil {
			return err
		}
		if err := models.ChangeRole(ctx, tn, owner, tm.mia.ID, models.RoleViewer, now); err != nil {
			return err
		}
		if err := models.RemoveMember(ctx, tn, owner, tm.max.ID, now); err != nil {
			return err
		}
		if _, err := models.ChangeTier(ctx, tn, owner, models.TierPro, now); err != nil {
			return err
		}
		inv, err := models.CreateInvitation(ctx, tn, owner, "guest-"+uuid.NewString()[:8]+"@example.com", models.RoleMember, now)
		if err != nil {
			return err
		}
		_, err = models.RevokeInvitation(ctx, tn, owner, inv.ID, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"api_key.created", "api_key.rolled", "api_key.revoked", "member.role_changed", "member.removed",
		"workspace.tier_changed", "invitation.created", "invitation.revoked"} {
		if ev, del, _ := hookRows(t, d.Owner, tm.ws.ID, typ); ev != 1 || del != 1 {
			t.Errorf("%s: %d events, %d deliveries; want 1 each", typ, ev, del)
		}
	}
	var leaked int
	if err := d.Owner.NewRaw("SELECT count(*) FROM webhook_events WHERE workspace_id = ? AND data::text LIKE ?", tm.ws.ID, "%"+token[len(token)-20:]+"%").
		Scan(context.Background(), &leaked); err != nil {
		t.Fatal(err)
	}
	if leaked != 0 {
		t.Errorf("%d events carry the key's secret", leaked)
	}
}

// TestWorkspaceDeletionEmitsItsEvent: scheduling a workspace's deletion emits workspace.deleted
// to its endpoints, which exist until the workspace is erased.
func TestWorkspaceDeletionEmitsItsEvent(t *testing.T) {
	d := testdb.Get(t)
	tm := newKeyTeam(t, d.App)
	hookEndpoint(t, d.App, tm, "http://127.0.0.1:1/ws", "workspace.*")
	err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := models.DeleteWorkspace(ctx, tn, tm.actor(tm.owner), tm.ws.Slug, testdb.Now(t), nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev, del, jobs := hookRows(t, d.Owner, tm.ws.ID, "workspace.deleted"); ev != 1 || del != 1 || jobs != 1 {
		t.Errorf("workspace.deleted: %d events, %d deliveries, %d jobs; want 1 each", ev, del, jobs)
	}
}
