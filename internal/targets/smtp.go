package targets

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
	mailsmtp "github.com/wneessen/go-mail/smtp"

	"github.com/gatehouse-id/gatehouse/internal/egress"
)

// SMTP TLS modes.
const (
	SMTPStartTLS         = "starttls"          // STARTTLS, required (default)
	SMTPStartTLSOptional = "starttls-optional" // STARTTLS when offered; no credentials allowed
	SMTPImplicitTLS      = "tls"               // TLS from the first byte (port 465)
	SMTPNoTLS            = "none"              // plain text: tests and local relays only; no credentials allowed
)

// SMTPConfig configures delivery through an SMTP server.
type SMTPConfig struct {
	Host string
	Port int // default 587 (starttls), 465 (tls) or 25 (none, starttls-optional)
	// TLS is one of "starttls" (default), "starttls-optional", "tls" or
	// "none". Credentials are only sent over TLS: with Username set, TLS
	// must be "starttls" or "tls".
	TLS                string
	Username, Password string // AUTH (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN or LOGIN) when Username is set
	From               string // default sender; a payload's "from" wins
	HeloName           string // default: this host's name
	Templates          *Templates
	Timeout            time.Duration // per connection and command; default 30 s
	// TLSConfig is the client TLS configuration (a private CA, say);
	// ServerName defaults to Host.
	TLSConfig *tls.Config
	// CAFile is a PEM file of CA certificates to trust besides the
	// system's (or TLSConfig.RootCAs): an on-premises relay's private CA.
	CAFile string
	// Locale is the locale used when neither the payload nor the event
	// names one (default "en").
	Locale string
	// Company is the company's name, the templates' "company" (default:
	// the root organization's name, unless it is still "Root").
	Company string
	// TargetID is this target's part of the deterministic Message-ID.
	// Default: a digest of Host, Port and From.
	TargetID string
	// Egress is the policy every connection goes through (the zero
	// policy refuses private, loopback and metadata addresses).
	Egress egress.Policy
	Now    func() time.Time
}

// SMTP sends templated emails through an SMTP server (with go-mail).
//
// SMTP has no idempotency: a message the server accepted but whose answer
// was lost is sent again on retry. Every attempt carries the same
// Message-ID (derived from the event id and the target), so mail systems
// and readers can recognise the duplicate.
type SMTP struct {
	cfg      SMTPConfig
	tlsCfg   *tls.Config
	tpl      *Templates
	targetID string
	now      func() time.Time
}

