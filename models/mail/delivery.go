package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertype"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/webhook"
)

// Delivery is the background worker that sends the outbox: a River client on the application's
// connection pool, working the mail queue. A failed send is recorded on the outbox row and retried
// with exponential backoff (RetryBase doubling up to an hour, models.MailMaxAttempts tries); after
// the last one the row stays, marked failed, with its last error. Nothing a request does waits on
// it. The same client schedules and works the retention sweep (models.RunRetention) every
// models.RetentionEvery on the maintenance queue, at Clock.
type Delivery struct {
	DB     *bun.DB
	Mailer Mailer
	Log    *slog.Logger
	// ResetLink makes the absolute address of a password reset link from its token.
	ResetLink func(token string) string
	// UsageLink and AlertsLink make the absolute addresses of a workspace's usage page and quota
	// alert settings from its slug, for the quota alerts' mail.
	UsageLink, AlertsLink func(slug string) string
	// Clock stamps the outbox and the reset links.
	Clock func() time.Time
	// Webhooks, when set, also works the webhook queue (models.WebhookQueue).
	Webhooks *webhook.Worker
	// NoMail leaves the mail queue alone (mail cannot reach anyone yet); the other queues run.
	NoMail bool
	// RetryBase is the first retry's delay (10 seconds when zero); PollInterval is how often the
	// worker looks for new jobs (a second when zero).
	RetryBase    time.Duration
	PollInterval time.Duration

	client *river.Client[*sql.Tx]
}

// Start starts working the queue until Stop.
func (d *Delivery) Start(ctx context.Context) error {
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	workers := river.NewWorkers()
	queues := map[string]river.QueueConfig{models.MaintenanceQueue: {MaxWorkers: 1}, models.ExportQueue: {MaxWorkers: 2}}
	river.AddWorker(workers, &exportWorker{d: d})
	if !d.NoMail {
		river.AddWorker(workers, &mailWorker{d: d})
		river.AddWorker(workers, &resetWorker{d: d})
		river.AddWorker(workers, &quotaAlertWorker{d: d})
		queues[models.MailQueue] = river.QueueConfig{MaxWorkers: 4}
	}
	river.AddWorker(workers, &retentionWorker{d: d})
	if d.Webhooks != nil {
		river.AddWorker(workers, d.Webhooks)
		queues[models.WebhookQueue] = river.QueueConfig{MaxWorkers: 8}
	}
	poll := d.PollInterval
	if poll <= 0 {
		poll = time.Second
	}
	c, err := river.NewClient(riverdatabasesql.New(d.DB.DB), &river.Config{
		Queues:  queues,
		Workers: workers,
		// The retention sweep, every hour and at start; River's elected leader alone schedules
		// it, so several processes do not sweep at once.
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(models.RetentionEvery),
			func() (river.JobArgs, *river.InsertOpts) {
				return models.RetentionArgs{}, &river.InsertOpts{Queue: models.MaintenanceQueue, MaxAttempts: 3}
			}, &river.PeriodicJobOpts{ID: "retention", RunOnStart: true})},
		FetchPollInterval:   poll,
		FetchCooldown:       min(poll, 100*time.Millisecond),
		RetryPolicy:         backoff{base: d.RetryBase},
		Logger:              slog.New(warnOnly{d.Log.Handler()}),
		ReindexerIndexNames: []string{}, // reindexing needs the tables' owner; the runtime role is not
		JobTimeout:          2 * sendTimeout,
	})
	if err != nil {
		return fmt.Errorf("mail worker: %w", err)
	}
	d.client = c
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("mail worker: %w", err)
	}
	return nil
}

// Stop lets the sends under way finish (or cancels them when ctx ends first) and stops the worker.
// A cancelled send is retried by the next worker.
func (d *Delivery) Stop(ctx context.Context) error {
	if d.client == nil {
		return nil
	}
	err := d.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return d.client.StopAndCancel(cctx)
	}
	return err
}

// backoff waits base·2^(attempt-1), at most an hour, between tries.
type backoff struct{ base time.Duration }

func (b backoff) NextRetry(job *rivertype.JobRow) time.Time {
	base := b.base
	if base <= 0 {
		base = 10 * time.Second
	}
	wait := base
	for i := 1; i < job.Attempt && wait < time.Hour; i++ {
		wait *= 2
	}
	from := job.CreatedAt // River stamps the attempt by the database's clock; so does the next try
	if job.AttemptedAt != nil {
		from = *job.AttemptedAt
	}
	return from.Add(min(wait, time.Hour))
}

// mailWorker sends one outbox email.
type mailWorker struct {
	river.WorkerDefaults[models.MailArgs]
	d *Delivery
}

