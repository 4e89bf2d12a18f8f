package webhook

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"atrium/models"
)

// Worker works the webhook queue: a job takes its delivery's endpoint's turn (one delivery of an
// endpoint under way at a time, across processes), sends the endpoint's oldest pending delivery
// when it is due, records the attempt, and goes on with the next while they succeed. A failure
// waits (snoozes) until the delivery's next attempt; so does a job whose delivery waits behind an
// earlier one.
type Worker struct {
	river.WorkerDefaults[models.WebhookArgs]

	DB     *bun.DB
	Sender *Sender
	Log    *slog.Logger
	// Clock stamps the attempts and decides the backoff, give-up and disabling (one clock with
	// the server).
	Clock func() time.Time
	// RetryBase is the first retry's delay (10 seconds when zero), doubling to an hour.
	RetryBase time.Duration
	// Busy is how long a job waits when another process holds its endpoint's turn (a second
	// when zero).
	Busy time.Duration
}

// batch bounds how many deliveries one job sends before it makes room for other jobs.
const batch = 50

// Timeout lets a job send a batch.
func (w *Worker) Timeout(*river.Job[models.WebhookArgs]) time.Duration { return 10 * time.Minute }

// Work sends the job's delivery, and the endpoint's earlier ones first.
func (w *Worker) Work(ctx context.Context, job *river.Job[models.WebhookArgs]) error {
	base := w.RetryBase
	if base <= 0 {
		base = 10 * time.Second
	}
	for range batch {
		var wait time.Duration
		var done bool
		err := models.InWorkspace(ctx, w.DB, job.Args.WorkspaceID, func(ctx context.Context, tn *models.Tenant) error {
			turn, err := models.TakeWebhookTurn(ctx, tn, job.Args.DeliveryID)
			if err != nil {
				return err
			}
			switch {
			case turn.Done:
				done = true
				return nil
			case turn.Busy:
				wait = w.Busy
				if wait <= 0 {
					wait = time.Second
				}
				return nil
			}
			now := w.Clock()
			if due := turn.Head.NextAttemptAt.Sub(now); due > 0 {
				wait = due
				return nil
			}
			r := w.Sender.Send(ctx, turn.Endpoint, turn.Head.ID.String(), turn.Event, now)
			d, err := models.RecordWebhookAttempt(context.WithoutCancel(ctx), tn, turn, r, base, w.Clock())
			if err != nil {
				return err
			}
			if !r.OK() {
				w.Log.Info("webhook not delivered", "workspace_id", job.Args.WorkspaceID, "delivery_id", d.ID,
					"endpoint_id", d.EndpointID, "attempt", d.Attempts, "status", d.Status, "error", d.LastError)
				if d.Status == models.DeliveryPending {
					wait = max(d.NextAttemptAt.Sub(w.Clock()), 0)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if wait > 0 {
			return river.JobSnooze(wait)
		}
	}
	return river.JobSnooze(0) // more to send: make room, then go on
}