// NewSMTP checks cfg and returns the target.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	var errs []error
	// An IPv6 address may come in brackets. A host is a name or an
	// address: go-mail would take "unix://…" for a Unix socket.
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(cfg.Host, "["), "]")); err == nil {
		cfg.Host = a.String()
	}
	switch _, err := netip.ParseAddr(cfg.Host); {
	case cfg.Host == "":
		errs = append(errs, errors.New("smtp: no host"))
	case err != nil && strings.ContainsAny(cfg.Host, "/:[]% \t\r\n"):
		errs = append(errs, fmt.Errorf("smtp: host %q: want a host name or an IP address", cfg.Host))
	}
	if cfg.TLS == "" {
		cfg.TLS = SMTPStartTLS
	}
	switch cfg.TLS {
	case SMTPStartTLS, SMTPImplicitTLS:
	case SMTPStartTLSOptional, SMTPNoTLS:
		if cfg.Username != "" {
			errs = append(errs, fmt.Errorf("smtp: TLS %q with a Username: credentials are only sent over TLS; use %q or %q", cfg.TLS, SMTPStartTLS, SMTPImplicitTLS))
		}
	default:
		errs = append(errs, fmt.Errorf("smtp: TLS %q: want starttls, starttls-optional, tls or none", cfg.TLS))
	}
	if cfg.Port == 0 {
		switch cfg.TLS {
		case SMTPStartTLS:
			cfg.Port = mail.DefaultPortTLS
		case SMTPImplicitTLS:
			cfg.Port = mail.DefaultPortSSL
		default:
			cfg.Port = mail.DefaultPort
		}
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		errs = append(errs, fmt.Errorf("smtp: port %d out of range", cfg.Port))
	}
	if cfg.From != "" {
		if _, err := parseMailbox(cfg.From); err != nil {
			errs = append(errs, fmt.Errorf("smtp: From: %w", err))
		}
	}
	if strings.ContainsAny(cfg.HeloName, " \r\n") {
		errs = append(errs, errors.New("smtp: invalid HeloName"))
	}
	var roots *x509.CertPool
	if cfg.CAFile != "" {
		var base *x509.CertPool
		if cfg.TLSConfig != nil {
			base = cfg.TLSConfig.RootCAs
		}
		var err error
		if roots, err = caPool(cfg.CAFile, base); err != nil {
			errs = append(errs, fmt.Errorf("smtp: CAFile: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Locale == "" {
		cfg.Locale = "en"
	}
	s := &SMTP{cfg: cfg, tpl: cfg.Templates, now: nowFunc(cfg.Now),
		targetID: targetIDFor(cfg.TargetID, "smtp", cfg.Host, fmt.Sprint(cfg.Port), cfg.From)}
	if s.tpl == nil {
		s.tpl = DefaultTemplates()
	}
	if cfg.TLSConfig != nil {
		s.tlsCfg = cfg.TLSConfig.Clone()
	} else {
		s.tlsCfg = &tls.Config{}
	}
	if roots != nil {
		s.tlsCfg.RootCAs = roots
	}
	if s.tlsCfg.ServerName == "" {
		s.tlsCfg.ServerName = cfg.Host
	}
	if s.tlsCfg.MinVersion == 0 {
		s.tlsCfg.MinVersion = tls.VersionTLS12
	}
	return s, nil
}

// caPool is base (or the system's pool) with the certificates of a PEM
// file added.
func caPool(file string, base *x509.CertPool) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var pool *x509.CertPool
	switch {
	case base != nil:
		pool = base.Clone()
	default:
		if pool, err = x509.SystemCertPool(); err != nil {
			pool = x509.NewCertPool()
		}
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return pool, nil
}

// Kind implements Target.
func (s *SMTP) Kind() string { return "smtp" }

// Deliver renders the payload's template and sends it as a multipart
// (text and HTML) message. See the package documentation for how replies
// are classified.
func (s *SMTP) Deliver(ctx context.Context, d *Delivery) Result {
	e, err := composeEmail(d, s.tpl, emailDefaults{From: s.cfg.From, Locale: s.cfg.Locale, Company: strings.TrimSpace(s.cfg.Company)})
	if err != nil {
		return Result{Outcome: Permanent, Err: fmt.Errorf("smtp: %w", err)}
	}
	start := s.now()
	msg, err := s.message(d, e, start)
	if err != nil {
		return Result{Outcome: Permanent, Err: fmt.Errorf("smtp: %w", err)}
	}

	// The connection is closed when ctx is cancelled, so that a
	// cancellation interrupts a command waiting for its reply.
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	// go-mail's address is "host:port", which is wrong for an IPv6
	// address, and its network "unix" for a host "unix://…": the
	// connection goes to the configured host and port over TCP, through
	// the egress policy.
	dialer := s.cfg.Egress.Dialer(s.cfg.Timeout)
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	dial := func(dctx context.Context, _, _ string) (net.Conn, error) {
		conn, err := dialer.DialContext(dctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if s.cfg.TLS == SMTPImplicitTLS {
			tc := tls.Client(conn, s.tlsCfg)
			if err := tc.HandshakeContext(dctx); err != nil {
				conn.Close()
				return nil, err
			}
			conn = tc
		}
		stop = context.AfterFunc(ctx, func() { conn.Close() })
		return conn, nil
	}
	c, err := mail.NewClient(s.cfg.Host, s.clientOptions(dial)...)
	if err != nil {
		return Result{Outcome: Permanent, Err: fmt.Errorf("smtp: %w", err)}
	}
	what := "smtp " + addr
	sc, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return s.failure(ctx, err, what, start)
	}
	if err := s.secure(sc); err != nil {
		_ = sc.Close()
		return s.failure(ctx, err, what, start)
	}
	err = c.SendWithSMTPClient(sc, msg)
	if err != nil {
		_ = sc.Close()
		return s.failure(ctx, err, what, start)
	}
	_ = c.CloseWithSMTPClient(sc) // QUIT; the message is already accepted
	return Result{Outcome: Delivered, Status: 250, Latency: s.now().Sub(start), Response: excerpt([]byte(msg.ServerResponse()))}
}

// clientOptions configures go-mail to connect and greet only: STARTTLS and
// AUTH are done by secure, so that a server that lacks them is told apart
// (go-mail reports it with untyped errors).
func (s *SMTP) clientOptions(dial mail.DialContextFunc) []mail.Option {
	opts := []mail.Option{
		mail.WithPort(s.cfg.Port),
		mail.WithTimeout(s.cfg.Timeout),
		mail.WithTLSConfig(s.tlsCfg),
		mail.WithDialContextFunc(dial),
		mail.WithTLSPolicy(mail.NoTLS), // the dialer does implicit TLS, secure STARTTLS
	}
	if s.cfg.HeloName != "" {
		opts = append(opts, mail.WithHELO(s.cfg.HeloName))
	}
	return opts
}

var (
	errSMTPNoStartTLS = errors.New(`the server does not offer STARTTLS, which TLS "starttls" requires`)
	errSMTPNoAuth     = errors.New("the server offers no AUTH mechanism Gatehouse uses (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, LOGIN)")
)

// smtpAuthMechanisms are the AUTH mechanisms used, in order of preference.
var smtpAuthMechanisms = []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN"}

// secure starts TLS on a greeted connection when the mode asks for it and
// authenticates when credentials are configured. Credentials are sent only
// over TLS: NewSMTP allows a Username only with "starttls" (where a server
// without STARTTLS is refused here, before AUTH) or "tls", and go-mail's
// PLAIN and LOGIN refuse a connection that is not TLS.
func (s *SMTP) secure(sc *mailsmtp.Client) error {
	switch s.cfg.TLS {
	case SMTPStartTLS, SMTPStartTLSOptional:
		if ok, _ := sc.Extension("STARTTLS"); !ok {
			if s.cfg.TLS == SMTPStartTLS {
				return errSMTPNoStartTLS
			}
			break
		}
		if err := sc.StartTLS(s.tlsCfg); err != nil {
			return err
		}
	}
	if s.cfg.Username == "" {
		return nil
	}
	ok, offered := sc.Extension("AUTH")
	if !ok {
		return errSMTPNoAuth
	}
	mechs := strings.Fields(strings.ToUpper(offered))
	for _, m := range smtpAuthMechanisms {
		if !slices.Contains(mechs, m) {
			continue
		}
		var a mailsmtp.Auth
		switch m {
		case "SCRAM-SHA-256":
			a = mailsmtp.ScramSHA256Auth(s.cfg.Username, s.cfg.Password)
		case "SCRAM-SHA-1":
			a = mailsmtp.ScramSHA1Auth(s.cfg.Username, s.cfg.Password)
		case "PLAIN":
			a = mailsmtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host, false)
		case "LOGIN":
			a = mailsmtp.LoginAuth(s.cfg.Username, s.cfg.Password, s.cfg.Host, false)
		}
		if err := sc.Auth(a); err != nil {
			return fmt.Errorf("AUTH %s: %w", m, err)
		}
		return nil
	}
	return errSMTPNoAuth
}

func (s *SMTP) message(d *Delivery, e *email, now time.Time) (*mail.Msg, error) {
	m := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := m.From(e.From); err != nil {
		return nil, err
	}
	if err := m.To(e.To...); err != nil {
		return nil, err
	}
	m.Subject(e.Subject)
	m.SetMessageIDWithValue(messageID(d.EventID, s.targetID, d.Replays, e))
	m.SetDateWithValue(now)
	m.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated") // RFC 3834: no auto-replies
	switch {
	case e.Text != "" && e.HTML != "":
		m.SetBodyString(mail.TypeTextPlain, e.Text)
		m.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	case e.Text != "":
		m.SetBodyString(mail.TypeTextPlain, e.Text)
	default:
		m.SetBodyString(mail.TypeTextHTML, e.HTML)
	}
	return m, nil
}

// failure classifies an error of the SMTP session.
func (s *SMTP) failure(ctx context.Context, err error, what string, start time.Time) Result {
	r := Result{Latency: s.now().Sub(start)}
	if cerr := ctx.Err(); cerr != nil {
		r.Outcome, r.Err = Retry, cerr
		return r
	}
	r.Outcome, r.Status = classifySMTP(err)
	r.Err = fmt.Errorf("%s: %w", what, err)
	return r
}

// classifySMTP maps an SMTP session error to an outcome and the reply code:
// 4xx replies Retry, 5xx replies Permanent; without a reply, errors in the
// message or the configuration (no STARTTLS where it is required, no usable
// AUTH mechanism, credentials over plain text, a certificate that does not
// verify, a connection the egress policy refuses) are Permanent, and the
// rest (connection refused, reset or timed out) Retry.
func classifySMTP(err error) (Outcome, int) {
	if egress.IsRefusal(err) {
		return Permanent, 0
	}
	var se *mail.SendError
	if errors.As(err, &se) {
		if code := se.ErrorCode(); code >= 400 && code < 600 {
			return replyOutcome(code), code
		}
		switch se.Reason {
		case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
			return Permanent, 0
		}
		return Retry, 0
	}
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 400 && te.Code < 600 {
		return replyOutcome(te.Code), te.Code
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostnameErr      x509.HostnameError
		invalidCert      x509.CertificateInvalidError
		verifyErr        *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknownAuthority), errors.As(err, &hostnameErr), errors.As(err, &invalidCert),
		errors.As(err, &verifyErr),
		errors.Is(err, mailsmtp.ErrUnencrypted), errors.Is(err, mailsmtp.ErrWrongHostname),
		errors.Is(err, errSMTPNoStartTLS), errors.Is(err, errSMTPNoAuth),
		errors.Is(err, mail.ErrNoSupportedAuthDiscovered), errors.Is(err, mail.ErrPlainAuthNotSupported),
		errors.Is(err, mail.ErrLoginAuthNotSupported), errors.Is(err, mail.ErrSCRAMSHA1AuthNotSupported),
		errors.Is(err, mail.ErrSCRAMSHA256AuthNotSupported):
		return Permanent, 0
	}
	return Retry, 0
}

func replyOutcome(code int) Outcome {
	if code >= 500 {
		return Permanent
	}
	return Retry
}
