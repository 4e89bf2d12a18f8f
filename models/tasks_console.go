package models

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
)

// TaskPageSize is how many tasks one page of the console's task lists shows.
const TaskPageSize = 50

// AgentPageSize is how many agents one page of the console's agent list shows.
const AgentPageSize = 50

// MessagePageSize is how many messages one page of a task's conversation shows.
const MessagePageSize = 100

// ListedTask is a task as the console lists it: with its agent's name and the key that started it.
type ListedTask struct {
	Task
	AgentName string
	// KeyName and KeyPrefix name the key that started the task ("" when none is recorded).
	KeyName, KeyPrefix string
}

// Duration is how long the task ran, or has been running at now; zero when it never started.
func (t *ListedTask) Duration(now time.Time) time.Duration {
	if t.StartedAt == nil {
		return 0
	}
	end := now
	if t.FinishedAt != nil {
		end = *t.FinishedAt
	}
	return max(0, end.Sub(*t.StartedAt))
}

// AgentStats is an agent with what the console shows about it.
type AgentStats struct {
	Agent
	// Running counts its running tasks; MinutesMonth sums the agent-minutes of its tasks finished
	// this calendar month (UTC).
	Running      int64
	MinutesMonth int64
	// LastActive is the latest of its creation, its last task's finish and its running tasks' starts.
	LastActive time.Time
}

// TaskCursor is where a page of a running-first task list starts: after the task After, which is
// a running one (Finished false) or not.
type TaskCursor struct {
	Finished bool
	After    uuid.UUID
}

