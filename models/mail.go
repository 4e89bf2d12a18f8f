package models

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// Mail is one plain-text email.
type Mail struct {
	To      string
	Subject string
	Body    string
}

// Mailer sends Atrium's emails through the SMTP server of URL (smtp://user:pass@host:port, or
// smtps:// for TLS from the first byte; ?from=address sets the sender). With no URL it only logs
// them, so a laptop needs no mail server.
type Mailer struct {
	URL string
	Log *slog.Logger
}

// Configured reports whether mail really leaves the machine.
func (m Mailer) Configured() bool { return m.URL != "" }

// Send delivers msg, or logs it when no SMTP server is configured.
func (m Mailer) Send(ctx context.Context, msg Mail) error {
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

func (m Mailer) send(ctx context.Context, msg Mail) error {
	u, err := url.Parse(m.URL)
	if err != nil {
		return fmt.Errorf("SMTP_URL: %w", err)
	}
	host, port := u.Hostname(), u.Port()
	implicitTLS := false
	switch u.Scheme {
	case "smtp":
		if port == "" {
			port = "587"
		}
	case "smtps":
		implicitTLS = true
		if port == "" {
			port = "465"
		}
	default:
		return fmt.Errorf("SMTP_URL: scheme must be smtp or smtps, not %q", u.Scheme)
	}
	from := u.Query().Get("from")
	if from == "" {
		from = "atrium@" + host
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	if implicitTLS {
		conn = tls.Client(conn, &tls.Config{ServerName: host})
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && !implicitTLS {
		if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return err
		}
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		// PlainAuth refuses to send the password without TLS, except to localhost.
		if err := c.Auth(smtp.PlainAuth("", u.User.Username(), pass, host)); err != nil {
			return err
		}
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(msg.To); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(compose(from, msg, time.Now())); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// headerSafe drops line breaks, so text from users (a workspace name) cannot add headers.
func headerSafe(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// compose writes the message with its headers; the body is quoted-printable UTF-8.
func compose(from string, msg Mail, now time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", headerSafe(from))
	fmt.Fprintf(&b, "To: %s\r\n", headerSafe(msg.To))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", headerSafe(msg.Subject)))
	fmt.Fprintf(&b, "Date: %s\r\n", now.UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@atrium>\r\n", NewID())
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(msg.Body)) // it turns every line break into CRLF
	qp.Close()
	return b.Bytes()
}

// InvitationMail is the email that carries an invitation link.
func InvitationMail(to, workspace, inviter string, role Role, link string, expires time.Time) Mail {
	if inviter == "" {
		inviter = "A workspace admin"
	}
	return Mail{
		To:      to,
		Subject: fmt.Sprintf("You're invited to %s on Atrium", workspace),
		Body: fmt.Sprintf("%s invited you to join the workspace %q on Atrium as %s.\n\n"+
			"Accept the invitation here (you can create an account on the way):\n%s\n\n"+
			"The link works once, only for %s, until %s.\n"+
			"If you did not expect this, ignore this email.\n",
			inviter, workspace, strings.ToLower(role.Label()), link, to, expires.UTC().Format("Jan 2, 2006 15:04 UTC")),
	}
}
