// Package webhook sends a workspace's webhook deliveries: signed the Standard Webhooks way, over
// a dialer that refuses private addresses where that is the rule, one endpoint at a time in the
// order of its events, from a River job (models.WebhookArgs) worked by the background worker.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"atrium/models"
)

// Sign is the Standard Webhooks signature of a message: "v1," and the base64 of the HMAC-SHA256,
// keyed with the secret's bytes (the base64 after "whsec_"), of "id.timestamp.body".
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, timestamp)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// ErrForbiddenAddress is the refusal to connect to a private, loopback, link-local, unspecified
// or multicast address.
var ErrForbiddenAddress = errors.New("refused: the address is private, loopback, link-local or multicast")

// Sender posts deliveries.
type Sender struct {
	// AllowPrivate lets deliveries reach private, loopback and link-local addresses (development
	// and tests). Off, the address each connection goes to is checked after the name is resolved,
	// so a name that resolves (or redirects, or rebinds) to such an address is refused too.
	AllowPrivate bool
	// Timeout bounds one attempt, from dialling to the answer's headers (10 s when zero).
	Timeout time.Duration

	once   sync.Once
	client *http.Client
}

// UserAgent is what deliveries say they are.
const UserAgent = "Atrium-Webhooks/1"

func (s *Sender) httpClient() *http.Client {
	s.once.Do(s.build)
	return s.client
}

func (s *Sender) build() {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	d := &net.Dialer{Timeout: timeout}
	if !s.AllowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || models.ForbiddenAddr(ip) {
				return fmt.Errorf("%w (%s)", ErrForbiddenAddress, host)
			}
			return nil
		}
	}
	s.client = &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil, // never through a proxy: the check above is on the address actually reached
			DialContext:         d.DialContext,
			TLSHandshakeTimeout: timeout,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
		},
		// A redirect is an answer (3xx), not followed: the receiver's address is the one registered.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Send posts event's body to endpoint as delivery id at now, signed with each of the endpoint's
// current secrets, and reports how it went.
func (s *Sender) Send(ctx context.Context, e *models.WebhookEndpoint, id string, ev *models.WebhookEvent, now time.Time) models.WebhookResult {
	body := ev.Body()
	ts := now.Unix()
	var sigs []string
	for _, secret := range e.Secrets(now) {
		sig, err := Sign(secret, id, ts, body)
		if err != nil {
			return models.WebhookResult{Err: err.Error()}
		}
		sigs = append(sigs, sig)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		return models.WebhookResult{Err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", strings.Join(sigs, " "))
	start := time.Now()
	resp, err := s.httpClient().Do(req)
	latency := time.Since(start)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			msg = "timed out after " + latency.Round(time.Millisecond).String()
		}
		return models.WebhookResult{Latency: latency, Err: msg}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return models.WebhookResult{StatusCode: resp.StatusCode, Latency: latency}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
