// Package smtptest is a small SMTP server for tests: it listens on 127.0.0.1, accepts plain-text
// SMTP (no TLS, no authentication, like a local relay) and keeps every message it accepted. It can
// be taken down and brought back on the same address, to play a mail server outage.
package smtptest

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one accepted message.
type Message struct {
	From, To string
	Subject  string
	Body     string // decoded text
	Raw      string
}

// Server is the test SMTP server.
type Server struct {
	Addr string

	mu   sync.Mutex
	ln   net.Listener
	msgs []Message
	wake chan struct{}
	t    testing.TB
}

// Start listens on a free port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, wake: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Down)
	return s
}

// URL is the server's SMTP_URL.
func (s *Server) URL() string { return "smtp://" + s.Addr + "?from=atrium@example.com" }

// Down stops listening: connections are refused, like a mail server that is away.
func (s *Server) Down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
}

// Up listens again on the same address.
func (s *Server) Up() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment
		if ln, err = net.Listen("tcp", s.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.serve(ln)
}

func (s *Server) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.session(conn)
		}
	}()
}

// Messages returns the accepted messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// To returns the accepted messages for one recipient.
func (s *Server) To(addr string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		if strings.EqualFold(m.To, addr) {
			out = append(out, m)
		}
	}
	return out
}

// Wait waits until n messages for addr arrived (failing the test after timeout) and returns them.
func (s *Server) Wait(addr string, n int, timeout time.Duration) []Message {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		wake := s.wake
		s.mu.Unlock()
		if got := s.To(addr); len(got) >= n {
			return got
		}
		select {
		case <-wake:
		case <-deadline:
			s.t.Fatalf("smtptest: %d messages for %s after %s, want %d", len(s.To(addr)), addr, timeout, n)
		}
	}
}

func (s *Server) session(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	say := func(line string) { io.WriteString(conn, line+"\r\n") }
	say("220 smtptest ESMTP")
	var from, to string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			say("250-smtptest")
			say("250 8BITMIME")
		case "MAIL":
			from = addrOf(arg)
			say("250 ok")
		case "RCPT":
			to = addrOf(arg)
			say("250 ok")
		case "DATA":
			say("354 go on")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			s.keep(from, to, data.String())
			say("250 queued")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func addrOf(arg string) string {
	i, j := strings.Index(arg, "<"), strings.Index(arg, ">")
	if i < 0 || j < i {
		return ""
	}
	return arg[i+1 : j]
}

func (s *Server) keep(from, to, raw string) {
	m := Message{From: from, To: to, Raw: raw}
	if msg, err := mail.ReadMessage(strings.NewReader(raw)); err == nil {
		dec := new(mime.WordDecoder)
		m.Subject, _ = dec.DecodeHeader(msg.Header.Get("Subject"))
		b, _ := io.ReadAll(msg.Body)
		if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			b, _ = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
		}
		m.Body = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}
