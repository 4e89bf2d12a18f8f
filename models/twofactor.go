package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/uptrace/bun"
)

// Two-factor authentication: a TOTP authenticator (RFC 6238: SHA-1, six digits, 30-second steps)
// and ten single-use recovery codes per user. The TOTP secret is stored as it is (the project has
// no encryption key setting to seal it with); the recovery codes only as SHA-256.

// TOTP parameters every authenticator app understands.
const (
	totpPeriod   = 30
	totpDigits   = otp.DigitsSix
	totpIssuer   = "Atrium"
	totpSkew     = 1 // one step either side of now, for clocks a little apart
	RecoveryN    = 10
	recoveryLen  = 10 // characters of a recovery code, shown as two groups of five
	StepUpWindow = 10 * time.Minute
)

// SecondFactor limits: 10 failed codes per user and 100 per IP within ThrottleWindow.
const (
	SecondFactorUserMax = 10
	SecondFactorIPMax   = 100
)

// UserTOTP is a user's authenticator; EnabledAt is nil while enrolment waits for a first code.
type UserTOTP struct {
	bun.BaseModel `bun:"table:user_totp,alias:ut"`

	UserID    uuid.UUID  `bun:"user_id,pk,type:uuid"`
	Secret    string     `bun:"secret"`
	EnabledAt *time.Time `bun:"enabled_at"`
	LastStep  int64      `bun:"last_step"`
	CreatedAt time.Time  `bun:"created_at"`
}

// recoveryCode is a stored recovery code: its hash, and when it was spent.
type recoveryCode struct {
	bun.BaseModel `bun:"table:user_recovery_codes,alias:rc"`

	UserID   uuid.UUID  `bun:"user_id,pk,type:uuid"`
	CodeHash string     `bun:"code_hash,pk"`
	UsedAt   *time.Time `bun:"used_at"`
}

// TwoFactorStatus is what the account page says about a user's second factor.
type TwoFactorStatus struct {
	Enabled       bool
	EnabledAt     *time.Time
	RecoveryLeft  int
	PendingSecret string // the secret of an enrolment not yet confirmed
}

// UserHasSecondFactor reports whether the user has a second factor in use (any kind the database
// function atrium_has_second_factor counts).
func UserHasSecondFactor(ctx context.Context, db bun.IDB, userID uuid.UUID) (bool, error) {
	var ok bool
	err := db.NewRaw("SELECT atrium_has_second_factor(?)", userID).Scan(ctx, &ok)
	return ok, err
}

// ReadTwoFactor reads the user's TOTP state and how many recovery codes are unused.
func ReadTwoFactor(ctx context.Context, db bun.IDB, userID uuid.UUID) (*TwoFactorStatus, error) {
	var row struct {
		Secret    sql.NullString `bun:"secret"`
		EnabledAt *time.Time     `bun:"enabled_at"`
		Left      int            `bun:"left"`
	}
	err := db.NewRaw(`SELECT t.secret, t.enabled_at,
		  (SELECT count(*)::int FROM user_recovery_codes WHERE user_id = ?0 AND used_at IS NULL) AS left
		FROM (SELECT 1) AS one LEFT JOIN user_totp AS t ON t.user_id = ?0`, userID).Scan(ctx, &row)
	if err != nil {
		return nil, fmt.Errorf("two-factor status: %w", err)
	}
	st := &TwoFactorStatus{Enabled: row.EnabledAt != nil, EnabledAt: row.EnabledAt, RecoveryLeft: row.Left}
	if !st.Enabled && row.Secret.Valid {
		st.PendingSecret = row.Secret.String
	}
	return st, nil
}

// BeginTOTP starts (or resumes) enrolment: a new secret is stored unconfirmed, or the one already
// waiting is returned, so reloading the page shows the same secret. A user whose authenticator is
// on gets ErrConflict.
func BeginTOTP(ctx context.Context, db bun.IDB, u *User, now time.Time) (secret string, err error) {
	st, err := ReadTwoFactor(ctx, db, u.ID)
	if err != nil {
		return "", err
	}
	if st.Enabled {
		return "", Errorf(ErrConflict, "Two-factor authentication is already on.")
	}
	if st.PendingSecret != "" {
		return st.PendingSecret, nil
	}
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	secret = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
	_, err = db.NewRaw(`INSERT INTO user_totp (user_id, secret, created_at) VALUES (?, ?, ?)
		ON CONFLICT (user_id) DO NOTHING`, u.ID, secret, now).Exec(ctx)
	if err != nil {
		return "", fmt.Errorf("begin two-factor: %w", err)
	}
	// A concurrent request may have stored its own secret first: show the stored one.
	st, err = ReadTwoFactor(ctx, db, u.ID)
	if err != nil {
		return "", err
	}
	if st.Enabled || st.PendingSecret == "" {
		return "", Errorf(ErrConflict, "Two-factor authentication is already on.")
	}
	return st.PendingSecret, nil
}