func (w *mailWorker) Work(ctx context.Context, job *river.Job[models.MailArgs]) error {
	d := w.d
	m, err := models.OutboxMailByID(ctx, d.DB, job.Args.OutboxID)
	if errors.Is(err, models.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if m.SentAt != nil {
		return nil // sent by an earlier try whose job did not get to finish
	}
	err = d.Mailer.Send(ctx, Message{To: m.To, Subject: m.Subject, Body: m.Body, Date: m.CreatedAt})
	if err != nil {
		last := job.Attempt >= job.MaxAttempts
		d.Log.Warn("mail not delivered", "outbox_id", m.ID, "to", m.To, "subject", m.Subject,
			"attempt", job.Attempt, "given_up", last, "error", err.Error())
		if rerr := models.MailAttemptFailed(context.WithoutCancel(ctx), d.DB, m.ID, err.Error(), last, d.Clock()); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	if d.Mailer.Configured() {
		d.Log.Info("mail sent", "outbox_id", m.ID, "to", m.To, "subject", m.Subject)
	}
	return models.MailSent(context.WithoutCancel(ctx), d.DB, m.ID, d.Mailer.Configured(), d.Clock())
}

// resetWorker answers a password reset request: a link for an account with that address,
// nothing otherwise.
type resetWorker struct {
	river.WorkerDefaults[models.PasswordResetArgs]
	d *Delivery
}

func (w *resetWorker) Work(ctx context.Context, job *river.Job[models.PasswordResetArgs]) error {
	d := w.d
	return models.IssuePasswordReset(ctx, d.DB, job.Args, func(to, token string, expires time.Time) models.Mail {
		return PasswordReset(to, d.ResetLink(token), expires).Queued()
	}, d.Clock())
}

// warnOnly passes River's warnings and errors to the log and drops its routine lines.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnOnly) WithAttrs(as []slog.Attr) slog.Handler { return warnOnly{h.Handler.WithAttrs(as)} }
func (h warnOnly) WithGroup(n string) slog.Handler       { return warnOnly{h.Handler.WithGroup(n)} }

// retentionWorker runs the retention sweep (models.RunRetention) at the worker's clock.
type retentionWorker struct {
	river.WorkerDefaults[models.RetentionArgs]
	d *Delivery
}

func (w *retentionWorker) Work(ctx context.Context, _ *river.Job[models.RetentionArgs]) error {
	r, err := models.RunRetention(ctx, w.d.DB, w.d.Clock())
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	w.d.Log.Info("retention sweep", "sessions", r.Sessions, "session_listings", r.SessionListings,
		"login_failures", r.LoginFailures, "delivered_mail", r.DeliveredMail, "invitations", r.Invitations,
		"usage_hours", r.UsageHours, "workspaces", r.Workspaces, "erased_workspaces", r.Erased, "exports", r.Exports,
		"quota_alerts", r.QuotaAlerts, "webhook_deliveries", r.WebhookDeliveries, "webhook_events", r.WebhookEvents,
		"key_usage_hours", r.KeyUsageHours)
	return nil
}

// quotaAlertWorker tells people of one crossed quota threshold: the mail to each recipient and
// the webhook event, queued once (models.DeliverQuotaAlert).
type quotaAlertWorker struct {
	river.WorkerDefaults[models.QuotaAlertArgs]
	d *Delivery
}

func (w *quotaAlertWorker) Work(ctx context.Context, job *river.Job[models.QuotaAlertArgs]) error {
	d := w.d
	_, err := models.DeliverQuotaAlert(ctx, d.DB, job.Args, func(to string, ws *models.Workspace, a *models.QuotaAlert) models.Mail {
		usage, settings := "", ""
		if d.UsageLink != nil {
			usage = d.UsageLink(ws.Slug)
		}
		if d.AlertsLink != nil {
			settings = d.AlertsLink(ws.Slug)
		}
		return QuotaAlert(to, ws.Name, ws.Tier, a, usage, settings).Queued()
	}, d.Clock())
	return err
}

// exportWorker builds one workspace export (models.BuildExport) at the worker's clock.
type exportWorker struct {
	river.WorkerDefaults[models.ExportArgs]
	d *Delivery
}

// Timeout gives a large workspace's export time: its rows are streamed, not held, but there may
// be millions of them.
func (w *exportWorker) Timeout(*river.Job[models.ExportArgs]) time.Duration { return time.Hour }

func (w *exportWorker) Work(ctx context.Context, job *river.Job[models.ExportArgs]) error {
	err := models.BuildExport(ctx, w.d.DB, job.Args.WorkspaceID, job.Args.ExportID, w.d.Clock)
	if errors.Is(err, models.ErrNotFound) {
		return river.JobCancel(err) // the export (or its workspace) is gone
	}
	if err != nil {
		w.d.Log.Warn("export failed", "workspace_id", job.Args.WorkspaceID, "export_id", job.Args.ExportID,
			"attempt", job.Attempt, "error", err.Error())
	}
	return err
}
