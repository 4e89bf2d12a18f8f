package models_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"mime/quotedprintable"
	"net"
	"strings"
	"testing"
	"time"

	"atrium/models"
)

// fakeSMTP accepts one message on 127.0.0.1 and hands back the conversation's parts.
type fakeSMTP struct {
	addr string
	done chan map[string]string
}

func startFakeSMTP(t *testing.T) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &fakeSMTP{addr: ln.Addr().String(), done: make(chan map[string]string, 1)}
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		got := map[string]string{}
		r := bufio.NewReader(conn)
		say := func(s string) { conn.Write([]byte(s + "\r\n")) }
		say("220 fake ESMTP")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				f.done <- got
				return
			}
			line = strings.TrimRight(line, "\r\n")
			verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
			switch verb {
			case "EHLO":
				say("250-fake")
				say("250 AUTH PLAIN")
			case "AUTH":
				b, _ := base64.StdEncoding.DecodeString(strings.Fields(line)[2])
				got["auth"] = string(b)
				say("235 ok")
			case "MAIL":
				got["from"] = line
				say("250 ok")
			case "RCPT":
				got["rcpt"] = line
				say("250 ok")
			case "DATA":
				say("354 go on")
				var data strings.Builder
				for {
					l, err := r.ReadString('\n')
					if err != nil || l == ".\r\n" {
						break
					}
					data.WriteString(l)
				}
				got["data"] = data.String()
				say("250 queued")
			case "QUIT":
				say("221 bye")
				f.done <- got
				return
			default:
				say("250 ok")
			}
		}
	}()
	return f
}

func TestMailerSendsThroughSMTP(t *testing.T) {
	srv := startFakeSMTP(t)
	m := models.Mailer{URL: "smtp://atrium:s3cret@" + srv.addr + "?from=invites@example.com"}
	link := "https://atrium.example/invitations/abc"
	mail := models.InvitationMail("guest@example.com", "Evil\r\nBcc: victim@example.com", "Olivia", models.RoleAdmin, link, time.Now())
	if err := m.Send(context.Background(), mail); err != nil {
		t.Fatal(err)
	}
	got := <-srv.done
	if got["auth"] != "\x00atrium\x00s3cret" {
		t.Errorf("auth %q", got["auth"])
	}
	if !strings.HasPrefix(got["from"], "MAIL FROM:<invites@example.com>") {
		t.Errorf("from %q", got["from"])
	}
	if !strings.HasPrefix(got["rcpt"], "RCPT TO:<guest@example.com>") {
		t.Errorf("rcpt %q", got["rcpt"])
	}
	head, body, _ := strings.Cut(got["data"], "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "bcc:") {
			t.Fatalf("a workspace name added a header: %q", head)
		}
	}
	if !strings.Contains(head, "Subject: You're invited to Evil Bcc: victim@example.com on Atrium") {
		t.Errorf("headers %q", head)
	}
	plain, err := readQP(body)
	if err != nil || !strings.Contains(plain, link) || !strings.Contains(plain, "as admin") {
		t.Errorf("body %q (%v)", plain, err)
	}
}

func readQP(s string) (string, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(quotedprintable.NewReader(strings.NewReader(s)))
	return b.String(), err
}

func TestMailerWithoutSMTPLogsTheLink(t *testing.T) {
	var logs bytes.Buffer
	m := models.Mailer{Log: slog.New(slog.NewTextHandler(&logs, nil))}
	if m.Configured() {
		t.Fatal("configured without a URL")
	}
	link := "http://localhost:8080/invitations/xyz"
	if err := m.Send(context.Background(), models.InvitationMail("a@example.com", "W", "", models.RoleMember, link, time.Now())); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), link) {
		t.Fatalf("log %q lacks the link", logs.String())
	}
}

func TestMailerReportsAnUnreachableServer(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	m := models.Mailer{URL: "smtp://" + addr}
	if err := m.Send(context.Background(), models.Mail{To: "a@example.com", Subject: "s", Body: "b"}); err == nil {
		t.Fatal("no error from a closed port")
	}
	if err := (models.Mailer{URL: "http://" + addr}).Send(context.Background(), models.Mail{To: "a@example.com"}); err == nil {
		t.Fatal("an http:// URL was accepted")
	}
}
