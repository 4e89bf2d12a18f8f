package handlers_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/google/uuid"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
)

// softKey is a software authenticator: one discoverable ES256 credential, as a platform
// authenticator with user verification would make it.
type softKey struct {
	id      []byte
	priv    *ecdsa.PrivateKey
	user    []byte // the user handle the credential was made for
	count   uint32
	origin  string
	rpID    string
	noCount bool // a counter that stays 0, as many synced passkeys report
}

var b64 = base64.RawURLEncoding

func newSoftKey(t *testing.T, app *webtest.App) *softKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	u, _ := url.Parse(app.BaseURL())
	return &softKey{id: id, priv: priv, origin: u.Scheme + "://" + u.Host, rpID: u.Hostname()}
}

func (k *softKey) authData(attested bool) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	var b bytes.Buffer
	b.Write(h[:])
	flags := byte(0x01 | 0x04) // user present, user verified
	if attested {
		flags |= 0x40
	}
	b.WriteByte(flags)
	if !k.noCount {
		k.count++
	}
	binary.Write(&b, binary.BigEndian, k.count)
	if attested {
		b.Write(make([]byte, 16)) // AAGUID
		binary.Write(&b, binary.BigEndian, uint16(len(k.id)))
		b.Write(k.id)
		raw, _ := k.priv.PublicKey.ECDH() // uncompressed point: 0x04 || x || y
		pt := raw.Bytes()
		cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pt[1:33], -3: pt[33:65]})
		if err != nil {
			panic(err)
		}
		b.Write(cose)
	}
	return b.Bytes()
}

func (k *softKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

// create answers registration options.
func (k *softKey) create(t *testing.T, options []byte) json.RawMessage {
	t.Helper()
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &opts); err != nil {
		t.Fatalf("registration options %s: %v", options, err)
	}
	k.user, _ = b64.DecodeString(opts.PublicKey.User.ID)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(true)})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(k.clientData("webauthn.create", opts.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal"},
		},
	})
	return out
}

// get answers log-in options with a signed assertion.
func (k *softKey) get(t *testing.T, options []byte) json.RawMessage {
	t.Helper()
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &opts); err != nil {
		t.Fatalf("log-in options %s: %v", options, err)
	}
	ad := k.authData(false)
	cd := k.clientData("webauthn.get", opts.PublicKey.Challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(k.user),
		},
	})
	return out
}

