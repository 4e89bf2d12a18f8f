package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"atrium/models"
)

// The JSON shapes of the API's resources.
type (
	agentJSON struct {
		ID        uuid.UUID `json:"id"`
		Name      string    `json:"name"`
		Status    string    `json:"status"`
		CreatedAt time.Time `json:"created_at"`
	}
	taskJSON struct {
		ID           uuid.UUID  `json:"id"`
		AgentID      uuid.UUID  `json:"agent_id"`
		Status       string     `json:"status"`
		Input        string     `json:"input"`
		CreatedAt    time.Time  `json:"created_at"`
		StartedAt    *time.Time `json:"started_at"`
		FinishedAt   *time.Time `json:"finished_at"`
		AgentMinutes int64      `json:"agent_minutes"`
		// KeyID and KeyName are the key that started the task (null when none is recorded).
		KeyID   *uuid.UUID `json:"key_id"`
		KeyName *string    `json:"key_name"`
	}
	messageJSON struct {
		ID        uuid.UUID `json:"id"`
		TaskID    uuid.UUID `json:"task_id"`
		Role      string    `json:"role"`
		Body      string    `json:"body"`
		CreatedAt time.Time `json:"created_at"`
	}
	// listJSON is one page of a list; next_cursor is null on the last page.
	listJSON[T any] struct {
		Data       []T     `json:"data"`
		NextCursor *string `json:"next_cursor"`
	}
)

func agentOut(a *models.Agent) agentJSON {
	return agentJSON{ID: a.ID, Name: a.Name, Status: a.Status, CreatedAt: a.CreatedAt.UTC()}
}

func taskOut(t *models.Task) taskJSON {
	out := taskJSON{ID: t.ID, AgentID: t.AgentID, Status: string(t.Status), Input: t.Input, CreatedAt: t.CreatedAt.UTC(),
		StartedAt: utcPtr(t.StartedAt), FinishedAt: utcPtr(t.FinishedAt), AgentMinutes: t.AgentMinutes}
	if t.KeyID != nil {
		name := t.KeyName
		out.KeyID, out.KeyName = t.KeyID, &name
	}
	return out
}

func messageOut(m *models.Message) messageJSON {
	return messageJSON{ID: m.ID, TaskID: m.TaskID, Role: m.Role, Body: m.Body, CreatedAt: m.CreatedAt.UTC()}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// listOut makes a page of rows into the list shape (data is [] rather than null when empty).
func listOut[M, J any](rows []M, next string, out func(*M) J) listJSON[J] {
	l := listJSON[J]{Data: make([]J, 0, len(rows))}
	for i := range rows {
		l.Data = append(l.Data, out(&rows[i]))
	}
	if next != "" {
		l.NextCursor = &next
	}
	return l
}

// pageParam reads limit and cursor from the query string.
func pageParam(c echo.Context) (models.Page, error) {
	return models.ParsePage(c.QueryParam("limit"), c.QueryParam("cursor"))
}

// idParam reads a path id; one that is not a uuid names nothing, so it is not found.
func idParam(c echo.Context, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, models.Errorf(models.ErrNotFound, "%s not found", what)
	}
	return id, nil
}

