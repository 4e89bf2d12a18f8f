// Package mail is Atrium's email: the messages (templates.go), the SMTP sender (Mailer) and the
// background delivery of the outbox (Delivery). Requests never send mail themselves: they write it
// to the outbox (models.QueueMail) in the transaction of the change that causes it, and Delivery
// sends it, retrying with backoff. Delivery's River client also runs the hourly retention sweep
// (models.RunRetention) on its maintenance queue.
package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"atrium/models"
)

// Message is one plain-text email.
type Message struct {
	To      string
	Subject string
	Body    string
	// Date is the Date header; zero means the moment the message is written to the server.
	Date time.Time
}

// Mailer sends Atrium's emails through the SMTP server of URL: smtp://user:pass@host:port
// (STARTTLS when the server offers it; port 587 by default) or smtps:// (TLS from the first byte;
// port 465 by default). ?from=address sets the sender, which is otherwise atrium@host. With no URL
// it only logs them, so a laptop needs no mail server.
type Mailer struct {
	URL string
	Log *slog.Logger

	rootCAs *x509.CertPool // nil: the system's roots
}

// sendTimeout bounds a whole delivery, from dialling to the server's final answer.
const sendTimeout = 30 * time.Second

// Configured reports whether mail really leaves the machine.
func (m Mailer) Configured() bool { return m.URL != "" }

// Send delivers msg, or logs it when no SMTP server is configured.
func (m Mailer) Send(ctx context.Context, msg Message) error {
	if !m.Configured() {
		if m.Log != nil {
			m.Log.InfoContext(ctx, "mail not sent: SMTP_URL is not set", "to", msg.To, "subject", msg.Subject, "body", msg.Body)
		}
		return nil
	}
	if err := m.send(ctx, msg); err != nil {
		return fmt.Errorf("send mail to %s: %w", msg.To, err)
	}
	return nil
}

func (m Mailer) send(ctx context.Context, msg Message) error {
	u, err := url.Parse(m.URL)
	if err != nil {
		return fmt.Errorf("SMTP_URL: %w", err)
	}
	host := u.Hostname()
	opts := []gomail.Option{gomail.WithTimeout(sendTimeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: host, RootCAs: m.rootCAs, MinVersion: tls.VersionTLS12})}
	port := u.Port()
	switch u.Scheme {
	case "smtp":
		if port == "" {
			port = "587"
		}
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case "smtps":
		if port == "" {
			port = "465"
		}
		opts = append(opts, gomail.WithSSL())
	default:
		return fmt.Errorf("SMTP_URL: scheme must be smtp or smtps, not %q", u.Scheme)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("SMTP_URL: port %q is not a number", port)
	}
	opts = append(opts, gomail.WithPort(p))
	if u.User != nil {
		pass, _ := u.User.Password()
		// PLAIN refuses to send the password without TLS, except to localhost.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	from := u.Query().Get("from")
	if from == "" {
		from = "atrium@" + host
	}
	out, err := compose(from, msg)
	if err != nil {
		return err
	}
	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		return fmt.Errorf("SMTP_URL: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	return c.DialAndSendWithContext(ctx, out)
}

// headerSafe drops line breaks, so text from users (a workspace name) cannot add headers.
func headerSafe(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// compose builds the message: plain UTF-8 text, quoted-printable, with a Message-ID of its own.
func compose(from string, msg Message) (*gomail.Msg, error) {
	out := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := out.From(headerSafe(from)); err != nil {
		return nil, fmt.Errorf("SMTP_URL: sender %q: %w", from, err)
	}
	if err := out.To(headerSafe(msg.To)); err != nil {
		return nil, fmt.Errorf("recipient %q: %w", msg.To, err)
	}
	out.Subject(headerSafe(msg.Subject))
	if !msg.Date.IsZero() {
		out.SetDateWithValue(msg.Date.UTC())
	}
	out.SetMessageIDWithValue(models.NewID().String() + "@atrium")
	out.SetBodyString(gomail.TypeTextPlain, msg.Body)
	return out, nil
}

// Queued is the message as the outbox stores it.
func (m Message) Queued() models.Mail { return models.Mail{To: m.To, Subject: m.Subject, Body: m.Body} }

// Invitation is the email that carries an invitation link.
func Invitation(to, workspace, inviter string, role models.Role, link string, expires time.Time) Message {
	if inviter == "" {
		inviter = "A workspace admin"
	}
	return Message{
		To:      to,
		Subject: fmt.Sprintf("You're invited to %s on Atrium", workspace),
		Body: fmt.Sprintf("%s invited you to join the workspace %q on Atrium as %s.\n\n"+
			"Accept the invitation here (you can create an account on the way):\n%s\n\n"+
			"The link works once, only for %s, until %s.\n"+
			"If you did not expect this, ignore this email.\n",
			inviter, workspace, strings.ToLower(role.Label()), link, to, expires.UTC().Format("Jan 2, 2006 15:04 UTC")),
	}
}
