package mail_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"log/slog"
	"math/big"
	"mime/quotedprintable"
	"net"
	"strings"
	"testing"
	"time"

	"atrium/models"
	"atrium/models/mail"
)

// fakeSMTP accepts one message on 127.0.0.1 and hands back the conversation's parts.
type fakeSMTP struct {
	addr string
	done chan map[string]string
}

// serverTLS says how the fake server offers TLS.
type serverTLS int

const (
	plainText serverTLS = iota // no TLS at all
	startTLS                   // advertises STARTTLS and upgrades on request
	implicit                   // TLS from the first byte
)

func startFakeSMTP(t *testing.T, mode serverTLS, cert *tls.Certificate) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var cfg *tls.Config
	if cert != nil {
		cfg = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	f := &fakeSMTP{addr: ln.Addr().String(), done: make(chan map[string]string, 1)}
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { conn.Close() }()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		got := map[string]string{}
		secure := false
		if mode == implicit {
			conn, secure = tls.Server(conn, cfg), true
		}
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
				if mode == startTLS && !secure {
					say("250-STARTTLS")
				}
				say("250 AUTH PLAIN")
			case "STARTTLS":
				say("220 go ahead")
				tc := tls.Server(conn, cfg)
				if err := tc.Handshake(); err != nil {
					got["tls error"] = err.Error()
					f.done <- got
					return
				}
				conn, r, secure = tc, bufio.NewReader(tc), true
			case "AUTH":
				b, _ := base64.StdEncoding.DecodeString(strings.Fields(line)[2])
				got["auth"] = string(b)
				say("235 ok")
			case "MAIL":
				got["from"] = line
				if secure {
					got["secure"] = "yes"
				}
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

// testCA makes a certificate for 127.0.0.1 and the pool that trusts it.
func testCA(t *testing.T) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fake smtp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// headers splits the DATA part into unfolded header lines and the body.
func headers(data string) ([]string, string) {
	head, body, _ := strings.Cut(data, "\r\n\r\n")
	head = strings.ReplaceAll(head, "\r\n ", " ")
	return strings.Split(head, "\r\n"), body
}

func TestMailerSendsThroughSMTP(t *testing.T) {
	srv := startFakeSMTP(t, plainText, nil)
	m := mail.Mailer{URL: "smtp://atrium:s3cret@" + srv.addr + "?from=invites@example.com"}
	link := "https://atrium.example/invitations/abc"
	msg := mail.Invitation("guest@example.com", "Evil\r\nBcc: victim@example.com", "Olivia", models.RoleAdmin, link, time.Now())
	msg.Date = time.Date(2031, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
	if err := m.Send(context.Background(), msg); err != nil {
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
	head, body := headers(got["data"])
	for _, line := range head {
		if strings.HasPrefix(strings.ToLower(line), "bcc:") {
			t.Fatalf("a workspace name added a header: %q", head)
		}
	}
	joined := strings.Join(head, "\n")
	for _, want := range []string{
		"Subject: You're invited to Evil Bcc: victim@example.com on Atrium",
		"Date: Tue, 04 Mar 2031 04:06:07 +0000", // the caller's time, in UTC
		"Content-Type: text/plain; charset=UTF-8",
		"Content-Transfer-Encoding: quoted-printable",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("headers lack %q:\n%s", want, joined)
		}
	}
	plain, err := readQP(body)
	if err != nil || !strings.Contains(plain, link) || !strings.Contains(plain, "as admin") {
		t.Errorf("body %q (%v)", plain, err)
	}
}

func TestMailerUsesTLS(t *testing.T) {
	cert, roots := testCA(t)
	for _, tc := range []struct {
		name   string
		mode   serverTLS
		scheme string
	}{
		{"STARTTLS", startTLS, "smtp"},
		{"implicit TLS", implicit, "smtps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFakeSMTP(t, tc.mode, cert)
			m := mail.Mailer{URL: tc.scheme + "://atrium:s3cret@" + srv.addr}.WithRootCAs(roots)
			if err := m.Send(context.Background(), mail.Message{To: "a@example.com", Subject: "s", Body: "b"}); err != nil {
				t.Fatal(err)
			}
			got := <-srv.done
			if got["secure"] != "yes" || got["auth"] != "\x00atrium\x00s3cret" {
				t.Fatalf("mail went without TLS: %q", got)
			}
			if !strings.HasPrefix(got["from"], "MAIL FROM:<atrium@127.0.0.1>") {
				t.Errorf("default sender %q", got["from"])
			}
			if _, ok := got["data"]; !ok {
				t.Errorf("no message: %q", got)
			}
		})
	}
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := startFakeSMTP(t, implicit, cert)
		err := mail.Mailer{URL: "smtps://" + srv.addr}.Send(context.Background(), mail.Message{To: "a@example.com", Subject: "s", Body: "b"})
		if err == nil {
			t.Fatal("a certificate from an unknown authority was accepted")
		}
	})
}

func readQP(s string) (string, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(quotedprintable.NewReader(strings.NewReader(s)))
	return b.String(), err
}

func TestMailerWithoutSMTPLogsTheLink(t *testing.T) {
	var logs bytes.Buffer
	m := mail.Mailer{Log: slog.New(slog.NewTextHandler(&logs, nil))}
	if m.Configured() {
		t.Fatal("configured without a URL")
	}
	link := "http://localhost:8080/invitations/xyz"
	if err := m.Send(context.Background(), mail.Invitation("a@example.com", "W", "", models.RoleMember, link, time.Now())); err != nil {
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
	m := mail.Mailer{URL: "smtp://" + addr}
	if err := m.Send(context.Background(), mail.Message{To: "a@example.com", Subject: "s", Body: "b"}); err == nil {
		t.Fatal("no error from a closed port")
	}
	if err := (mail.Mailer{URL: "http://" + addr}).Send(context.Background(), mail.Message{To: "a@example.com"}); err == nil {
		t.Fatal("an http:// URL was accepted")
	}
}
