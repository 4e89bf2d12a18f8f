package models

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Passkey is one WebAuthn credential of a user: a key pair held by their device or password
// manager, of which Atrium keeps the public key.
type Passkey struct {
	bun.BaseModel `bun:"table:passkeys,alias:pk"`

	ID           uuid.UUID           `bun:"id,pk,type:uuid"`
	UserID       uuid.UUID           `bun:"user_id,type:uuid"`
	CredentialID []byte              `bun:"credential_id"`
	Name         string              `bun:"name"`
	Credential   webauthn.Credential `bun:"credential,type:jsonb"`
	SignCount    int64               `bun:"sign_count"`
	CloneWarning bool                `bun:"clone_warning"`
	CreatedAt    time.Time           `bun:"created_at,nullzero,notnull"`
	LastUsedAt   *time.Time          `bun:"last_used_at"`
}

// ceremonyTTL is how long a started ceremony (its challenge) may be finished.
const ceremonyTTL = 5 * time.Minute

// PasskeyCeremony is a started registration or log-in: the challenge and what the library needs
// to check the answer. It is kept server-side in the person's session, taken out (so used once)
// when the answer comes, and refused after Expires.
type PasskeyCeremony struct {
	Kind    string               `json:"kind"`
	Expires time.Time            `json:"expires"`
	Data    webauthn.SessionData `json:"data"`
}

// Kinds of ceremony.
const (
	CeremonyRegister = "register"
	CeremonyLogin    = "login"
	// CeremonySecondFactor is a passkey asked for after the password, for one known user.
	CeremonySecondFactor = "second_factor"
)

// ErrPasskeyRefused is the answer to a passkey that does not prove who it claims to be: unknown,
// removed, of a disabled account, or a signature that does not verify.
var ErrPasskeyRefused = errors.New("passkey refused")

// RelyingParty checks passkey ceremonies for the console's one public address.
type RelyingParty struct {
	w *webauthn.WebAuthn
}

// NewRelyingParty makes the relying party of baseURL: its host is the RP ID and its origin the
// only origin a ceremony is accepted from. An address WebAuthn cannot serve (an IP address, no
// host) is an error, and passkeys are then off.
func NewRelyingParty(baseURL string) (*RelyingParty, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("passkeys need a base URL with a host, got %q", baseURL)
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: "Atrium",
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
		// A passkey must prove the person (PIN, biometrics), not only a touch: it replaces
		// the password, and it is a second factor.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationRequired,
		},
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys at %q: %w", baseURL, err)
	}
	return &RelyingParty{w: w}, nil
}

// RPID is the relying party's identifier (the base URL's host).
func (rp *RelyingParty) RPID() string { return rp.w.Config.RPID }

// passkeyUser is a user as the WebAuthn library sees one. The user handle is the user's id:
// random, stable, and nothing personal.
type passkeyUser struct {
	u     *User
	creds []webauthn.Credential
}

func (p *passkeyUser) WebAuthnID() []byte                         { return p.u.ID[:] }
func (p *passkeyUser) WebAuthnName() string                       { return p.u.Email }
func (p *passkeyUser) WebAuthnDisplayName() string                { return p.u.DisplayName() }
func (p *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

func loadPasskeyUser(ctx context.Context, db bun.IDB, u *User) (*passkeyUser, []Passkey, error) {
	keys, err := ListPasskeys(ctx, db, u.ID)
	if err != nil {
		return nil, nil, err
	}
	pu := &passkeyUser{u: u}
	for _, k := range keys {
		pu.creds = append(pu.creds, k.Credential)
	}
	return pu, keys, nil
}

// ceremony wraps the library's session data with the expiry, judged by the caller's clock.
func ceremony(kind string, data *webauthn.SessionData, now time.Time) *PasskeyCeremony {
	d := *data
	d.Expires = time.Time{} // the expiry is Expires below, on the caller's clock
	return &PasskeyCeremony{Kind: kind, Expires: now.Add(ceremonyTTL), Data: d}
}

// check refuses a ceremony of another kind or one that has expired at now.
func (c *PasskeyCeremony) check(kind string, now time.Time) error {
	if c == nil || c.Kind != kind {
		return Errorf(ErrPasskeyRefused, "Start again: this passkey request was not asked for here.")
	}
	if !now.Before(c.Expires) {
		return Errorf(ErrPasskeyRefused, "The passkey request expired. Try again.")
	}
	return nil
}

// BeginPasskeyRegistration starts adding a passkey to u's account. options go to the browser;
// the ceremony stays on the server. Passkeys the user already has are excluded, so the same
// authenticator is not registered twice.
func (rp *RelyingParty) BeginPasskeyRegistration(ctx context.Context, db bun.IDB, u *User, now time.Time) (options json.RawMessage, c *PasskeyCeremony, err error) {
	pu, _, err := loadPasskeyUser(ctx, db, u)
	if err != nil {
		return nil, nil, err
	}
	creation, data, err := rp.w.BeginRegistration(pu,
		webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	b, err := json.Marshal(creation)
	if err != nil {
		return nil, nil, err
	}
	return b, ceremony(CeremonyRegister, data, now), nil
}

// CheckPasskeyName returns a user-facing reason a passkey's name is not acceptable, or "".
func CheckPasskeyName(name string) string {
	if msg := TextProblem(name, false); msg != "" {
		return msg
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(name)); n < 1 || n > 80 {
		return "Use 1–80 characters."
	}
	return ""
}

// FinishPasskeyRegistration checks the browser's answer to the ceremony c and stores the new
// passkey under name (a default name when it is empty), and records it in the platform log.
func (rp *RelyingParty) FinishPasskeyRegistration(ctx context.Context, db bun.IDB, u *User, c *PasskeyCeremony, response []byte, name string, now time.Time) (*Passkey, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "Passkey added " + now.UTC().Format("2006-01-02")
	}
	if msg := CheckPasskeyName(name); msg != "" {
		return nil, Invalid("name", msg)
	}
	if err := c.check(CeremonyRegister, now); err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, Errorf(ErrPasskeyRefused, "The browser's answer could not be read. Try again.")
	}
	pu, _, err := loadPasskeyUser(ctx, db, u)
	if err != nil {
		return nil, err
	}
	cred, err := rp.w.CreateCredential(pu, c.Data, parsed)
	if err != nil {
		return nil, Errorf(ErrPasskeyRefused, "The passkey could not be verified. Try again.")
	}
	pk := &Passkey{ID: NewID(), UserID: u.ID, CredentialID: cred.ID, Name: name, Credential: *cred,
		SignCount: int64(cred.Authenticator.SignCount), CreatedAt: now}
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(pk).Exec(ctx); err != nil {
			if isUniqueViolation(err) {
				return Invalid("passkey", "This passkey is registered already.")
			}
			return fmt.Errorf("store passkey: %w", err)
		}
		return RecordPlatform(ctx, tx, Event{At: now, ActorUserID: u.ID, Action: "passkey.add", Target: u.Email,
			Details: map[string]any{"passkey_id": pk.ID.String(), "name": name}})
	})
	if err != nil {
		return nil, err
	}
	return pk, nil
}