func userID(t *testing.T, app *webtest.App, email string) uuid.UUID {
	t.Helper()
	u, err := models.UserByEmail(context.Background(), app.DB.App, email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// postJSON posts body as JSON with the client's CSRF token, as static/js/passkeys.js does.
func postJSON(t *testing.T, c *webtest.Client, path string, body any) (int, []byte) {
	t.Helper()
	if c.CSRF == "" {
		c.Get("/login")
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, c.App.HTTP.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", c.CSRF)
	res, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// register adds k to the account c is logged in as, under name.
func register(t *testing.T, c *webtest.Client, k *softKey, name string) (int, []byte) {
	t.Helper()
	status, opts := postJSON(t, c, "/account/passkeys/options", nil)
	if status != http.StatusOK {
		t.Fatalf("registration options: %d %s", status, opts)
	}
	return postJSON(t, c, "/account/passkeys", map[string]any{"name": name, "credential": k.create(t, opts)})
}

// passkeyLogin logs an anonymous client in with k.
func passkeyLogin(t *testing.T, c *webtest.Client, k *softKey, next string) (int, []byte) {
	t.Helper()
	c.Get("/login")
	status, opts := postJSON(t, c, "/login/passkey/options", nil)
	if status != http.StatusOK {
		t.Fatalf("log-in options: %d %s", status, opts)
	}
	return postJSON(t, c, "/login/passkey", map[string]any{"next": next, "credential": k.get(t, opts)})
}

func TestPasskeyRegistrationAndLogin(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{BaseURL: webtest.Localhost})
	email := webtest.UniqueEmail("pk")
	c := app.Login(email)
	k := newSoftKey(t, app)

	res := c.Get("/account")
	if !res.Has("passkeys-empty") || !res.Has("passkey-add") {
		t.Fatalf("account page without passkeys: empty state %v, add button %v", res.Has("passkeys-empty"), res.Has("passkey-add"))
	}
	status, body := register(t, c, k, "Laptop")
	if status != http.StatusOK || !strings.Contains(string(body), `"/account"`) {
		t.Fatalf("register: %d %s", status, body)
	}
	res = c.Get("/account")
	if got := res.TestID("passkey-name"); got != "Laptop" {
		t.Fatalf("listed passkey %q, want Laptop", got)
	}
	if !strings.Contains(res.TestID("flash"), "Laptop") {
		t.Errorf("no flash after adding: %q", res.TestID("flash"))
	}

	// The same authenticator again: refused, the first one is kept.
	status, body = register(t, c, k, "Again")
	if status == http.StatusOK {
		t.Fatalf("the same credential registered twice: %s", body)
	}

	// The answer is single-use: replaying it after a fresh start of another ceremony fails.
	status, opts := postJSON(t, c, "/account/passkeys/options", nil)
	if status != http.StatusOK {
		t.Fatal(status)
	}
	k2 := newSoftKey(t, app)
	answer := k2.create(t, opts)
	if status, body = postJSON(t, c, "/account/passkeys", map[string]any{"name": "Phone", "credential": answer}); status != http.StatusOK {
		t.Fatalf("second passkey: %d %s", status, body)
	}
	if status, body = postJSON(t, c, "/account/passkeys", map[string]any{"name": "Phone again", "credential": answer}); status != http.StatusBadRequest {
		t.Fatalf("replayed registration answer: %d %s, want 400", status, body)
	}

	// A passkey alone logs in, no email, no password, and goes where next says.
	anon := app.Client()
	status, body = passkeyLogin(t, anon, k, "/account")
	if status != http.StatusOK || !strings.Contains(string(body), `"redirect":"/account"`) {
		t.Fatalf("passkey log-in: %d %s", status, body)
	}
	res = anon.Get("/account")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, email) && res.TestID("passkey-name") == "" {
		t.Fatalf("after passkey log-in /account: %d", res.StatusCode)
	}
	keys, err := models.ListPasskeys(context.Background(), app.DB.App, userID(t, app, email))
	if err != nil {
		t.Fatal(err)
	}
	var used *models.Passkey
	for i := range keys {
		if keys[i].Name == "Laptop" {
			used = &keys[i]
		}
	}
	if used == nil || used.LastUsedAt == nil || used.SignCount != int64(k.count) {
		t.Fatalf("after log-in the passkey's use and counter were not kept: %+v (counter %d)", used, k.count)
	}

	// The log-in answer is single-use too: the same assertion again is refused.
	anon2 := app.Client()
	anon2.Get("/login")
	_, opts = postJSON(t, anon2, "/login/passkey/options", nil)
	assertion := k.get(t, opts)
	if status, _ = postJSON(t, anon2, "/login/passkey", map[string]any{"credential": assertion}); status != http.StatusOK {
		t.Fatalf("first use of an assertion: %d", status)
	}
	anon3 := app.Client()
	anon3.Get("/login")
	postJSON(t, anon3, "/login/passkey/options", nil)
	if status, _ = postJSON(t, anon3, "/login/passkey", map[string]any{"credential": assertion}); status != http.StatusBadRequest {
		t.Fatalf("an assertion for another session's challenge: %d, want 400", status)
	}
	// Without a started ceremony: refused.
	if status, _ = postJSON(t, app.Client(), "/login/passkey", map[string]any{"credential": assertion}); status != http.StatusBadRequest {
		t.Fatalf("answer with no ceremony: %d, want 400", status)
	}
}

func TestPasskeyCloneWarningRefusesLogin(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{BaseURL: webtest.Localhost})
	email := webtest.UniqueEmail("clone")
	c := app.Login(email)
	k := newSoftKey(t, app)
	if status, body := register(t, c, k, "Key"); status != http.StatusOK {
		t.Fatalf("register: %d %s", status, body)
	}
	if status, body := passkeyLogin(t, app.Client(), k, ""); status != http.StatusOK {
		t.Fatalf("log-in: %d %s", status, body)
	}
	// A copy of the key answers with a counter the server has already seen.
	k.count -= 2
	status, body := passkeyLogin(t, app.Client(), k, "")
	if status != http.StatusBadRequest || !strings.Contains(string(body), "copied") {
		t.Fatalf("counter gone backwards: %d %s, want 400 about a copy", status, body)
	}
	res := c.Get("/account")
	if !res.Has("passkey-clone-warning") {
		t.Fatal("the account page does not warn about the passkey")
	}
	var n int
	if err := app.DB.Owner.NewRaw("SELECT count(*) FROM platform_events WHERE action = 'passkey.clone_warning' AND target = ?", email).Scan(context.Background(), &n); err != nil || n != 1 {
		t.Fatalf("clone warning audited %d times (%v), want 1", n, err)
	}
}

func TestPasskeyExpiredCeremony(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{BaseURL: webtest.Localhost})
	c := app.Login(webtest.UniqueEmail("exp"))
	k := newSoftKey(t, app)
	status, opts := postJSON(t, c, "/account/passkeys/options", nil)
	if status != http.StatusOK {
		t.Fatal(status)
	}
	app.Advance(6 * time.Minute) // the server's one clock: the challenge and the session age together
	status, body := postJSON(t, c, "/account/passkeys", map[string]any{"name": "Late", "credential": k.create(t, opts)})
	if status != http.StatusBadRequest || !strings.Contains(string(body), "expired") {
		t.Fatalf("answer after 6 minutes: %d %s, want 400 expired", status, body)
	}
}