// TOTPKey is the otpauth key for secret, labelled with the account's email, for the QR code.
func TOTPKey(secret, email string) (*otp.Key, error) {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", totpIssuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", fmt.Sprint(totpPeriod))
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + totpIssuer + ":" + email, RawQuery: v.Encode()}
	return otp.NewKeyFromURL(u.String())
}

// TOTPCode is the code of secret at t (what an authenticator app shows then).
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
}

// normalizeCode keeps the digits of a typed code ("123 456" is 123456); "" when it cannot be one.
func normalizeCode(code string) string {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
	if len(code) != 6 {
		return ""
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return ""
		}
	}
	return code
}

// matchStep returns the time step, within the skew of now, whose code is code; 0 when none is.
func matchStep(secret, code string, now time.Time) (int64, error) {
	code = normalizeCode(code)
	if code == "" {
		return 0, nil
	}
	step := now.Unix() / totpPeriod
	var found int64
	for s := step - totpSkew; s <= step+totpSkew; s++ {
		want, err := TOTPCode(secret, time.Unix(s*totpPeriod, 0).UTC())
		if err != nil {
			return 0, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found = s // the latest step wins
		}
	}
	return found, nil
}

// EnableTOTP confirms enrolment with a first code from the authenticator, turns two-factor on,
// and returns the ten recovery codes (shown once; only their hashes are kept). The code's step
// counts as used.
func EnableTOTP(ctx context.Context, db bun.IDB, u *User, code string, now time.Time) ([]string, error) {
	var codes []string
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		t := new(UserTOTP)
		err := tx.NewSelect().Model(t).Where("user_id = ?", u.ID).For("UPDATE").Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return Errorf(ErrConflict, "Start again: open the two-factor page for a new secret.")
		}
		if err != nil {
			return err
		}
		if t.EnabledAt != nil {
			return Errorf(ErrConflict, "Two-factor authentication is already on.")
		}
		step, err := matchStep(t.Secret, code, now)
		if err != nil {
			return err
		}
		if step == 0 {
			return Invalid("code", "That code is not right. Enter the six digits your authenticator app shows now.")
		}
		if _, err := tx.NewUpdate().Model(t).Set("enabled_at = ?", now).Set("last_step = ?", step).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("enable two-factor: %w", err)
		}
		if codes, err = replaceRecoveryCodes(ctx, tx, u.ID); err != nil {
			return err
		}
		return RecordPlatform(ctx, tx, Event{At: now, ActorUserID: u.ID, Action: "user.two_factor_enable", Target: u.Email})
	})
	return codes, err
}

// replaceRecoveryCodes deletes the user's recovery codes and stores ten new ones.
func replaceRecoveryCodes(ctx context.Context, db bun.IDB, userID uuid.UUID) ([]string, error) {
	if _, err := db.NewRaw("DELETE FROM user_recovery_codes WHERE user_id = ?", userID).Exec(ctx); err != nil {
		return nil, err
	}
	codes := make([]string, RecoveryN)
	hashes := make([]string, RecoveryN)
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789" // no 0/o, 1/l/i to misread
	for i := range codes {
		b := make([]byte, recoveryLen)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		for j := range b {
			b[j] = alphabet[int(b[j])%len(alphabet)]
		}
		codes[i] = string(b[:recoveryLen/2]) + "-" + string(b[recoveryLen/2:])
		hashes[i] = hashRecoveryCode(codes[i])
	}
	rows := make([]recoveryCode, RecoveryN)
	for i, h := range hashes {
		rows[i] = recoveryCode{UserID: userID, CodeHash: h}
	}
	if _, err := db.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return nil, fmt.Errorf("store recovery codes: %w", err)
	}
	return codes, nil
}