// BeginPasskeyLogin starts a log-in with a discoverable passkey: the browser offers the person
// the passkeys it holds for this site, no email asked.
func (rp *RelyingParty) BeginPasskeyLogin(now time.Time) (options json.RawMessage, c *PasskeyCeremony, err error) {
	assertion, data, err := rp.w.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, fmt.Errorf("begin passkey log-in: %w", err)
	}
	b, err := json.Marshal(assertion)
	if err != nil {
		return nil, nil, err
	}
	return b, ceremony(CeremonyLogin, data, now), nil
}

// FinishPasskeyLogin checks the browser's answer to the log-in ceremony c and returns the user
// the passkey belongs to. The passkey's signature counter is kept; a counter that went backwards
// (the library's clone warning: two copies of the key may exist) refuses the log-in, marks the
// passkey and records the warning.
func (rp *RelyingParty) FinishPasskeyLogin(ctx context.Context, db bun.IDB, c *PasskeyCeremony, response []byte, now time.Time) (*User, *Passkey, error) {
	if err := c.check(CeremonyLogin, now); err != nil {
		return nil, nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, nil, Errorf(ErrPasskeyRefused, "The browser's answer could not be read. Try again.")
	}
	var user *User
	var keys []Passkey
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		id, err := uuid.FromBytes(userHandle)
		if err != nil {
			return nil, ErrPasskeyRefused
		}
		u, err := UserByID(ctx, db, id)
		if err != nil {
			return nil, err
		}
		pu, ks, err := loadPasskeyUser(ctx, db, u)
		if err != nil {
			return nil, err
		}
		user, keys = u, ks
		return pu, nil
	}
	_, cred, err := rp.w.ValidatePasskeyLogin(handler, c.Data, parsed)
	if err != nil {
		return nil, nil, Errorf(ErrPasskeyRefused, "This passkey was not accepted. It may have been removed from your account; log in with your password.")
	}
	pk, err := rp.usePasskey(ctx, db, user, keys, cred, now)
	if err != nil {
		return nil, nil, err
	}
	if user.DisabledAt != nil {
		return nil, nil, Errorf(ErrPasskeyRefused, "This passkey was not accepted. It may have been removed from your account; log in with your password.")
	}
	if _, err := db.NewUpdate().Model(user).Set("last_login_at = ?", now).WherePK().Exec(ctx); err != nil {
		return nil, nil, err
	}
	return user, pk, nil
}

// BeginPasskeySecondFactor asks for one of u's passkeys after the password was right.
func (rp *RelyingParty) BeginPasskeySecondFactor(ctx context.Context, db bun.IDB, u *User, now time.Time) (options json.RawMessage, c *PasskeyCeremony, err error) {
	pu, _, err := loadPasskeyUser(ctx, db, u)
	if err != nil {
		return nil, nil, err
	}
	if len(pu.creds) == 0 {
		return nil, nil, Errorf(ErrNotFound, "You have no passkey.")
	}
	assertion, data, err := rp.w.BeginLogin(pu, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, fmt.Errorf("begin passkey second factor: %w", err)
	}
	b, err := json.Marshal(assertion)
	if err != nil {
		return nil, nil, err
	}
	return b, ceremony(CeremonySecondFactor, data, now), nil
}

