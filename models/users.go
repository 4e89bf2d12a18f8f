package models

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
)

// StaffSupport is the staff role of the platform's support people.
const StaffSupport = "support"

// User is a person who can log in. Users are global, not tenant-owned.
type User struct {
	bun.BaseModel `bun:"table:users,alias:u"`

	ID           uuid.UUID  `bun:"id,pk,type:uuid"`
	Email        string     `bun:"email"`
	PasswordHash string     `bun:"password_hash"`
	Name         string     `bun:"name"`
	StaffRole    string     `bun:"staff_role"`
	CreatedAt    time.Time  `bun:"created_at,nullzero,notnull"`
	LastLoginAt  *time.Time `bun:"last_login_at"`
	DisabledAt   *time.Time `bun:"disabled_at"`
	// LastWorkspaceID is the workspace the user opened last, where a log-in lands.
	LastWorkspaceID *uuid.UUID `bun:"last_workspace_id,type:uuid"`
	// EmailVerifiedAt is when the address was confirmed (a link mailed to it was opened); nil
	// until then.
	EmailVerifiedAt *time.Time `bun:"email_verified_at"`
}

// IsSupport reports whether the user is platform support staff.
func (u *User) IsSupport() bool { return u.StaffRole == StaffSupport }

// DisplayName is the name, or the email when there is none.
func (u *User) DisplayName() string {
	if strings.TrimSpace(u.Name) != "" {
		return u.Name
	}
	return u.Email
}

// NormalizeEmail trims and lower-cases an email and checks its form.
func NormalizeEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if !ValidLine(s) {
		return "", false // never looked up, never stored
	}
	if len(s) > 254 {
		return s, false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndex(s, "@")+1:], ".") && !strings.HasSuffix(s, "@localhost") {
		return s, false
	}
	return s, true
}

// CheckUserName returns a user-facing reason a display name is not acceptable, or "". The name may
// be empty (the email stands in for it).
func CheckUserName(name string) string {
	if msg := TextProblem(name, false); msg != "" {
		return msg
	}
	if utf8.RuneCountInString(name) > 80 {
		return "Use at most 80 characters."
	}
	return ""
}

// NewUser describes a user to create.
type NewUser struct {
	Email     string
	Name      string
	Password  string
	StaffRole string
	// VerifiedAt, when set, creates the account with its address confirmed: an operator or the
	// demo seed vouches for it. Sign-up leaves it zero and mails a link instead.
	VerifiedAt time.Time
}

// CreateUser validates and stores a new user with an argon2id password hash.
func CreateUser(ctx context.Context, db bun.IDB, in NewUser, now time.Time) (*User, error) {
	var v ValidationError
	email, ok := NormalizeEmail(in.Email)
	if !ok {
		v.Add("email", "Enter a valid email address.")
	}
	name := strings.TrimSpace(in.Name)
	if msg := CheckUserName(name); msg != "" {
		v.Add("name", msg)
	}
	if msg := CheckPassword(in.Password); msg != "" {
		v.Add("password", msg)
	}
	if in.StaffRole != "" && in.StaffRole != StaffSupport {
		v.Add("staff_role", "Unknown staff role.")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	hash, err := HashPassword(in.Password)
	if err != nil {
		return nil, err
	}
	u := &User{ID: NewID(), Email: email, Name: name, PasswordHash: hash, StaffRole: in.StaffRole, CreatedAt: now}
	if !in.VerifiedAt.IsZero() {
		u.EmailVerifiedAt = &in.VerifiedAt
	}
	if _, err := db.NewInsert().Model(u).Exec(ctx); err != nil {
		if isUniqueViolation(err) {
			v.Add("email", "An account with this email already exists.")
			return nil, &v
		}
		return nil, err
	}
	return u, nil
}

// ErrBadCredentials is the one answer for an unknown email, a wrong password and a disabled account.
var ErrBadCredentials = errors.New("email or password is incorrect")

// Authenticate checks an email and password. An unknown email costs the same hashing work as a
// wrong password, so timing tells nothing.
func Authenticate(ctx context.Context, db bun.IDB, email, password string, now time.Time) (*User, error) {
	email, _ = NormalizeEmail(email)
	u := new(User)
	err := db.NewSelect().Model(u).Where("email = ?", email).Scan(ctx)
	if err != nil {
		_, _ = VerifyPassword(dummyHash, password)
		if errors.Is(notFound(err, "user"), ErrNotFound) {
			return nil, ErrBadCredentials
		}
		return nil, err
	}
	ok, err := VerifyPassword(u.PasswordHash, password)
	if err != nil {
		return nil, err
	}
	if !ok || u.DisabledAt != nil {
		return nil, ErrBadCredentials
	}
	_, err = db.NewUpdate().Model(u).Set("last_login_at = ?", now).WherePK().Exec(ctx)
	return u, err
}

// UserByID loads a user.
func UserByID(ctx context.Context, db bun.IDB, id uuid.UUID) (*User, error) {
	u := new(User)
	err := db.NewSelect().Model(u).Where("id = ?", id).Scan(ctx)
	return u, notFound(err, "user")
}

// UserByEmail loads a user by email.
func UserByEmail(ctx context.Context, db bun.IDB, email string) (*User, error) {
	email, _ = NormalizeEmail(email)
	u := new(User)
	err := db.NewSelect().Model(u).Where("email = ?", email).Scan(ctx)
	return u, notFound(err, "user")
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
