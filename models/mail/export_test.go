package mail

import "crypto/x509"

// WithRootCAs returns m trusting roots instead of the system's, for tests with their own CA.
func (m Mailer) WithRootCAs(roots *x509.CertPool) Mailer {
	m.rootCAs = roots
	return m
}
