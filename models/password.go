package models

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/sync/semaphore"
)

// argon2id parameters: above OWASP's minimum (m=19456 KiB, t=2, p=1).
const (
	argonMemory  = 19456
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Password length bounds: long enough to resist guessing, short enough that hashing stays cheap.
const (
	MinPasswordChars = 12
	MaxPasswordBytes = 256
)

//go:embed common-passwords.txt
var commonPasswordList string

var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(commonPasswordList, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			m[strings.ToLower(line)] = true
		}
	}
	return m
}()

// CheckPassword returns a user-facing reason the password is not acceptable, or "".
func CheckPassword(pw string) string {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordChars:
		return fmt.Sprintf("Use at least %d characters.", MinPasswordChars)
	case len(pw) > MaxPasswordBytes:
		return fmt.Sprintf("Use at most %d bytes.", MaxPasswordBytes)
	case commonPasswords[strings.ToLower(pw)]:
		return "This password is one of the most common ones; choose another."
	}
	return ""
}

// DefaultHashMemory is the memory that password hashing may use at once, in KiB: one argon2id
// computation (19 MiB) per CPU the process may use, at most 128 MiB. A computation takes one CPU
// for its whole run, so more of them side by side would add memory, not speed; more log-ins at
// once wait their turn.
var DefaultHashMemory = min(int64(runtime.GOMAXPROCS(0))*argonMemory, 128*1024)

var (
	hashBudget    = DefaultHashMemory
	hashMemory    = semaphore.NewWeighted(DefaultHashMemory)
	hashInFlight  func(delta int64) // tests watch the memory in use
	errHashMemory = errors.New("password hash needs more memory than the hashing budget")
)

// SetHashMemory sets the hashing budget in KiB (at least one argon2id computation). Call it at
// start, before any hashing.
func SetHashMemory(kib int64) {
	kib = max(kib, argonMemory)
	hashBudget, hashMemory = kib, semaphore.NewWeighted(kib)
}

// memoryHeadroom is what a process needs besides password hashing: its live heap under API and page
// load stays under 30 MiB (make bench), so this leaves twice that.
const memoryHeadroom = 64 << 20

// MemoryLimit is the soft limit for the Go runtime's memory that `atrium serve` sets unless
// GOMEMLIMIT is set: the hashing budget plus 64 MiB. Without it the collector lets the heap grow to
// twice what was live at its last run, and during a burst of log-ins what is live is the hashes in
// flight (19 MiB each), so the heap would swing to twice the budget and more; with it the collector
// runs as the heap nears the limit, and the process stays near budget + headroom. It is soft: a
// process that truly needs more gets more, at the price of more collection.
func MemoryLimit() int64 { return hashBudget*1024 + memoryHeadroom }

// GCPercent is the collector's growth target that `atrium serve` sets unless GOGC is set: the heap
// may grow to five times what was live at the last collection (Go's default is twice). Under load
// the console keeps 10 to 30 MiB live, so the default collects several times as often as the
// memory needs, at a few percent of the CPU; the soft memory limit (MemoryLimit) still makes the
// collector run as the heap nears it, whatever this allows.
const GCPercent = 400

// idKey is argon2.IDKey behind the memory budget: a burst of log-ins queues instead of
// allocating 19 MiB each at once.
func idKey(pw, salt []byte, t, m uint32, p uint8, keyLen uint32) ([]byte, error) {
	if int64(m) > hashBudget {
		return nil, errHashMemory
	}
	if err := hashMemory.Acquire(context.Background(), int64(m)); err != nil {
		return nil, err
	}
	defer hashMemory.Release(int64(m))
	if hashInFlight != nil {
		hashInFlight(int64(m))
		defer hashInFlight(-int64(m))
	}
	return argon2.IDKey(pw, salt, t, m, p, keyLen), nil
}

// HashPassword returns an argon2id PHC string for pw.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := idKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	if err != nil {
		return "", err
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime,
		argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// VerifyPassword reports whether pw matches the PHC string, comparing in constant time.
func VerifyPassword(phc, pw string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, errBadHash
	}
	got, err := idKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when an email is unknown, so that answer takes as long as a wrong
// password does.
var dummyHash = func() string {
	h, err := HashPassword("atrium-timing-equaliser")
	if err != nil {
		panic(err)
	}
	return h
}()
