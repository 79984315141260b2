package targets

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost, and a
// pool that trusts it (as an operator's private CA would be trusted).
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Mail Relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// mailServer is an in-process SMTP server (emersion/go-smtp) on 127.0.0.1.
type mailServer struct {
	port int

	mu       sync.Mutex
	sessions int
	msgs     []receivedMail
	auths    []string // "user:password" of each AUTH attempt
	replies  []error  // answers to the next DATA commands (nil: accept)
	rcptErr  func(to string) error
	mailTLS  []bool // whether each MAIL came over TLS
	password string
}

type receivedMail struct {
	from string
	to   []string
	data []byte
}

type mailServerOptions struct {
	startTLS    bool     // offer STARTTLS
	implicitTLS bool     // TLS from the first byte
	auth        bool     // offer AUTH (over TLS only)
	authMechs   []string // default PLAIN
	cert        tls.Certificate
}

func startMailServer(t *testing.T, o mailServerOptions) *mailServer {
	t.Helper()
	ms := &mailServer{password: "correct horse"}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		ms.mu.Lock()
		ms.sessions++
		ms.mu.Unlock()
		sess := &mailSession{srv: ms, conn: c}
		if o.auth {
			mechs := o.authMechs
			if mechs == nil {
				mechs = []string{sasl.Plain}
			}
			return &authMailSession{sess, mechs}, nil
		}
		return sess, nil
	}))
	s.Domain = "relay.test"
	s.ErrorLog = log.New(io.Discard, "", 0)
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{o.cert}}
	if o.startTLS {
		s.TLSConfig = tlsCfg
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.implicitTLS {
		l = tls.NewListener(l, tlsCfg)
	}
	ms.port = l.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	return ms
}

func (ms *mailServer) failNextData(errs ...error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.replies = append(ms.replies, errs...)
}

func (ms *mailServer) received() []receivedMail {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]receivedMail(nil), ms.msgs...)
}

type mailSession struct {
	srv  *mailServer
	conn *smtp.Conn
	from string
	to   []string
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.mailTLS = append(s.srv.mailTLS, isTLS)
	s.srv.mu.Unlock()
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	f := s.srv.rcptErr
	s.srv.mu.Unlock()
	if f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if len(s.srv.replies) > 0 {
		reply := s.srv.replies[0]
		s.srv.replies = s.srv.replies[1:]
		if reply != nil {
			return reply
		}
	}
	s.srv.msgs = append(s.srv.msgs, receivedMail{from: s.from, to: s.to, data: b})
	return nil
}

type authMailSession struct {
	*mailSession
	mechs []string
}

func (s *authMailSession) AuthMechanisms() []string { return s.mechs }
func (s *authMailSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		s.srv.mu.Lock()
		defer s.srv.mu.Unlock()
		s.srv.auths = append(s.srv.auths, username+":"+password)
		if username != "mailer" || password != s.srv.password {
			return smtp.ErrAuthFailed
		}
		return nil
	}), nil
}