// hashRecoveryCode is the stored form of a recovery code: SHA-256 of its letters and digits,
// lower-cased, without spaces or hyphens.
func hashRecoveryCode(code string) string {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, code)
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// VerifyTOTP accepts a current code of the user's authenticator once: the code's time step must be
// later than the last one accepted, and the step is stored by the same conditional UPDATE, so two
// requests with one code cannot both pass.
func VerifyTOTP(ctx context.Context, db bun.IDB, userID uuid.UUID, code string, now time.Time) (bool, error) {
	t := new(UserTOTP)
	err := db.NewSelect().Model(t).Where("user_id = ? AND enabled_at IS NOT NULL", userID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	step, err := matchStep(t.Secret, code, now)
	if err != nil || step == 0 {
		return false, err
	}
	res, err := db.NewUpdate().Model((*UserTOTP)(nil)).Set("last_step = ?", step).
		Where("user_id = ? AND enabled_at IS NOT NULL AND last_step < ?", userID, step).Exec(ctx)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// UseRecoveryCode spends one of the user's unused recovery codes; false when code is none of them.
func UseRecoveryCode(ctx context.Context, db bun.IDB, u *User, code string, now time.Time) (bool, error) {
	if !ValidLine(code) || len(code) > 64 {
		return false, nil
	}
	res, err := db.NewRaw(`UPDATE user_recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL`,
		now, u.ID, hashRecoveryCode(code)).Exec(ctx)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	return true, RecordPlatform(ctx, db, Event{At: now, ActorUserID: u.ID, Action: "user.recovery_code_used", Target: u.Email})
}

// TwoFactorChange is the form that turns two-factor off or makes new recovery codes: the password
// and a current code (an authenticator code, or an unused recovery code for a person whose
// authenticator is lost).
type TwoFactorChange struct {
	Password, Code string
}

// checkChange verifies a TwoFactorChange for u.
func checkChange(ctx context.Context, db bun.IDB, u *User, in TwoFactorChange, now time.Time) error {
	var v ValidationError
	ok, err := VerifyPassword(u.PasswordHash, in.Password)
	if err != nil {
		return err
	}
	if !ok {
		v.Add("password", "That is not your password.")
	}
	if err := v.Err(); err != nil {
		return err
	}
	ok, err = VerifyTOTP(ctx, db, u.ID, in.Code, now)
	if err == nil && !ok && normalizeCode(in.Code) == "" {
		ok, err = UseRecoveryCode(ctx, db, u, in.Code, now)
	}
	if err != nil {
		return err
	}
	if !ok {
		return Invalid("code", "That code is not right, or was used already. Enter the code your authenticator app shows now, or a recovery code.")
	}
	return nil
}

// DisableTOTP turns two-factor off with the password and a current code, deleting the secret and
// the recovery codes.
func DisableTOTP(ctx context.Context, db bun.IDB, u *User, in TwoFactorChange, now time.Time) error {
	if err := checkChange(ctx, db, u, in, now); err != nil {
		return err
	}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewRaw("DELETE FROM user_totp WHERE user_id = ?", u.ID).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewRaw("DELETE FROM user_recovery_codes WHERE user_id = ?", u.ID).Exec(ctx); err != nil {
			return err
		}
		return RecordPlatform(ctx, tx, Event{At: now, ActorUserID: u.ID, Action: "user.two_factor_disable", Target: u.Email})
	})
}

// RegenerateRecoveryCodes replaces the user's recovery codes with ten new ones, with the password
// and a current code.
func RegenerateRecoveryCodes(ctx context.Context, db bun.IDB, u *User, in TwoFactorChange, now time.Time) ([]string, error) {
	st, err := ReadTwoFactor(ctx, db, u.ID)
	if err != nil {
		return nil, err
	}
	if !st.Enabled {
		return nil, Errorf(ErrConflict, "Two-factor authentication is off.")
	}
	if err := checkChange(ctx, db, u, in, now); err != nil {
		return nil, err
	}
	var codes []string
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if codes, err = replaceRecoveryCodes(ctx, tx, u.ID); err != nil {
			return err
		}
		return RecordPlatform(ctx, tx, Event{At: now, ActorUserID: u.ID, Action: "user.recovery_codes_regenerate", Target: u.Email})
	})
	return codes, err
}

// SecondFactorLockedFor returns how long second steps for this user or IP stay refused (0 when they
// are not).
func SecondFactorLockedFor(ctx context.Context, db bun.IDB, userID uuid.UUID, ip string, now time.Time) (time.Duration, error) {
	return throttled(ctx, db, now, []throttleKey{
		{"second_user", userID.String(), SecondFactorUserMax}, {"second_ip", ip, SecondFactorIPMax}})
}

// RecordSecondFactorFailure counts a wrong second-step code against the user and the IP.
func RecordSecondFactorFailure(ctx context.Context, db bun.IDB, userID uuid.UUID, ip string, now time.Time) error {
	return recordFailure(ctx, db, now, "second_user", userID.String(), "second_ip", ip)
}

// ClearSecondFactorFailures forgets a user's failed second steps after one succeeds.
func ClearSecondFactorFailures(ctx context.Context, db bun.IDB, userID uuid.UUID) error {
	_, err := db.NewRaw(`DELETE FROM login_failures WHERE scope = 'second_user' AND key = ?`, userID.String()).Exec(ctx)
	return err
}