func TestPasskeysOfAnotherUser(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{BaseURL: webtest.Localhost})
	alice := app.Login(webtest.UniqueEmail("alice"))
	bobEmail := webtest.UniqueEmail("bob")
	bob := app.Login(bobEmail)
	if status, body := register(t, bob, newSoftKey(t, app), "Bob's key"); status != http.StatusOK {
		t.Fatalf("register: %d %s", status, body)
	}
	keys, err := models.ListPasskeys(context.Background(), app.DB.App, userID(t, app, bobEmail))
	if err != nil || len(keys) != 1 {
		t.Fatalf("bob's passkeys: %v %v", keys, err)
	}
	id := keys[0].ID.String()
	if res := alice.Post("/account/passkeys/"+id+"/rename", url.Values{"name": {"Mine now"}}); res.StatusCode != http.StatusNotFound {
		t.Fatalf("rename another's passkey: %d, want 404", res.StatusCode)
	}
	if res := alice.Post("/account/passkeys/"+id+"/remove", nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("remove another's passkey: %d, want 404", res.StatusCode)
	}
	if res := alice.Post("/account/passkeys/not-an-id/remove", nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("remove with a bad id: %d, want 404", res.StatusCode)
	}
	// Bob's own: a bad name is refused, a good one kept; removal is audited.
	if res := bob.Post("/account/passkeys/"+id+"/rename", url.Values{"name": {""}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("empty name: %d", res.StatusCode)
	}
	if res := bob.Get("/account"); res.TestID("passkey-name") != "Bob's key" || !strings.Contains(res.TestID("flash"), "1–80") {
		t.Fatalf("after an empty name: %q, flash %q", res.TestID("passkey-name"), res.TestID("flash"))
	}
	if res := bob.Post("/account/passkeys/"+id+"/rename", url.Values{"name": {"  YubiKey  "}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("rename: %d", res.StatusCode)
	}
	if got := bob.Get("/account").TestID("passkey-name"); got != "YubiKey" {
		t.Fatalf("renamed to %q", got)
	}
	if res := bob.Post("/account/passkeys/"+id+"/remove", url.Values{"confirm": {"yes"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", res.StatusCode)
	}
	if res := bob.Get("/account"); !res.Has("passkeys-empty") {
		t.Fatal("the passkey is still listed")
	}
	var actions []string
	if err := app.DB.Owner.NewRaw("SELECT action FROM platform_events WHERE target = ? AND action LIKE 'passkey.%' ORDER BY created_at, action", bobEmail).Scan(context.Background(), &actions); err != nil {
		t.Fatal(err)
	}
	if strings.Join(actions, ",") != "passkey.add,passkey.remove" {
		t.Fatalf("audited %v, want add and remove", actions)
	}
}

func TestPasskeysOffOnAnIPAddress(t *testing.T) {
	app := webtest.Start(t) // http://127.0.0.1:port: WebAuthn needs a domain name
	c := app.Login(webtest.UniqueEmail("ip"))
	if res := c.Get("/account"); res.Has("passkey-add") {
		t.Fatal("passkeys offered on an IP address")
	}
	if res := app.Client().Get("/login"); res.Has("passkey-login") {
		t.Fatal("passkey log-in offered on an IP address")
	}
	if status, _ := postJSON(t, c, "/account/passkeys/options", nil); status != http.StatusNotFound {
		t.Fatalf("options on an IP address: %d, want 404", status)
	}
}