func newSMTPTarget(t *testing.T, ms *mailServer, mode string, mutate func(*SMTPConfig)) *SMTP {
	t.Helper()
	cfg := SMTPConfig{Host: "127.0.0.1", Port: ms.port, TLS: mode, From: "Acme HR <hr@acme.example>",
		HeloName: "gatehouse.test", Timeout: 5 * time.Second, TargetID: "smtp-test", Egress: loopback}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSMTPTransports(t *testing.T) {
	cert, pool := testCert(t)
	trusted := func(c *SMTPConfig) { c.TLSConfig = &tls.Config{RootCAs: pool} }
	withAuth := func(c *SMTPConfig) { trusted(c); c.Username, c.Password = "mailer", "correct horse" }
	tests := []struct {
		name      string
		server    mailServerOptions
		mode      string
		mutate    func(*SMTPConfig)
		want      Outcome
		status    int
		wantTLS   bool
		wantAuths []string
		errHas    string
	}{
		{name: "plain", mode: SMTPNoTLS, want: Delivered, status: 250},
		{name: "plain, STARTTLS offered but not used", server: mailServerOptions{startTLS: true}, mode: SMTPNoTLS, want: Delivered, status: 250},
		{name: "STARTTLS", server: mailServerOptions{startTLS: true}, mode: SMTPStartTLS, mutate: trusted, want: Delivered, status: 250, wantTLS: true},
		{name: "STARTTLS optional, offered", server: mailServerOptions{startTLS: true}, mode: SMTPStartTLSOptional, mutate: trusted, want: Delivered, status: 250, wantTLS: true},
		{name: "STARTTLS optional, not offered", mode: SMTPStartTLSOptional, want: Delivered, status: 250},
		{name: "implicit TLS", server: mailServerOptions{implicitTLS: true}, mode: SMTPImplicitTLS, mutate: trusted, want: Delivered, status: 250, wantTLS: true},
		{name: "STARTTLS and AUTH PLAIN", server: mailServerOptions{startTLS: true, auth: true}, mode: SMTPStartTLS, mutate: withAuth,
			want: Delivered, status: 250, wantTLS: true, wantAuths: []string{"mailer:correct horse"}},
		{name: "implicit TLS and AUTH PLAIN", server: mailServerOptions{implicitTLS: true, auth: true}, mode: SMTPImplicitTLS, mutate: withAuth,
			want: Delivered, status: 250, wantTLS: true, wantAuths: []string{"mailer:correct horse"}},
		{name: "wrong password", server: mailServerOptions{startTLS: true, auth: true}, mode: SMTPStartTLS,
			mutate: func(c *SMTPConfig) { withAuth(c); c.Password = "Wr0ng-Secret" }, want: Permanent, status: 535, wantAuths: []string{"mailer:Wr0ng-Secret"}},
		{name: "AUTH not offered", server: mailServerOptions{startTLS: true}, mode: SMTPStartTLS, mutate: withAuth, want: Permanent, errHas: "AUTH"},
		{name: "only an AUTH mechanism Gatehouse does not use", server: mailServerOptions{startTLS: true, auth: true, authMechs: []string{"CRAM-MD5"}},
			mode: SMTPStartTLS, mutate: withAuth, want: Permanent, errHas: "AUTH"},
		{name: "certificate of an untrusted CA", server: mailServerOptions{startTLS: true}, mode: SMTPStartTLS, want: Permanent, errHas: "certificate"},
		{name: "implicit TLS, untrusted CA", server: mailServerOptions{implicitTLS: true}, mode: SMTPImplicitTLS, want: Permanent, errHas: "certificate"},
		{name: "certificate for another name", server: mailServerOptions{startTLS: true}, mode: SMTPStartTLS,
			mutate: func(c *SMTPConfig) { c.TLSConfig = &tls.Config{RootCAs: pool, ServerName: "mail.example.com"} }, want: Permanent, errHas: "certificate"},
		// The credentials are never sent: go-mail stops before AUTH.
		{name: "STARTTLS required, not offered", server: mailServerOptions{auth: true}, mode: SMTPStartTLS, mutate: withAuth, want: Permanent, errHas: "STARTTLS"},
		{name: "STARTTLS required, not offered, no credentials", mode: SMTPStartTLS, want: Permanent, errHas: "STARTTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.server
			o.cert = cert
			ms := startMailServer(t, o)
			s := newSMTPTarget(t, ms, tt.mode, tt.mutate)
			res := s.Deliver(context.Background(), emailDelivery("evt-transport"))
			if res.Outcome != tt.want || res.Status != tt.status {
				t.Fatalf("got %v %d (%v), want %v %d", res.Outcome, res.Status, res.Err, tt.want, tt.status)
			}
			if tt.errHas != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tt.errHas)) {
				t.Errorf("Err = %v, want it to mention %q", res.Err, tt.errHas)
			}
			if s := fmt.Sprint(res.Err) + res.Response; strings.Contains(s, "Secret") || strings.Contains(s, "horse") {
				t.Errorf("the password shows in %q", s)
			}
			ms.mu.Lock()
			auths, mailTLS := ms.auths, ms.mailTLS
			ms.mu.Unlock()
			if diff := cmp.Diff(tt.wantAuths, auths); diff != "" {
				t.Errorf("AUTH attempts (-want +got):\n%s", diff)
			}
			msgs := ms.received()
			if tt.want != Delivered {
				if len(msgs) != 0 {
					t.Errorf("%d messages accepted, want none", len(msgs))
				}
				return
			}
			if len(msgs) != 1 || !cmp.Equal(mailTLS, []bool{tt.wantTLS}) {
				t.Fatalf("%d messages, MAIL over TLS: %v; want one, TLS %v", len(msgs), mailTLS, tt.wantTLS)
			}
			if msgs[0].from != "hr@acme.example" || !cmp.Equal(msgs[0].to, []string{"ada@example.com"}) {
				t.Errorf("envelope %s → %v", msgs[0].from, msgs[0].to)
			}
			if !strings.Contains(res.Response, "2.0.0") {
				t.Errorf("Response = %q, want the server's reply", res.Response)
			}
			if res.Err != nil && tt.want == Delivered {
				t.Errorf("Err = %v", res.Err)
			}
		})
	}
}

