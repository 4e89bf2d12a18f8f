package models

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Page sizes of the JSON API's lists.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// Page asks for one page of a list: at most Limit rows after the row whose id is After.
type Page struct {
	Limit int
	After uuid.UUID
}

// PageError says what is wrong with a limit or cursor.
type PageError struct{ Message string }

// Error returns the message.
func (e *PageError) Error() string { return e.Message }

// ParsePage reads the limit and the opaque cursor as clients send them ("" for either means the
// default limit and the first page).
func ParsePage(limit, cursor string) (Page, error) {
	p := Page{Limit: DefaultPageLimit}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > MaxPageLimit {
			return p, &PageError{fmt.Sprintf("limit must be a whole number from 1 to %d.", MaxPageLimit)}
		}
		p.Limit = n
	}
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err == nil && len(b) == 16 {
			p.After, err = uuid.FromBytes(b)
		}
		if err != nil || len(b) != 16 {
			return p, &PageError{"cursor is not one this API gave out; start again without it."}
		}
	}
	return p, nil
}

// cursorAfter is the opaque cursor that continues after the row with id.
func cursorAfter(id uuid.UUID) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// trimPage cuts the extra row a list query fetched to learn whether another page follows, and
// returns the cursor of that page ("" when there is none).
func trimPage[T any](rows []T, limit int, id func(T) uuid.UUID) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, cursorAfter(id(rows[limit-1]))
}

// ListAgents lists the tenant's workspace's agents, newest first. It runs in the workspace's
// transaction.
func ListAgents(ctx context.Context, tn *Tenant, page Page) ([]Agent, string, error) {
	var out []Agent
	q := tn.db().NewSelect().Model(&out).OrderExpr("a.id DESC").Limit(int64(page.Limit) + 1)
	if page.After != uuid.Nil {
		q = q.Where("a.id < ?", page.After)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, "", fmt.Errorf("list agents: %w", err)
	}
	out, next := trimPage(out, page.Limit, func(a Agent) uuid.UUID { return a.ID })
	return out, next, nil
}

// CountAgents counts the workspace's agents.
func CountAgents(ctx context.Context, tn *Tenant) (int64, error) {
	var n int64
	if err := tn.db().NewSelect().Model((*Agent)(nil)).ColumnExpr("count(*)").Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("count agents: %w", err)
	}
	return n, nil
}

// AgentByID loads one agent of the tenant's workspace; another workspace's is not found.
func AgentByID(ctx context.Context, tn *Tenant, id uuid.UUID) (*Agent, error) {
	a := new(Agent)
	err := tn.db().NewSelect().Model(a).Where("a.id = ?", id).Scan(ctx)
	return a, notFound(err, "agent")
}

// CreateAgent adds an agent, on behalf of the API key caller. It runs in the workspace's
// transaction.
func CreateAgent(ctx context.Context, tn *Tenant, caller *APICaller, name string, now time.Time) (*Agent, error) {
	name = strings.TrimSpace(name)
	if msg := TextProblem(name, false); msg != "" {
		return nil, Invalid("name", msg)
	}
	if n := utf8.RuneCountInString(name); n < 1 || n > 120 {
		return nil, Invalid("name", "must be 1–120 characters")
	}
	a := &Agent{ID: NewID(), Name: name, Status: "active", CreatedAt: now}
	if _, err := tn.db().NewInsert().Model(a).Returning("*").Exec(ctx); err != nil {
		return nil, fmt.Errorf("create agent: %w", err)
	}
	err := Record(ctx, tn, Event{At: now, ActorKeyID: caller.KeyID, Action: "agent.create", Target: a.ID.String(),
		Details: map[string]any{"name": name, "key": caller.Prefix}})
	return a, err
}

// TaskFilter narrows the task list.
type TaskFilter struct {
	Status  TaskStatus
	AgentID uuid.UUID
}

// ParseTaskStatus accepts one of the task statuses.
func ParseTaskStatus(s string) (TaskStatus, bool) {
	switch t := TaskStatus(s); t {
	case TaskQueued, TaskRunning, TaskSucceeded, TaskFailed, TaskCancelled:
		return t, true
	}
	return "", false
}

// MessageRoles are who may speak in a task's conversation.
var MessageRoles = []string{"user", "assistant", "system", "tool"}

// MaxMessageBody is the longest message body, in characters.
const MaxMessageBody = 32_000

// AddMessage appends a message to a running or queued task's conversation; a finished task's
// conversation is closed. It runs in the workspace's transaction.
func AddMessage(ctx context.Context, tn *Tenant, taskID uuid.UUID, role, body string, now time.Time) (*Message, error) {
	var v ValidationError
	known := false
	for _, r := range MessageRoles {
		known = known || r == role
	}
	if !known {
		v.Add("role", "must be one of "+strings.Join(MessageRoles, ", "))
	}
	if msg := TextProblem(body, true); msg != "" {
		v.Add("body", msg)
	} else if n := utf8.RuneCountInString(body); n < 1 || n > MaxMessageBody {
		v.Add("body", fmt.Sprintf("must be 1–%d characters", MaxMessageBody))
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	// The task row's lock keeps a completion from slipping in between the check and the insert.
	t := new(Task)
	if err := tn.db().NewSelect().Model(t).Where("t.id = ?", taskID).For("SHARE").Scan(ctx); err != nil {
		return nil, notFound(err, "task")
	}
	if t.Status != TaskRunning && t.Status != TaskQueued {
		return nil, Errorf(ErrConflict, "Task %s is %s; its conversation is closed.", t.ID, t.Status)
	}
	m := &Message{ID: NewID(), TaskID: taskID, Role: role, Body: body, CreatedAt: now}
	if _, err := tn.db().NewInsert().Model(m).Returning("*").Exec(ctx); err != nil {
		return nil, fmt.Errorf("add message: %w", err)
	}
	return m, nil
}
