package models

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// The JSON API's other metered reads, each one statement after the workspace's binding: one round
// trip, no write. Each names workspace_id in its WHERE clause (a leakproof uuid comparison, so an
// index condition under row-level security), as ReadAgent does.

// taskColumns are a task's columns in the order taskDest scans them.
// (with the key that started it, joined as ak: taskFrom).
const taskColumns = `t.workspace_id, t.id, t.agent_id, t.status::text, t.input, t.created_at, t.started_at, t.finished_at, t.agent_minutes, t.key_id, coalesce(ak.name, '')`

// taskFrom is the tasks table (t) with the key that started each task (ak).
const taskFrom = `tasks AS t LEFT JOIN api_keys AS ak ON ak.workspace_id = t.workspace_id AND ak.id = t.key_id`

func taskDest(t *Task, status *string) []any {
	return []any{(*[16]byte)(&t.WorkspaceID), (*[16]byte)(&t.ID), (*[16]byte)(&t.AgentID), status, &t.Input, &t.CreatedAt,
		&t.StartedAt, &t.FinishedAt, &t.AgentMinutes, &t.KeyID, &t.KeyName}
}

// ReadTask answers one task of the read's workspace in one round trip.
func ReadTask(ctx context.Context, r *TenantRead, id uuid.UUID) (*Task, error) {
	var t Task
	var status string
	found := false
	err := r.query(ctx, `SELECT `+taskColumns+` FROM `+taskFrom+` WHERE t.workspace_id = $1 AND t.id = $2`,
		[]string{r.ws.String(), id.String()}, taskDest(&t, &status), func() error { found = true; return nil })
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound(sql.ErrNoRows, "task")
	}
	t.Status = TaskStatus(status)
	return &t, nil
}

// ReadTasks lists the read's workspace's tasks, newest first, optionally of one status and one
// agent, in one round trip. Each combination of filters is its own statement text, so each keeps a plan of its own.
func ReadTasks(ctx context.Context, r *TenantRead, f TaskFilter, page Page) ([]Task, string, error) {
	out := make([]Task, 0, page.Limit+1)
	var t Task
	var status string
	after := page.After
	if after == uuid.Nil {
		after = uuid.Max
	}
	q := `SELECT ` + taskColumns + ` FROM ` + taskFrom + ` WHERE t.workspace_id = $1 AND t.id < $2`
	args := []string{r.ws.String(), after.String(), strconv.Itoa(page.Limit + 1)}
	if f.Status != "" {
		args = append(args, string(f.Status))
		q += ` AND t.status = $` + strconv.Itoa(len(args)) + `::task_status`
	}
	if f.AgentID != uuid.Nil {
		args = append(args, f.AgentID.String())
		q += ` AND t.agent_id = $` + strconv.Itoa(len(args)) + `::uuid`
	}
	q += ` ORDER BY t.id DESC LIMIT $3`
	err := r.query(ctx, q, args, taskDest(&t, &status), func() error {
		t.Status = TaskStatus(status)
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list tasks: %w", err)
	}
	out, next := trimPage(out, page.Limit, func(t Task) uuid.UUID { return t.ID })
	return out, next, nil
}

// ReadMessages lists a task's messages, oldest first (the order of the conversation), in one round
// trip: the task is joined, so a task that is not the workspace's is not found, and one without messages
// answers one row of nulls.
func ReadMessages(ctx context.Context, r *TenantRead, taskID uuid.UUID, page Page) ([]Message, string, error) {
	out := make([]Message, 0, page.Limit+1)
	var (
		id, task   *[16]byte
		role, body *string
		created    *time.Time
		found      bool
		wsID       [16]byte
	)
	err := r.query(ctx, `SELECT t.workspace_id, m.id, m.task_id, m.role, m.body, m.created_at FROM tasks AS t
		LEFT JOIN LATERAL (SELECT msg.id, msg.task_id, msg.role, msg.body, msg.created_at FROM messages AS msg
		  WHERE msg.workspace_id = $1 AND msg.task_id = t.id AND msg.id > $3 ORDER BY msg.id LIMIT $4) AS m ON true
		WHERE t.workspace_id = $1 AND t.id = $2 ORDER BY m.id`,
		[]string{r.ws.String(), taskID.String(), page.After.String(), strconv.Itoa(page.Limit + 1)},
		[]any{&wsID, &id, &task, &role, &body, &created}, func() error {
			found = true
			if id != nil {
				out = append(out, Message{Scoped: Scoped{WorkspaceID: uuid.UUID(wsID)}, ID: *id, TaskID: *task, Role: *role, Body: *body, CreatedAt: *created})
			}
			return nil
		})
	if err != nil {
		return nil, "", fmt.Errorf("list messages: %w", err)
	}
	if !found {
		return nil, "", notFound(sql.ErrNoRows, "task")
	}
	out, next := trimPage(out, page.Limit, func(m Message) uuid.UUID { return m.ID })
	return out, next, nil
}

// ReadWorkspace answers the read's workspace in one round trip.
func ReadWorkspace(ctx context.Context, r *TenantRead) (*Workspace, error) {
	var w Workspace
	var tier string
	found := false
	err := r.query(ctx, `SELECT w.id, w.name, w.slug, w.tier::text, w.created_at FROM workspaces AS w WHERE w.id = $1`,
		[]string{r.ws.String()}, []any{(*[16]byte)(&w.ID), &w.Name, &w.Slug, &tier, &w.CreatedAt},
		func() error { found = true; return nil })
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound(sql.ErrNoRows, "workspace")
	}
	w.Tier = Tier(tier)
	return &w, nil
}

// ReadUsage measures the read's workspace now against its tier, like CurrentUsage, with the tier
// read in the same statement: one round trip.
func ReadUsage(ctx context.Context, r *TenantRead, now time.Time) (*Snapshot, error) {
	s := &Snapshot{PeriodStart: MonthStart(now), HourStart: now.UTC().Truncate(time.Hour)}
	s.PeriodEnd = s.PeriodStart.AddDate(0, 1, 0)
	var tier string
	var pending int64
	found := false
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	// The running tasks' count is planned at each call, beside the statement (queryWith).
	err := r.queryWith(ctx, `SELECT w.tier::text,
		  (SELECT coalesce(sum(agent_minutes), 0) FROM usage_hourly_total WHERE workspace_id = $1 AND hour >= $2 AND hour < $3),
		  (SELECT coalesce(sum(api_calls) FILTER (WHERE hour = $4), 0) FROM usage_hourly WHERE workspace_id = $1 AND hour >= $2 AND hour < $3),
		  (SELECT coalesce(sum(api_calls), 0) FROM usage_hourly WHERE workspace_id = $1 AND hour >= $2 AND hour < $3),
		  (SELECT count(*) FROM workspace_members WHERE workspace_id = $1),
		  (SELECT count(*) FROM invitations WHERE workspace_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $5),
		  (SELECT count(*) FROM agents WHERE workspace_id = $1)
		FROM workspaces AS w WHERE w.id = $1`,
		[]string{r.ws.String(), ts(s.PeriodStart), ts(s.PeriodEnd), ts(s.HourStart), ts(now)},
		[]any{&tier, &s.AgentMinutesMonth, &s.APICallsHour, &s.APICallsMonth, &s.MemberCount, &pending, &s.Agents},
		func() error { found = true; return nil }, runningTasksSQL, []any{&s.RunningTasks})
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	if !found {
		return nil, notFound(sql.ErrNoRows, "workspace")
	}
	s.Tier = Tier(tier)
	s.Limits = s.Tier.Limits()
	s.Members = s.MemberCount + pending
	return s, nil
}
