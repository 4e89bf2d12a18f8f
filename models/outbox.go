package models

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/uptrace/bun"
)

// Mail is one plain-text email to queue.
type Mail struct {
	To      string
	Subject string
	Body    string
}

// OutboxMail is one email of the outbox and how its delivery went.
type OutboxMail struct {
	bun.BaseModel `bun:"table:mail_outbox,alias:mo"`

	ID            uuid.UUID  `bun:"id,pk,type:uuid"`
	EventKey      string     `bun:"event_key"`
	To            string     `bun:"to_address"`
	Subject       string     `bun:"subject"`
	Body          string     `bun:"body"`
	CreatedAt     time.Time  `bun:"created_at"`
	Attempts      int        `bun:"attempts"`
	LastAttemptAt *time.Time `bun:"last_attempt_at"`
	LastError     string     `bun:"last_error"`
	SentAt        *time.Time `bun:"sent_at"`
	GivenUpAt     *time.Time `bun:"given_up_at"`
}

// MailState is where an outbox email stands.
func (m *OutboxMail) MailState() string {
	switch {
	case m.SentAt != nil:
		return "sent"
	case m.GivenUpAt != nil:
		return "failed"
	case m.Attempts > 0:
		return "retrying"
	}
	return "queued"
}

// MailQueue is the job queue the mail worker takes its jobs from.
const MailQueue = "mail"

// MailMaxAttempts is how often a message is tried before it is given up (and kept, with its last
// error, for support): with the worker's backoff, about a day.
const MailMaxAttempts = 30

// MailArgs is the job that delivers one outbox email.
type MailArgs struct {
	OutboxID uuid.UUID `json:"outbox_id"`
}

// Kind names the job for the queue.
func (MailArgs) Kind() string { return "mail" }

// PasswordResetArgs is the job that answers a password reset request: it looks the address up
// and, when an account has it, mails a link. The request itself does only this insert, the same
// work for any address.
type PasswordResetArgs struct {
	RequestID uuid.UUID `json:"request_id"`
	Email     string    `json:"email"`
}

// Kind names the job for the queue.
func (PasswordResetArgs) Kind() string { return "password_reset_request" }

// inserter is a River client that only inserts jobs, inside the callers' transactions; the
// worker (package mail) is the one that works them.
var inserter = sync.OnceValues(func() (*river.Client[*sql.Tx], error) {
	return river.NewClient(riverdatabasesql.New(nil), &river.Config{})
})

// enqueue adds a job in tx, so it exists exactly when the change that causes it commits.
func enqueue(ctx context.Context, tx bun.Tx, args river.JobArgs) error {
	c, err := inserter()
	if err != nil {
		return err
	}
	_, err = c.InsertTx(ctx, tx.Tx, args, &river.InsertOpts{Queue: MailQueue, MaxAttempts: MailMaxAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true}})
	if err != nil {
		return fmt.Errorf("queue %s job: %w", args.Kind(), err)
	}
	return nil
}

// QueueMail writes m to the outbox in tx, with its delivery job. eventKey names the event and the
// recipient: a second message with the same key is not queued (one event mails one person once).
func QueueMail(ctx context.Context, tx bun.Tx, eventKey string, m Mail, now time.Time) error {
	row := &OutboxMail{ID: NewID(), EventKey: eventKey, To: m.To, Subject: m.Subject, Body: m.Body, CreatedAt: now}
	res, err := tx.NewInsert().Model(row).On("CONFLICT (event_key) DO NOTHING").Exec(ctx)
	if err != nil {
		return fmt.Errorf("queue mail: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return enqueue(ctx, tx, MailArgs{OutboxID: row.ID})
}

// QueueMailNow is QueueMail in a transaction of its own.
func QueueMailNow(ctx context.Context, db bun.IDB, eventKey string, m Mail, now time.Time) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		return QueueMail(ctx, tx, eventKey, m, now)
	})
}

// OutboxMailByID loads one outbox email.
func OutboxMailByID(ctx context.Context, db bun.IDB, id uuid.UUID) (*OutboxMail, error) {
	m := new(OutboxMail)
	err := db.NewSelect().Model(m).Where("id = ?", id).Scan(ctx)
	return m, notFound(err, "mail")
}

// MailAttemptFailed records a failed delivery attempt; giveUp marks the last one.
func MailAttemptFailed(ctx context.Context, db bun.IDB, id uuid.UUID, reason string, giveUp bool, now time.Time) error {
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	q := db.NewUpdate().Model((*OutboxMail)(nil)).Set("attempts = attempts + 1").Set("last_attempt_at = ?", now).
		Set("last_error = ?", reason).Where("id = ? AND sent_at IS NULL", id)
	if giveUp {
		q = q.Set("given_up_at = ?", now)
	}
	_, err := q.Exec(ctx)
	return err
}

// MailSent records a delivery. eraseBody drops the text (it may hold a one-time link) once it has
// left for a real mail server; the development mailbox keeps it to show.
func MailSent(ctx context.Context, db bun.IDB, id uuid.UUID, eraseBody bool, now time.Time) error {
	q := db.NewUpdate().Model((*OutboxMail)(nil)).Set("attempts = attempts + 1").Set("last_attempt_at = ?", now).
		Set("sent_at = ?", now).Set("given_up_at = NULL").Where("id = ? AND sent_at IS NULL", id)
	if eraseBody {
		q = q.Set("body = ''")
	}
	_, err := q.Exec(ctx)
	return err
}

// RecentMail lists the newest outbox emails, newest first: the development mailbox, and what
// support looks at when someone says a message never came.
func RecentMail(ctx context.Context, db bun.IDB, limit int64) ([]OutboxMail, error) {
	var out []OutboxMail
	err := db.NewSelect().Model(&out).Order("created_at DESC", "id DESC").Limit(limit).Scan(ctx)
	return out, err
}

// QueueWorkspaceMail is QueueMail in the tenant's transaction: mail caused by a workspace change
// (an invitation) commits with it.
func QueueWorkspaceMail(ctx context.Context, tn *Tenant, eventKey string, m Mail, now time.Time) error {
	return QueueMail(ctx, tn.tx, eventKey, m, now)
}
