package views

import "atrium/views/layouts"

// TwoFactorPage is /account/two-factor: enrolment (secret, QR code, first code) while two-factor is
// off; the recovery codes left, new codes and turning it off while it is on.
type TwoFactorPage struct {
	layouts.Frame
	Enabled      bool
	Secret       string // base32, for typing into an authenticator app
	QR           string // the otpauth URL as a PNG data URI
	RecoveryLeft int
	Next         string // where to go once two-factor is on (a workspace that requires it)
	// Required says why the person was sent here, if they were.
	Required string
	Support  bool
	// PasskeysOn offers adding a passkey, the other second factor, while the app is not set up.
	PasskeysOn bool
	// CodeError is the enrolment form's error.
	CodeError string
	// Change names the form ("disable" or "recovery") whose Errors these are.
	Change string
	Errors FormErrors
}

// RecoveryCodesPage shows new recovery codes, once.
type RecoveryCodesPage struct {
	layouts.Frame
	Codes []string
	// Continue is where the person goes next.
	Continue string
	// Enabled is true when the codes come with two-factor just turned on.
	Enabled bool
}

// SecondFactorPage is /login/two-factor: the code, or a recovery code.
type SecondFactorPage struct {
	layouts.Frame
	Message string
	// Recovery opens the recovery code form (the last try used it).
	Recovery bool
	// TOTP: the person has an authenticator app (the code and recovery code forms are shown).
	TOTP bool
	// Passkey: the person has a passkey and passkeys work here ("Use a passkey" is shown).
	Passkey bool
}

// StepUpPage asks for the password or a current code before a dangerous action, then posts the
// action again with its fields.
type StepUpPage struct {
	layouts.Frame
	What   string // the action, e.g. "Delete workspace Acme"
	Action string // the URL the form posts to: the action itself
	Fields []HiddenField
	TOTP   bool // the person has an authenticator: a code is accepted too
	// Passkey: the person has a passkey and passkeys work here; "Use a passkey" confirms too.
	Passkey bool
	Error   string
	Cancel  string
}

// HiddenField is a form field carried through a confirmation.
type HiddenField struct{ Name, Value string }