// An operator's private CA, from a PEM file.
func TestSMTPCAFile(t *testing.T) {
	cert, _ := testCert(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "relay-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	ms := startMailServer(t, mailServerOptions{startTLS: true, cert: cert})
	s := newSMTPTarget(t, ms, SMTPStartTLS, func(c *SMTPConfig) { c.CAFile = caFile })
	if res := s.Deliver(context.Background(), emailDelivery("evt-ca")); res.Outcome != Delivered {
		t.Errorf("with the CA file: %+v", res)
	}
	if res := newSMTPTarget(t, ms, SMTPStartTLS, nil).Deliver(context.Background(), emailDelivery("evt-no-ca")); res.Outcome != Permanent {
		t.Errorf("without it: %+v, want Permanent", res)
	}
	write(t, dir, "empty.pem", "not a certificate")
	for _, f := range []string{filepath.Join(dir, "empty.pem"), filepath.Join(dir, "absent.pem")} {
		if _, err := NewSMTP(SMTPConfig{Host: "h", CAFile: f}); err == nil || !strings.Contains(err.Error(), "CAFile") {
			t.Errorf("CAFile %s: err = %v", f, err)
		}
	}
}

// Credentials are only ever sent over TLS: a configuration that could send
// them in clear text is refused (there is no option to allow it).
func TestSMTPRefusesCleartextCredentials(t *testing.T) {
	for _, mode := range []string{SMTPNoTLS, SMTPStartTLSOptional} {
		_, err := NewSMTP(SMTPConfig{Host: "relay.example", TLS: mode, Username: "mailer", Password: "pw"})
		if err == nil || !strings.Contains(err.Error(), "credentials are only sent over TLS") {
			t.Errorf("TLS %q with a Username: err = %v, want a refusal", mode, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	for _, tt := range []struct {
		cfg  SMTPConfig
		want string
	}{
		{SMTPConfig{}, "no host"},
		{SMTPConfig{Host: "h", TLS: "ssl"}, `TLS "ssl"`},
		{SMTPConfig{Host: "h", Port: 70000}, "port"},
		{SMTPConfig{Host: "h", From: "nobody"}, "From"},
		{SMTPConfig{Host: "h", HeloName: "a\r\nMAIL FROM:<x>"}, "HeloName"},
	} {
		if _, err := NewSMTP(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewSMTP(%+v) = %v, want it to mention %q", tt.cfg, err, tt.want)
		}
	}
	for mode, port := range map[string]int{SMTPStartTLS: 587, SMTPImplicitTLS: 465, SMTPNoTLS: 25, SMTPStartTLSOptional: 25} {
		s, err := NewSMTP(SMTPConfig{Host: "h", TLS: mode})
		if err != nil || s.cfg.Port != port {
			t.Errorf("TLS %q: port %d, %v; want %d", mode, s.cfg.Port, err, port)
		}
	}
}

// parsedMail is a received message, decoded.
type parsedMail struct {
	Header              map[string]string
	ContentType         string
	TextType, HTMLType  string
	Text, HTML, Subject string
}

func parseMail(t *testing.T, raw []byte) parsedMail {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var p parsedMail
	p.Header = map[string]string{}
	for _, k := range []string{"From", "To", "Message-Id", "Auto-Submitted", "Mime-Version"} {
		p.Header[k] = m.Header.Get(k)
	}
	if _, err := m.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	p.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	p.ContentType = mt
	if mt != "multipart/alternative" {
		return p
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		ct := part.Header.Get("Content-Type")
		switch {
		case strings.HasPrefix(ct, "text/plain"):
			p.TextType, p.Text = ct, strings.ReplaceAll(string(b), "\r\n", "\n")
		case strings.HasPrefix(ct, "text/html"):
			p.HTMLType, p.HTML = ct, strings.ReplaceAll(string(b), "\r\n", "\n")
		default:
			t.Errorf("unexpected part %s", ct)
		}
	}
	return p
}

func TestSMTPMessage(t *testing.T) {
	cert, _ := testCert(t)
	ms := startMailServer(t, mailServerOptions{cert: cert})
	s := newSMTPTarget(t, ms, SMTPNoTLS, nil)
	tests := []struct {
		name    string
		event   string
		payload string
		locale  string
		to      string
	}{
		{"zh from preferredLanguage", "", "", "zh", "\"Ada Lovelace\" <ada@example.com>"},
		{"en from the payload", "", `{"to":["Ada Lovelace <ada@example.com>","grace@example.com"],"template":"welcome_new_hire","locale":"en"}`, "en",
			"\"Ada Lovelace\" <ada@example.com>, <grace@example.com>"},
		{"user data with markup", `{"detail":{"displayName":"Eve <script>x</script>","organization":"A&B"}}`,
			`{"to":"eve@example.com","template":"welcome_new_hire"}`, "en", "<eve@example.com>"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := emailDelivery(fmt.Sprintf("evt-msg-%d", i))
			if tt.event != "" {
				d.Event = json.RawMessage(tt.event)
			}
			if tt.payload != "" {
				d.Payload = json.RawMessage(tt.payload)
			}
			n := len(ms.received())
			if res := s.Deliver(context.Background(), d); res.Outcome != Delivered {
				t.Fatalf("got %+v", res)
			}
			got := parseMail(t, ms.received()[n].data)
			want, err := DefaultTemplates().Render("welcome_new_hire", []string{tt.locale}, templateVars(eventDetail(d.Event), nil, ""))
			if err != nil {
				t.Fatal(err)
			}
			e, _ := composeEmail(d, DefaultTemplates(), emailDefaults{From: "Acme HR <hr@acme.example>", Locale: "en"})
			wantMail := parsedMail{
				Header: map[string]string{
					"From": `"Acme HR" <hr@acme.example>`, "To": tt.to, "Message-Id": "<" + messageID(d.EventID, "smtp-test", 0, e) + ">",
					"Auto-Submitted": "auto-generated", "Mime-Version": "1.0",
				},
				ContentType: "multipart/alternative",
				TextType:    "text/plain; charset=UTF-8", HTMLType: "text/html; charset=UTF-8",
				Text: want.Text, HTML: want.HTML, Subject: want.Subject,
			}
			if diff := cmp.Diff(wantMail, got); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSMTPMessageID(t *testing.T) {
	cert, _ := testCert(t)
	ms := startMailServer(t, mailServerOptions{cert: cert})
	a := newSMTPTarget(t, ms, SMTPNoTLS, nil)
	aAgain := newSMTPTarget(t, ms, SMTPNoTLS, nil)
	b := newSMTPTarget(t, ms, SMTPNoTLS, func(c *SMTPConfig) { c.TargetID = "smtp-other" })
	noID := newSMTPTarget(t, ms, SMTPNoTLS, func(c *SMTPConfig) { c.TargetID = "" })
	otherFrom := newSMTPTarget(t, ms, SMTPNoTLS, func(c *SMTPConfig) { c.TargetID = ""; c.From = "IT <it@it.acme.example>" })

	sends := []struct {
		name    string
		s       *SMTP
		id      string
		replays int
	}{
		{"first attempt", a, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 0},
		{"second attempt", a, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 0},
		{"after a restart", aAgain, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 0},
		{"another target", b, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 0},
		{"another event", a, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", 0},
		{"default target id", noID, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 0},
		{"default target id, another From", otherFrom, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 0},
		{"an id that is not a token", a, "com.example/evt 42", 0},
		{"a replay", a, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 1},
		{"a retry of the replay", a, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 1},
		{"a second replay", a, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 2},
	}
	var ids []string
	for _, s := range sends {
		d := emailDelivery(s.id)
		d.Replays = s.replays
		if res := s.s.Deliver(context.Background(), d); res.Outcome != Delivered {
			t.Fatalf("%s: %+v", s.name, res)
		}
		msgs := ms.received()
		ids = append(ids, parseMail(t, msgs[len(msgs)-1].data).Header["Message-Id"])
	}
	for i, id := range ids {
		if _, err := mail.ParseAddress(strings.Trim(id, "<>")); err != nil || !strings.HasPrefix(id, "<") {
			t.Errorf("%s: Message-ID %q is not <local@domain>", sends[i].name, id)
		}
	}
	if !strings.HasPrefix(ids[0], "<0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.") || !strings.HasSuffix(ids[0], "@acme.example>") {
		t.Errorf("Message-ID %q: want <event id.digest@sender domain>", ids[0])
	}
	if !strings.HasSuffix(ids[6], "@it.acme.example>") {
		t.Errorf("Message-ID %q: want the sender's domain", ids[6])
	}
	if !strings.HasSuffix(ids[8], ".r1@acme.example>") {
		t.Errorf("Message-ID %q of a replay: want .r1 before the domain", ids[8])
	}
	same := map[[2]int]bool{{0, 1}: true, {0, 2}: true, {1, 2}: true, {8, 9}: true}
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			if (ids[i] == ids[j]) != same[[2]int{i, j}] {
				t.Errorf("%s %s, %s %s: equal %v, want %v", sends[i].name, ids[i], sends[j].name, ids[j], ids[i] == ids[j], same[[2]int{i, j}])
			}
		}
	}
}

// The reliability test of the issue: 451 to the first attempt, 250 to the
// second; a 550 is not retried.
func TestSMTPReplies(t *testing.T) {
	cert, _ := testCert(t)
	tempFail := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Requested action aborted: local error"}
	reject := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message refused"}

	t.Run("451 then 250", func(t *testing.T) {
		ms := startMailServer(t, mailServerOptions{cert: cert})
		ms.failNextData(tempFail)
		s := newSMTPTarget(t, ms, SMTPNoTLS, nil)
		d := emailDelivery("evt-451")
		var got []string
		for attempt := 1; attempt <= 2; attempt++ {
			d.Attempt = attempt
			res := s.Deliver(context.Background(), d)
			got = append(got, res.Outcome.String()+" "+strconv.Itoa(res.Status))
			if res.Outcome == Retry && (res.Err == nil || !strings.Contains(res.Err.Error(), "451")) {
				t.Errorf("Err = %v, want the 451 reply", res.Err)
			}
		}
		if diff := cmp.Diff([]string{"retry 451", "delivered 250"}, got); diff != "" {
			t.Errorf("attempts (-want +got):\n%s", diff)
		}
		if msgs := ms.received(); len(msgs) != 1 || ms.sessions != 2 {
			t.Errorf("%d messages in %d sessions, want 1 in 2", len(msgs), ms.sessions)
		}
	})

	tests := []struct {
		name    string
		data    error
		rcpt    error
		want    Outcome
		status  int
		payload string
	}{
		{name: "550 after DATA", data: reject, want: Permanent, status: 550},
		{name: "554 after DATA", data: &smtp.SMTPError{Code: 554, Message: "Transaction failed"}, want: Permanent, status: 554},
		{name: "452 after DATA", data: &smtp.SMTPError{Code: 452, Message: "Insufficient storage"}, want: Retry, status: 452},
		{name: "550 to RCPT", rcpt: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}, want: Permanent, status: 550},
		{name: "450 to RCPT", rcpt: &smtp.SMTPError{Code: 450, Message: "Mailbox busy"}, want: Retry, status: 450},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := startMailServer(t, mailServerOptions{cert: cert})
			if tt.data != nil {
				ms.failNextData(tt.data)
			}
			if tt.rcpt != nil {
				ms.rcptErr = func(string) error { return tt.rcpt }
			}
			s := newSMTPTarget(t, ms, SMTPNoTLS, nil)
			res := s.Deliver(context.Background(), emailDelivery("evt-reply"))
			if res.Outcome != tt.want || res.Status != tt.status || res.Err == nil {
				t.Errorf("got %v %d (%v), want %v %d", res.Outcome, res.Status, res.Err, tt.want, tt.status)
			}
			ms.mu.Lock()
			defer ms.mu.Unlock()
			if len(ms.msgs) != 0 || ms.sessions != 1 {
				t.Errorf("%d messages in %d sessions, want none in one (no retry inside Deliver)", len(ms.msgs), ms.sessions)
			}
		})
	}
}

func TestSMTPNetworkFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: SMTPNoTLS, From: "hr@acme.example", Timeout: 2 * time.Second, Egress: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Deliver(context.Background(), emailDelivery("evt-refused")); res.Outcome != Retry || res.Err == nil || res.Status != 0 {
		t.Errorf("connection refused: %+v, want Retry", res)
	}

	// A server that accepts the connection and never greets: the
	// caller's cancellation ends the attempt.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	s, err = NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: silent.Addr().(*net.TCPAddr).Port, TLS: SMTPNoTLS, From: "hr@acme.example", Egress: loopback})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if res := s.Deliver(ctx, emailDelivery("evt-silent")); res.Outcome != Retry || !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Errorf("silent server: %+v, want Retry with the context's error", res)
	}

	// A payload that cannot be sent: Permanent before any connection.
	d := emailDelivery("evt-bad")
	d.Payload = json.RawMessage(`{"to":"not an address","template":"welcome_new_hire"}`)
	if res := s.Deliver(context.Background(), d); res.Outcome != Permanent {
		t.Errorf("bad recipient: %+v, want Permanent", res)
	}
}
