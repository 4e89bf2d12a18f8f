package mail_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"atrium/models"
	"atrium/models/mail"
	"atrium/models/mail/smtptest"
	"atrium/models/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// startDelivery runs a mail worker on the test database against the SMTP server at url, with
// quick retries, until the test ends or stop is called.
func startDelivery(t *testing.T, url string) (stop func()) {
	t.Helper()
	d := &mail.Delivery{DB: testdb.Get(t).App, Mailer: mail.Mailer{URL: url}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ResetLink: func(token string) string { return "http://atrium.test/password/reset/" + token },
		Clock:     testdb.Clock, RetryBase: 50 * time.Millisecond, PollInterval: 50 * time.Millisecond}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := d.Stop(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

// outboxRow waits until cond holds for the outbox row of key and returns it.
func outboxRow(t *testing.T, key string, cond func(*models.OutboxMail) bool) *models.OutboxMail {
	t.Helper()
	db := testdb.Get(t).App
	deadline := time.Now().Add(15 * time.Second)
	for {
		var m models.OutboxMail
		err := db.NewSelect().Model(&m).Where("event_key = ?", key).Scan(context.Background())
		if err == nil && cond(&m) {
			return &m
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox row %s: %+v (%v) never met the condition", key, m, err)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// TestOutboxSurvivesAnOutageAndARestart: mail queued while the SMTP server is away is retried
// (each failure recorded), survives the worker's restart, and is delivered once the server is
// back: once, even though the event was queued twice.
func TestOutboxSurvivesAnOutageAndARestart(t *testing.T) {
	ctx := context.Background()
	db := testdb.Get(t).App
	smtp := smtptest.Start(t)
	smtp.Down()
	to := "outage-" + models.NewID().String()[:8] + "@example.com"
	key := "test-event:" + to
	msg := models.Mail{To: to, Subject: "Hello through the outage", Body: "Line one.\nhttp://atrium.test/x\n"}
	if err := models.QueueMailNow(ctx, db, key, msg, testdb.Now(t)); err != nil {
		t.Fatal(err)
	}

	stop := startDelivery(t, smtp.URL())
	failed := outboxRow(t, key, func(m *models.OutboxMail) bool { return m.Attempts >= 2 })
	if failed.SentAt != nil || failed.LastError == "" || failed.MailState() != "retrying" {
		t.Fatalf("during the outage: %+v", failed)
	}
	stop() // the process goes away with the mail undelivered

	// The same event again (a double submit, a retried request): still one email.
	if err := models.QueueMailNow(ctx, db, key, msg, testdb.Now(t)); err != nil {
		t.Fatal(err)
	}
	smtp.Up()
	startDelivery(t, smtp.URL())
	got := smtp.Wait(to, 1, 20*time.Second)
	if got[0].Subject != msg.Subject || !strings.Contains(got[0].Body, "http://atrium.test/x") {
		t.Fatalf("delivered %+v", got[0])
	}
	sent := outboxRow(t, key, func(m *models.OutboxMail) bool { return m.SentAt != nil })
	if sent.Body != "" {
		t.Errorf("the body of delivered mail is kept: %q", sent.Body)
	}
	if sent.Attempts < 3 {
		t.Errorf("attempts %d, want the failures and the success", sent.Attempts)
	}
	time.Sleep(500 * time.Millisecond) // a duplicate would have arrived by now
	if n := len(smtp.To(to)); n != 1 {
		t.Fatalf("%d messages to %s, want 1", n, to)
	}
	rows, err := db.NewSelect().Model((*models.OutboxMail)(nil)).Where("event_key = ?", key).Count(ctx)
	if err != nil || rows != 1 {
		t.Fatalf("%d outbox rows for one event (%v)", rows, err)
	}
}

// TestOutboxWithoutSMTPKeepsTheMail: with no SMTP server (development) the worker logs the mail
// and marks it sent, keeping the body for the development mailbox.
func TestOutboxWithoutSMTPKeepsTheMail(t *testing.T) {
	ctx := context.Background()
	db := testdb.Get(t).App
	to := "dev-" + models.NewID().String()[:8] + "@example.com"
	key := "test-dev:" + to
	if err := models.QueueMailNow(ctx, db, key, models.Mail{To: to, Subject: "Dev", Body: "kept"}, testdb.Now(t)); err != nil {
		t.Fatal(err)
	}
	startDelivery(t, "")
	m := outboxRow(t, key, func(m *models.OutboxMail) bool { return m.SentAt != nil })
	if m.Body != "kept" || m.MailState() != "sent" {
		t.Fatalf("dev mail %+v", m)
	}
	list, err := models.RecentMail(ctx, db, 10)
	if err != nil || len(list) == 0 || list[0].To != to {
		t.Fatalf("recent mail %v (%v)", list, err)
	}
}

// TestWorkerRunsTheRetentionSweep: the background worker schedules the retention sweep itself
// (at start, then every hour) and runs it at its clock: a throttle count older than its retention
// goes, a recent one stays.
func TestWorkerRunsTheRetentionSweep(t *testing.T) {
	owner := testdb.Get(t).Owner
	now := testdb.Now(t)
	key := "retention-" + models.NewID().String()
	if _, err := owner.NewRaw(`INSERT INTO login_failures (scope, key, at) VALUES ('ip', ?, ?), ('ip', ?, ?)`,
		key, now.Add(-models.LoginFailureRetention-time.Hour), key, now.Add(-time.Minute)).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	smtp := smtptest.Start(t)
	defer startDelivery(t, smtp.URL())()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left int
		if err := owner.NewRaw("SELECT count(*) FROM login_failures WHERE key = ?", key).Scan(context.Background(), &left); err != nil {
			t.Fatal(err)
		}
		if left == 1 {
			break
		}
		if left == 0 {
			t.Fatal("the sweep deleted the recent count too")
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker has not swept after 30 seconds: %d rows left", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