// FinishPasskeySecondFactor checks that the answer to c was made with one of u's passkeys.
func (rp *RelyingParty) FinishPasskeySecondFactor(ctx context.Context, db bun.IDB, u *User, c *PasskeyCeremony, response []byte, now time.Time) (*Passkey, error) {
	if err := c.check(CeremonySecondFactor, now); err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, Errorf(ErrPasskeyRefused, "The browser's answer could not be read. Try again.")
	}
	pu, keys, err := loadPasskeyUser(ctx, db, u)
	if err != nil {
		return nil, err
	}
	cred, err := rp.w.ValidateLogin(pu, c.Data, parsed)
	if err != nil {
		return nil, Errorf(ErrPasskeyRefused, "This passkey was not accepted. Use another one, or a code.")
	}
	return rp.usePasskey(ctx, db, u, keys, cred, now)
}

// usePasskey keeps what a verified assertion changed (counter, flags) and refuses a passkey the
// library suspects of being cloned.
func (rp *RelyingParty) usePasskey(ctx context.Context, db bun.IDB, u *User, keys []Passkey, cred *webauthn.Credential, now time.Time) (*Passkey, error) {
	var pk *Passkey
	for i := range keys {
		if bytes.Equal(keys[i].CredentialID, cred.ID) {
			pk = &keys[i]
		}
	}
	if pk == nil {
		return nil, ErrPasskeyRefused
	}
	if cred.Authenticator.CloneWarning {
		if _, err := db.NewUpdate().Model(pk).Set("clone_warning = true").
			Where("id = ? AND user_id = ?", pk.ID, u.ID).Exec(ctx); err != nil {
			return nil, err
		}
		if err := RecordPlatform(ctx, db, Event{At: now, ActorUserID: u.ID, Action: "passkey.clone_warning", Target: u.Email,
			Details: map[string]any{"passkey_id": pk.ID.String(), "name": pk.Name,
				"stored_sign_count": pk.SignCount, "sign_count": cred.Authenticator.SignCount}}); err != nil {
			return nil, err
		}
		return nil, Errorf(ErrPasskeyRefused, "This passkey's signature counter went backwards, which can mean it was copied. Log in with your password and remove it from your account.")
	}
	pk.Credential = *cred
	pk.SignCount = int64(cred.Authenticator.SignCount)
	pk.LastUsedAt = &now
	_, err := db.NewUpdate().Model(pk).Column("credential", "sign_count", "last_used_at").
		Where("id = ? AND user_id = ?", pk.ID, u.ID).Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("update passkey: %w", err)
	}
	return pk, nil
}

// ListPasskeys lists a user's passkeys, oldest first.
func ListPasskeys(ctx context.Context, db bun.IDB, userID uuid.UUID) ([]Passkey, error) {
	var out []Passkey
	err := db.NewSelect().Model(&out).Where("user_id = ?", userID).Order("created_at", "id").Scan(ctx)
	return out, err
}

// CountPasskeys says how many passkeys a user has.
func CountPasskeys(ctx context.Context, db bun.IDB, userID uuid.UUID) (int64, error) {
	return db.NewSelect().Model((*Passkey)(nil)).Where("user_id = ?", userID).Count(ctx)
}

// RenamePasskey names one of u's passkeys; another user's passkey is ErrNotFound.
func RenamePasskey(ctx context.Context, db bun.IDB, u *User, id uuid.UUID, name string) error {
	name = strings.TrimSpace(name)
	if msg := CheckPasskeyName(name); msg != "" {
		return Invalid("name", msg)
	}
	res, err := db.NewUpdate().Model((*Passkey)(nil)).Set("name = ?", name).
		Where("id = ? AND user_id = ?", id, u.ID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("rename passkey: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ErrNotFound, "passkey not found")
	}
	return nil
}

// RemovePasskey deletes one of u's passkeys and records it; another user's passkey is
// ErrNotFound. The password stays, so removing the last passkey locks nobody out.
func RemovePasskey(ctx context.Context, db bun.IDB, u *User, id uuid.UUID, now time.Time) (*Passkey, error) {
	pk := new(Passkey)
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.NewDelete().Model(pk).Where("id = ? AND user_id = ?", id, u.ID).Returning("id, name").Exec(ctx, pk)
		if err := notFound(err, "passkey"); err != nil {
			return err
		}
		if pk.ID == uuid.Nil {
			return Errorf(ErrNotFound, "passkey not found")
		}
		return RecordPlatform(ctx, tx, Event{At: now, ActorUserID: u.ID, Action: "passkey.remove", Target: u.Email,
			Details: map[string]any{"passkey_id": pk.ID.String(), "name": pk.Name}})
	})
	if err != nil {
		return nil, err
	}
	return pk, nil
}
