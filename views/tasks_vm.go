package views

import (
	"net/url"
	"time"

	"atrium/handlers/paths"
	"atrium/views/components"
	"atrium/views/layouts"
)

// TaskStatusChoices are the task list's status filter.
var TaskStatusChoices = []Choice{
	{"", "Any status"}, {"running", "Running"}, {"queued", "Queued"}, {"succeeded", "Succeeded"},
	{"failed", "Failed"}, {"cancelled", "Cancelled"},
}

// TasksPage is /w/:slug/tasks: running tasks first, then the others, newest first.
type TasksPage struct {
	layouts.Frame
	Slug string
	// Status and AgentID are the filters ("" for none); Agents are the agent filter's choices.
	Status, AgentID string
	Agents          []Choice
	List            TaskList
}

// TaskList is a list of tasks that refreshes itself while a task in it runs: the tasks page's and
// an agent page's.
type TaskList struct {
	Slug string
	// Self is the list's own address (with its filters and page), which the refresh asks for.
	Self string
	// First is the address of the list's first page; Next of its next page ("" on the last).
	First, Next string
	// IsFirst is true on the first page.
	IsFirst bool
	Rows    []TaskRow
	// Running counts the workspace's running tasks.
	Running int
	// Live is true while the list has something running: htmx asks for it again every few seconds.
	Live bool
	// CanCancel shows the cancel buttons (owners and admins).
	CanCancel bool
	// HideAgent leaves out the agent column (on an agent's own page).
	HideAgent bool
	// Filtered is true when a filter narrows the list (for the empty state's wording).
	Filtered bool
	CSRF     string
}

// Pager is the list's pagination: by position, so a deep page costs what the first does.
func (l TaskList) Pager() components.Pager {
	p := components.Pager{Keyset: true, Shown: len(l.Rows), Next: l.Next, Label: "Task list pages", Noun: "tasks", TestID: "tasks"}
	if !l.IsFirst {
		p.First = l.First
	}
	return p
}

// TaskRow is one task in a list.
type TaskRow struct {
	ID, URL, CancelURL string
	// Short is the end of the id, which tells tasks apart (an id's start is its time).
	Short               string
	Agent, AgentURL     string
	Status, StatusLabel string
	Running             bool
	// Started is nil for a task that never started.
	Started  *time.Time
	Duration string
	Minutes  string
	// Key is the name of the key that started the task and KeyPrefix its prefix ("" when unknown).
	Key, KeyPrefix string
	Input          string
}

// TaskPage is /w/:slug/tasks/:id: the task and its conversation.
type TaskPage struct {
	layouts.Frame
	Slug string
	Task TaskRow
	// Finished is when the task ended (nil while it runs).
	Finished *time.Time
	Messages []MessageRow
	// MoreMessages is the address of the conversation's next page ("" when it is all shown);
	// FromStart the conversation's first page, when this is not it.
	MoreMessages, FromStart string
	Self                    string
	CanCancel               bool
}

// MessageRow is one message of a task's conversation.
type MessageRow struct {
	Role, Body string
	At         time.Time
}

// AgentsPage is /w/:slug/agents.
type AgentsPage struct {
	layouts.Frame
	Slug  string
	Query string
	Rows  []AgentRow
	// Page and Pages number the list's pages from 1; Total counts the agents matching the search.
	Page, Pages, Total int
	PerPage            int
}

// Pager is the list's pagination, keeping the search.
func (p AgentsPage) Pager() components.Pager {
	return components.Pager{Page: p.Page, Pages: p.Pages, Total: p.Total, PerPage: p.PerPage, Base: paths.Agents.URL(p.Slug),
		Query: url.Values{"q": {p.Query}}, Label: "Agent pages", Noun: "agents", TestID: "agents"}
}

// AgentRow is one agent with its figures.
type AgentRow struct {
	ID, Name, URL, Status     string
	Running                   int
	Minutes                   string
	LastActive, Created       time.Time
	TasksURL, RunningTasksURL string
}

// AgentPage is /w/:slug/agents/:id: the agent and its tasks.
type AgentPage struct {
	layouts.Frame
	Slug  string
	Agent AgentRow
	List  TaskList
}

// RunningTasksURL is the address of the workspace's running tasks.
func RunningTasksURL(slug string) string { return paths.Tasks.URL(slug) + "?status=running" }

// taskStatusClass colours a task's status badge.
func taskStatusClass(status string) string {
	switch status {
	case "running":
		return "whitespace-nowrap rounded bg-indigo-50 px-2 py-0.5 text-xs font-medium text-indigo-800"
	case "succeeded":
		return "whitespace-nowrap rounded bg-emerald-50 px-2 py-0.5 text-xs text-emerald-800"
	case "failed":
		return "whitespace-nowrap rounded bg-red-50 px-2 py-0.5 text-xs text-red-800"
	}
	return "whitespace-nowrap rounded bg-slate-100 px-2 py-0.5 text-xs text-slate-700"
}