// String is the cursor as the console's links carry it ("" for the first page).
func (c TaskCursor) String() string {
	if c.After == uuid.Nil {
		return ""
	}
	b := make([]byte, 17)
	if c.Finished {
		b[0] = 1
	}
	copy(b[1:], c.After[:])
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseTaskCursor reads a cursor the console gave out ("" is the first page).
func ParseTaskCursor(s string) (TaskCursor, error) {
	if s == "" {
		return TaskCursor{}, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 17 || b[0] > 1 {
		return TaskCursor{}, &PageError{"That page of tasks does not exist; start from the first page."}
	}
	c := TaskCursor{Finished: b[0] == 1}
	copy(c.After[:], b[1:])
	return c, nil
}

// TasksQuery asks for one page of the console's task list: running tasks first, then the others,
// each newest first, optionally of one status and one agent.
type TasksQuery struct {
	Status  TaskStatus
	AgentID uuid.UUID
	Cursor  TaskCursor
	// WithAgent also reads the agent AgentID with its figures (the agent's page); the page is not
	// found when the workspace has no such agent.
	WithAgent bool
	// WithAgents also reads the workspace's agents by name, for the agent filter (at most 500).
	WithAgents bool
}

// TasksPageData is one page of tasks with what the page around it shows.
type TasksPageData struct {
	Tasks []ListedTask
	// Next is the cursor of the next page; zero on the last.
	Next TaskCursor
	// Running counts the workspace's running tasks (all agents).
	Running int64
	Agent   *AgentStats
	Agents  []Agent
}

type listedTaskJSON struct {
	ID           uuid.UUID  `json:"id"`
	AgentID      uuid.UUID  `json:"agent_id"`
	Status       TaskStatus `json:"status"`
	Input        string     `json:"input"`
	CreatedAt    time.Time  `json:"created_at"`
	StartedAt    *time.Time `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at"`
	AgentMinutes int64      `json:"agent_minutes"`
	KeyID        *uuid.UUID `json:"key_id"`
	AgentName    string     `json:"agent_name"`
	KeyName      string     `json:"key_name"`
	KeyPrefix    string     `json:"key_prefix"`
}

func (j listedTaskJSON) task(ws uuid.UUID) ListedTask {
	return ListedTask{Task: Task{Scoped: Scoped{WorkspaceID: ws}, ID: j.ID, AgentID: j.AgentID, Status: j.Status, Input: j.Input,
		CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt, AgentMinutes: j.AgentMinutes, KeyID: j.KeyID},
		AgentName: j.AgentName, KeyName: j.KeyName, KeyPrefix: j.KeyPrefix}
}

type agentStatsJSON struct {
	ID           uuid.UUID  `json:"id"`
	Name         string     `json:"name"`
	Status       string     `json:"status"`
	CreatedAt    time.Time  `json:"created_at"`
	Running      int64      `json:"running"`
	Minutes      int64      `json:"minutes"`
	LastFinished *time.Time `json:"last_finished"`
	LastStarted  *time.Time `json:"last_started"`
}

func (j agentStatsJSON) stats(ws uuid.UUID) AgentStats {
	s := AgentStats{Agent: Agent{Scoped: Scoped{WorkspaceID: ws}, ID: j.ID, Name: j.Name, Status: j.Status, CreatedAt: j.CreatedAt},
		Running: j.Running, MinutesMonth: j.Minutes, LastActive: j.CreatedAt}
	for _, t := range []*time.Time{j.LastFinished, j.LastStarted} {
		if t != nil && t.After(s.LastActive) {
			s.LastActive = *t
		}
	}
	return s
}

// listedTaskColumns is a task (k) with its agent (a) and key (ak) as JSON; the input is cut to a
// preview.
const listedTaskColumns = `jsonb_build_object('id', k.id, 'agent_id', k.agent_id, 'status', k.status,
	'input', left(k.input, ?9), 'created_at', k.created_at, 'started_at', k.started_at, 'finished_at', k.finished_at,
	'agent_minutes', k.agent_minutes, 'key_id', k.key_id, 'agent_name', coalesce(a.name, ''),
	'key_name', coalesce(ak.name, ''), 'key_prefix', coalesce(ak.prefix, ''))`

// agentStatsColumns is an agent (a) with its figures as JSON, each read from one index range or
// row: running tasks and last start (tasks_running_agent_idx), minutes this month (the agent's
// row of the agent_minutes_monthly rollup, kept by triggers on tasks), last finish
// (tasks_agent_finished_idx, its newest entry).
// ?0 is the workspace, ?6 the month's start.
const agentStatsColumns = `jsonb_build_object('id', a.id, 'name', a.name, 'status', a.status, 'created_at', a.created_at,
	'running', (SELECT count(*) FROM tasks AS r WHERE r.workspace_id = ?0 AND r.status = 'running' AND r.agent_id = a.id),
	'last_started', (SELECT max(r.started_at) FROM tasks AS r WHERE r.workspace_id = ?0 AND r.status = 'running' AND r.agent_id = a.id),
	'minutes', coalesce((SELECT m.agent_minutes FROM agent_minutes_monthly AS m
	  WHERE m.workspace_id = ?0 AND m.agent_id = a.id AND m.month = ?6), 0),
	'last_finished', (SELECT max(f.finished_at) FROM tasks AS f
	  WHERE f.workspace_id = ?0 AND f.agent_id = a.id AND f.finished_at IS NOT NULL))`

// ReadTasksPage reads one page of the task list in one statement: the running tasks first (by
// the running tasks' partial index), then the others, each newest first, so a page reads about a
// page of rows from an index whatever the history's length. It runs in the workspace's
// transaction; now is the caller's clock (for the agent's month).
func ReadTasksPage(ctx context.Context, tn *Tenant, q TasksQuery, now time.Time) (*TasksPageData, error) {
	agentCond := ""
	if q.AgentID != uuid.Nil {
		agentCond = " AND t.agent_id = ?1"
	}
	running := q.Status == "" || q.Status == TaskRunning
	others := q.Status != TaskRunning
	if q.Cursor.Finished {
		running = false
	}
	afterRunning, afterOthers := uuid.Max, uuid.Max
	if q.Cursor.After != uuid.Nil {
		if q.Cursor.Finished {
			afterOthers = q.Cursor.After
		} else {
			afterRunning = q.Cursor.After
		}
	}
	var branches []string
	if running {
		branches = append(branches, `(SELECT t.*, 0 AS phase FROM tasks AS t WHERE t.workspace_id = ?0 AND t.status = 'running'
			AND t.id < ?2`+agentCond+` ORDER BY t.id DESC LIMIT ?4)`)
	}
	if others {
		statusCond := "t.status <> 'running'"
		if q.Status != "" {
			statusCond = "t.status = ?5"
		}
		branches = append(branches, `(SELECT t.*, 1 AS phase FROM tasks AS t WHERE t.workspace_id = ?0 AND `+statusCond+`
			AND t.id < ?3`+agentCond+` ORDER BY t.id DESC LIMIT ?4)`)
	}
	agentCol, agentsCol := "NULL::jsonb", "NULL::jsonb"
	if q.WithAgent {
		agentCol = `(SELECT ` + agentStatsColumns + ` FROM agents AS a WHERE a.workspace_id = ?0 AND a.id = ?1)`
	}
	if q.WithAgents {
		agentsCol = `(SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, 'name', x.name, 'status', x.status,
			'created_at', x.created_at) ORDER BY lower(x.name), x.id), '[]')
			FROM (SELECT * FROM agents WHERE workspace_id = ?0 ORDER BY lower(name), id LIMIT 500) AS x)`
	}
	month := MonthStart(now)
	var row struct {
		Tasks, Agent, Agents []byte
		Running              int64
	}
	// A scalar first: bun takes a first destination that is a slice for a list of rows.
	err := tn.db().NewRaw(`SELECT
		  (SELECT count(*) FROM tasks WHERE workspace_id = ?0 AND status = 'running') AS running,
		  (SELECT coalesce(jsonb_agg(`+listedTaskColumns+` ORDER BY k.phase, k.id DESC), '[]') FROM (
		     SELECT * FROM (`+strings.Join(branches, " UNION ALL ")+`) AS u LIMIT ?4) AS k
		     LEFT JOIN agents AS a ON a.workspace_id = ?0 AND a.id = k.agent_id
		     LEFT JOIN api_keys AS ak ON ak.workspace_id = ?0 AND ak.id = k.key_id) AS tasks,
		  `+agentCol+` AS agent,
		  `+agentsCol+` AS agents`,
		tn.ws, q.AgentID, afterRunning, afterOthers, TaskPageSize+1, string(q.Status), month, nil, nil, 120).
		Scan(ctx, &row.Running, &row.Tasks, &row.Agent, &row.Agents)
	if err != nil {
		return nil, fmt.Errorf("tasks page: %w", err)
	}
	out := &TasksPageData{Running: row.Running}
	var tasks []listedTaskJSON
	if err := json.Unmarshal(row.Tasks, &tasks); err != nil {
		return nil, fmt.Errorf("tasks page: %w", err)
	}
	for _, j := range tasks {
		out.Tasks = append(out.Tasks, j.task(tn.ws))
	}
	if len(out.Tasks) > TaskPageSize {
		out.Tasks = out.Tasks[:TaskPageSize]
		last := out.Tasks[TaskPageSize-1]
		out.Next = TaskCursor{Finished: last.Status != TaskRunning, After: last.ID}
	}
	if q.WithAgent {
		if len(row.Agent) == 0 {
			return nil, Errorf(ErrNotFound, "agent not found")
		}
		var a agentStatsJSON
		if err := json.Unmarshal(row.Agent, &a); err != nil {
			return nil, fmt.Errorf("tasks page: %w", err)
		}
		s := a.stats(tn.ws)
		out.Agent = &s
	}
	if q.WithAgents {
		var agents []agentStatsJSON
		if err := json.Unmarshal(row.Agents, &agents); err != nil {
			return nil, fmt.Errorf("tasks page: %w", err)
		}
		for _, a := range agents {
			out.Agents = append(out.Agents, a.stats(tn.ws).Agent)
		}
	}
	return out, nil
}

// AgentsPageData is one page of the agent list.
type AgentsPageData struct {
	Agents []AgentStats
	// Total counts the agents matching the search; Page and Pages number the pages from 1.
	Total, Page, Pages int
}

// ReadAgentsPage reads one page of the workspace's agents by name, those whose name contains
// query (any case), with each agent's running tasks, minutes this month and last activity, in one
// statement. A page beyond the last is the last. It runs in the workspace's transaction; now is
// the caller's clock.
func ReadAgentsPage(ctx context.Context, tn *Tenant, query string, page int, now time.Time) (*AgentsPageData, error) {
	query = strings.TrimSpace(query)
	page = min(max(page, 1), math.MaxInt32)
	filter, pat := "", ""
	if query != "" {
		filter = ` AND a.name ILIKE ?1`
		pat = "%" + likeEscaper.Replace(query) + "%"
	}
	month := MonthStart(now)
	var row struct {
		Total, Page, Pages int
		Agents             []byte
	}
	err := tn.db().NewRaw(`WITH listed AS (
		  SELECT a.id, a.name, a.status, a.created_at FROM agents AS a WHERE a.workspace_id = ?0`+filter+`
		), paging AS (
		  SELECT count(*)::int AS total, greatest(1, (count(*)::int + ?3 - 1) / ?3) AS pages FROM listed
		), paged AS (
		  SELECT total, pages, least(greatest(?2::int, 1), pages) AS page FROM paging
		)
		SELECT p.total, p.page, p.pages,
		  (SELECT coalesce(jsonb_agg(`+agentStatsColumns+` ORDER BY lower(a.name), a.id), '[]') FROM (
		     SELECT * FROM listed ORDER BY lower(name), id LIMIT ?3 OFFSET (p.page - 1) * ?3) AS a) AS agents
		FROM paged AS p`, tn.ws, pat, page, AgentPageSize, nil, nil, month).
		Scan(ctx, &row.Total, &row.Page, &row.Pages, &row.Agents)
	if err != nil {
		return nil, fmt.Errorf("agents page: %w", err)
	}
	out := &AgentsPageData{Total: row.Total, Page: row.Page, Pages: row.Pages}
	var agents []agentStatsJSON
	if err := json.Unmarshal(row.Agents, &agents); err != nil {
		return nil, fmt.Errorf("agents page: %w", err)
	}
	for _, a := range agents {
		out.Agents = append(out.Agents, a.stats(tn.ws))
	}
	return out, nil
}

// TaskPageData is one task with a page of its conversation.
type TaskPageData struct {
	Task     ListedTask
	Messages []Message
	// NextMessages is the id of the last message shown when more follow, else uuid.Nil.
	NextMessages uuid.UUID
}

// ReadTaskPage reads a task, its agent's name, the key that started it and a page of its
// messages after the message id after (uuid.Nil: from the start), oldest first, in one statement.
// Another workspace's task is not found. It runs in the workspace's transaction.
func ReadTaskPage(ctx context.Context, tn *Tenant, id, after uuid.UUID) (*TaskPageData, error) {
	var row struct {
		Found          bool
		Task, Messages []byte
	}
	err := tn.db().NewRaw(`SELECT EXISTS (SELECT FROM tasks WHERE workspace_id = ?0 AND id = ?1),
		  (SELECT `+listedTaskColumns+` FROM tasks AS k
		     LEFT JOIN agents AS a ON a.workspace_id = ?0 AND a.id = k.agent_id
		     LEFT JOIN api_keys AS ak ON ak.workspace_id = ?0 AND ak.id = k.key_id
		     WHERE k.workspace_id = ?0 AND k.id = ?1) AS task,
		  (SELECT coalesce(jsonb_agg(jsonb_build_object('id', m.id, 'task_id', m.task_id, 'role', m.role, 'body', m.body,
		     'created_at', m.created_at) ORDER BY m.id), '[]') FROM (
		     SELECT * FROM messages WHERE workspace_id = ?0 AND task_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3) AS m) AS messages`,
		tn.ws, id, after, MessagePageSize+1, nil, nil, nil, nil, nil, MaxTaskInput).Scan(ctx, &row.Found, &row.Task, &row.Messages)
	if err != nil {
		return nil, fmt.Errorf("task page: %w", err)
	}
	if !row.Found || len(row.Task) == 0 {
		return nil, Errorf(ErrNotFound, "task not found")
	}
	var t listedTaskJSON
	if err := json.Unmarshal(row.Task, &t); err != nil {
		return nil, fmt.Errorf("task page: %w", err)
	}
	var msgs []struct {
		ID        uuid.UUID `json:"id"`
		TaskID    uuid.UUID `json:"task_id"`
		Role      string    `json:"role"`
		Body      string    `json:"body"`
		CreatedAt time.Time `json:"created_at"`
	}
	if err := json.Unmarshal(row.Messages, &msgs); err != nil {
		return nil, fmt.Errorf("task page: %w", err)
	}
	out := &TaskPageData{Task: t.task(tn.ws)}
	for _, m := range msgs {
		out.Messages = append(out.Messages, Message{Scoped: Scoped{WorkspaceID: tn.ws}, ID: m.ID, TaskID: m.TaskID, Role: m.Role,
			Body: m.Body, CreatedAt: m.CreatedAt})
	}
	if len(out.Messages) > MessagePageSize {
		out.Messages = out.Messages[:MessagePageSize]
		out.NextMessages = out.Messages[MessagePageSize-1].ID
	}
	return out, nil
}

// Canceller is who cancels a task: a member of the workspace (UserID and Role) or an API key
// (KeyID and its Prefix).
type Canceller struct {
	UserID uuid.UUID
	Role   Role
	KeyID  uuid.UUID
	Prefix string
}

// CancelTask ends a running (or queued) task as cancelled: its concurrency slot is free once the
// transaction commits, and its agent-minutes up to now are counted, once. It goes through the
// same conditional UPDATE as a completion (atrium_complete_task), so of a cancel and a completion
// racing, exactly one ends the task and counts its minutes. The cancel is audited (task.cancel).
// Cancelling a task already cancelled answers it as it is; one that finished otherwise is a
// conflict. Members must be owners or admins. It runs in the workspace's transaction.
func CancelTask(ctx context.Context, tn *Tenant, by Canceller, id uuid.UUID, now time.Time) (*Task, error) {
	if by.KeyID == uuid.Nil && !by.Role.Can(ActCancelTasks) {
		return nil, Errorf(ErrForbidden, "Only owners and admins cancel tasks.")
	}
	now = now.UTC().Truncate(time.Microsecond)
	var rows []struct {
		Changed      bool       `bun:"changed"`
		AgentID      uuid.UUID  `bun:"agent_id"`
		Status       TaskStatus `bun:"status"`
		Input        string     `bun:"input"`
		CreatedAt    time.Time  `bun:"created_at"`
		StartedAt    *time.Time `bun:"started_at"`
		FinishedAt   *time.Time `bun:"finished_at"`
		AgentMinutes int64      `bun:"agent_minutes"`
		KeyID        *uuid.UUID `bun:"key_id"`
		KeyName      *string    `bun:"key_name"`
	}
	err := tn.db().NewRaw("SELECT * FROM atrium_complete_task(?, ?, ?, ?, ?)",
		tn.ws, id, string(TaskCancelled), now, now.Truncate(time.Hour)).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("cancel task: %w", err)
	}
	if len(rows) == 0 {
		return nil, Errorf(ErrNotFound, "task not found")
	}
	r := rows[0]
	t := &Task{Scoped: Scoped{WorkspaceID: tn.ws}, ID: id, AgentID: r.AgentID, Status: r.Status, Input: r.Input,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, AgentMinutes: r.AgentMinutes,
		KeyID: r.KeyID, KeyName: deref(r.KeyName)}
	if !r.Changed {
		if r.Status == TaskCancelled {
			return t, nil
		}
		return t, Errorf(ErrConflict, "Task %s already finished as %s; only a running task can be cancelled.", id, r.Status)
	}
	details := map[string]any{"agent_id": r.AgentID.String(), "agent_minutes": r.AgentMinutes}
	if by.KeyID != uuid.Nil {
		details["key"] = by.Prefix
	}
	return t, Record(ctx, tn, Event{At: now, ActorUserID: by.UserID, ActorKeyID: by.KeyID, Action: "task.cancel", Target: id.String(), Details: details})
}