// apiAgentsIndex lists the workspace's agents, newest first.
func (s *Server) apiAgentsIndex(c echo.Context) error {
	page, err := pageParam(c)
	if err != nil {
		return err
	}
	var rows []models.Agent
	var next string
	err = s.apiRead(c, func(ctx context.Context, r *models.TenantRead) error {
		rows, next, err = models.ReadAgents(ctx, r, page)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOut(rows, next, agentOut))
}

// apiAgentCreate adds an agent.
func (s *Server) apiAgentCreate(c echo.Context) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	var a *models.Agent
	err := s.apiTx(c, func(ctx context.Context, tn *models.Tenant) (err error) {
		a, err = models.CreateAgent(ctx, tn, apiCaller(c), in.Name, s.Now())
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, agentOut(a))
}

// apiAgentShow answers one agent.
func (s *Server) apiAgentShow(c echo.Context) error {
	id, err := idParam(c, "agent")
	if err != nil {
		return err
	}
	var a *models.Agent
	err = s.apiRead(c, func(ctx context.Context, r *models.TenantRead) error {
		a, err = models.ReadAgent(ctx, r, id)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, agentOut(a))
}

// apiTasksIndex lists the workspace's tasks, newest first, optionally by status and agent.
func (s *Server) apiTasksIndex(c echo.Context) error {
	page, err := pageParam(c)
	if err != nil {
		return err
	}
	var f models.TaskFilter
	if v := c.QueryParam("status"); v != "" {
		st, ok := models.ParseTaskStatus(v)
		if !ok {
			return &codedError{Status: http.StatusBadRequest, Code: "invalid_filter",
				Message: "status must be queued, running, succeeded, failed or cancelled."}
		}
		f.Status = st
	}
	if v := c.QueryParam("agent_id"); v != "" {
		if f.AgentID, err = uuid.Parse(v); err != nil {
			return &codedError{Status: http.StatusBadRequest, Code: "invalid_filter", Message: "agent_id must be an agent's id."}
		}
	}
	var rows []models.Task
	var next string
	err = s.apiRead(c, func(ctx context.Context, r *models.TenantRead) error {
		rows, next, err = models.ReadTasks(ctx, r, f, page)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOut(rows, next, taskOut))
}

// apiTaskStart starts a task of an agent: 201 with the running task, 429 concurrent_task_limit
// when every slot is busy, 402 quota_exceeded when the month's agent-minutes are used up.
func (s *Server) apiTaskStart(c echo.Context) error {
	var in struct {
		AgentID string `json:"agent_id"`
		Input   string `json:"input"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	agentID, err := uuid.Parse(in.AgentID)
	if err != nil {
		return &models.ValidationError{Fields: map[string]string{"agent_id": "must be the id of one of the workspace's agents"}}
	}
	t, err := models.StartTask(c.Request().Context(), s.DB, apiCaller(c), agentID, in.Input, s.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, taskOut(t))
}

// apiTaskShow answers one task.
func (s *Server) apiTaskShow(c echo.Context) error {
	id, err := idParam(c, "task")
	if err != nil {
		return err
	}
	var t *models.Task
	err = s.apiRead(c, func(ctx context.Context, r *models.TenantRead) error {
		t, err = models.ReadTask(ctx, r, id)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, taskOut(t))
}

// apiTaskComplete finishes a task and counts its agent-minutes, once: completing it again answers
// 200 with the same task and counts nothing.
func (s *Server) apiTaskComplete(c echo.Context) error {
	id, err := idParam(c, "task")
	if err != nil {
		return err
	}
	var in struct {
		Status string `json:"status"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	t, err := models.CompleteTask(c.Request().Context(), s.DB, apiCaller(c), id, in.Status, s.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, taskOut(t))
}

// apiTaskCancel ends a running task as cancelled: its slot is free at once and its minutes count
// once. Cancelling a cancelled task answers 200 with it as it is; a task that finished otherwise
// is 409.
func (s *Server) apiTaskCancel(c echo.Context) error {
	id, err := idParam(c, "task")
	if err != nil {
		return err
	}
	caller := apiCaller(c)
	var t *models.Task
	err = s.apiTx(c, func(ctx context.Context, tn *models.Tenant) error {
		t, err = models.CancelTask(ctx, tn, models.Canceller{KeyID: caller.KeyID, Prefix: caller.Prefix}, id, s.Now())
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, taskOut(t))
}

// apiMessagesIndex lists a task's messages in conversation order.
func (s *Server) apiMessagesIndex(c echo.Context) error {
	id, err := idParam(c, "task")
	if err != nil {
		return err
	}
	page, err := pageParam(c)
	if err != nil {
		return err
	}
	var rows []models.Message
	var next string
	err = s.apiRead(c, func(ctx context.Context, r *models.TenantRead) error {
		rows, next, err = models.ReadMessages(ctx, r, id, page)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOut(rows, next, messageOut))
}

// apiMessageCreate appends a message to a task's conversation.
func (s *Server) apiMessageCreate(c echo.Context) error {
	id, err := idParam(c, "task")
	if err != nil {
		return err
	}
	var in struct {
		Role string `json:"role"`
		Body string `json:"body"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	var m *models.Message
	err = s.apiTx(c, func(ctx context.Context, tn *models.Tenant) error {
		m, err = models.AddMessage(ctx, tn, id, in.Role, in.Body, s.Now())
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, messageOut(m))
}
