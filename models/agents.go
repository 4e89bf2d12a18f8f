package models

import (
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Agent is an AI agent of a workspace.
type Agent struct {
	bun.BaseModel `bun:"table:agents,alias:a"`
	Scoped

	ID        uuid.UUID `bun:"id,pk,type:uuid"`
	Name      string    `bun:"name"`
	Status    string    `bun:"status"`
	CreatedAt time.Time `bun:"created_at,nullzero,notnull"`
}

// TaskStatus is where a task is in its life.
type TaskStatus string

// The task statuses.
const (
	TaskQueued    TaskStatus = "queued"
	TaskRunning   TaskStatus = "running"
	TaskSucceeded TaskStatus = "succeeded"
	TaskFailed    TaskStatus = "failed"
	TaskCancelled TaskStatus = "cancelled"
)

// Label is the status as the console shows it.
func (s TaskStatus) Label() string {
	if s == "" {
		return ""
	}
	return strings.ToUpper(string(s[:1])) + string(s[1:])
}

// Task is one run of an agent; its minutes count against the tier.
type Task struct {
	bun.BaseModel `bun:"table:tasks,alias:t"`
	Scoped

	ID           uuid.UUID  `bun:"id,pk,type:uuid"`
	AgentID      uuid.UUID  `bun:"agent_id,type:uuid"`
	Status       TaskStatus `bun:"status"`
	Input        string     `bun:"input"`
	CreatedAt    time.Time  `bun:"created_at,nullzero,notnull"`
	StartedAt    *time.Time `bun:"started_at"`
	FinishedAt   *time.Time `bun:"finished_at"`
	AgentMinutes int64      `bun:"agent_minutes"`
	// KeyID is the API key that started the task (nil for tasks started before keys were recorded).
	KeyID *uuid.UUID `bun:"key_id,type:uuid"`
	// KeyName is that key's name, where a read or a change answers it ("" when none).
	KeyName string `bun:"key_name,scanonly"`

	// The join names workspace_id too, so the joined side can never come from another workspace.
	Agent *Agent `bun:"rel:belongs-to,join:workspace_id=workspace_id,join:agent_id=id"`
}

// Message is one message of a task's conversation.
type Message struct {
	bun.BaseModel `bun:"table:messages,alias:msg"`
	Scoped

	ID        uuid.UUID `bun:"id,pk,type:uuid"`
	TaskID    uuid.UUID `bun:"task_id,type:uuid"`
	Role      string    `bun:"role"`
	Body      string    `bun:"body"`
	CreatedAt time.Time `bun:"created_at,nullzero,notnull"`
}
