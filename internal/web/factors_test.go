package web

import (
	"bytes"
	"context"
	"encoding/base32"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"rsc.io/qr"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// factorSite is a site that offers both kinds of factor, over an SQLite
// store with ada (an authenticator app set up) and eve (an administrator
// without a factor). It returns the site, a login of each waiting at its
// second stage (ada's at StageStep, eve's at StageEnrol), and ada's secret.
func factorSite(t testing.TB) (*Site, *login.Pending, *login.Pending, []byte) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"), sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	newID := func() string { v, _ := login.NewToken(); return v }
	dir := directory.NewService(st, directory.Options{Hasher: plainHasher{}, Policy: directory.DefaultPasswordPolicy(), NewID: newID})
	var eveID string
	for _, name := range []string{"ada", "eve"} {
		u, _, err := dir.CreateUser(ctx, directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID},
			&directory.User{UserName: name, Active: true, Password: "Secret-Pass-1"})
		if err != nil {
			t.Fatal(err)
		}
		eveID = u.ID
	}
	if _, _, err := dir.CreateGroup(ctx, directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.Group{DisplayName: "admins", Members: []directory.Member{{ID: eveID}}}); err != nil {
		t.Fatal(err)
	}
	sealer, _ := login.NewSealer(bytes.Repeat([]byte{1}, login.FactorKeySize))
	rp, err := login.NewRelyingParty("https://sso.example.com", "Gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	svc := login.New(st, st, login.Options{Hasher: plainHasher{}, Sealer: sealer, RelyingParty: rp, Policy: login.Policy{AdminGroups: []string{"admins"}},
		Lockout: login.Lockout{AddressFailures: 1 << 30, Failures: 1 << 20, AccountFailures: 1 << 20, FactorFailures: 1 << 20}})
	site, err := New(svc, Options{Enabled: true, Secure: true, PolicyText: "x"})
	if err != nil {
		t.Fatal(err)
	}
	c := login.Client{Browser: testBrowser, Addr: "192.0.2.1"}
	first := func(user string) *login.Outcome {
		p, err := svc.Begin(ctx, c, login.Requirement{}, "/")
		if err != nil {
			t.Fatal(err)
		}
		out, err := svc.Password(ctx, p, c, user, "Secret-Pass-1")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	sess := first("ada").Session
	e, err := svc.AddTOTP(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(e.Secret, " ", ""))
	if _, err := svc.ConfirmTOTP(ctx, sess, c, e.FactorID, "", login.TOTPCode(secret, time.Now().Add(-login.TOTPPeriod))); err != nil {
		t.Fatal(err)
	}
	ada, eve := first("ada").Pending, first("eve").Pending
	if ada == nil || ada.Stage != login.StageStep || eve == nil || eve.Stage != login.StageEnrol {
		t.Fatalf("logins: %+v %+v", ada, eve)
	}
	return site, ada, eve, secret
}

var sixDigits = regexp.MustCompile(`[0-9]{6}`)

// FuzzFactorForms: whatever the second-factor and set-up forms hold, the
// site answers without a server error, redirects only to paths on the
// site, and makes a session only for a code that is right now.
func FuzzFactorForms(f *testing.F) {
	site, ada, eve, secret := factorSite(f)
	h := site.handler()
	tok := csrf(testBrowser)
	for _, v := range []url.Values{
		{"csrf": {tok}, "l": {ada.ID}, "stage": {"step"}, "method": {"totp"}, "code": {"12345"}},
		{"csrf": {tok}, "l": {ada.ID}, "stage": {"step"}, "method": {"totp"}, "code": {"１２３４５６"}},
		{"csrf": {tok}, "l": {ada.ID}, "stage": {"step"}, "method": {"recovery"}, "code": {"abcd-efgh-jkmn-pqrs"}},
		{"csrf": {tok}, "l": {ada.ID}, "stage": {"step"}, "method": {"webauthn"}, "credential": {`{"id":"x","rawId":"x","type":"public-key","response":{}}`}},
		{"csrf": {tok}, "l": {ada.ID}, "stage": {"step"}, "method": {"sms"}, "code": {"1"}},
		{"csrf": {tok}, "l": {eve.ID}, "stage": {"enrol"}, "method": {"totp"}, "factor": {"nope"}, "code": {"000000"}, "name": {"x"}},
		{"csrf": {tok}, "l": {eve.ID}, "stage": {"enrol"}, "method": {"webauthn"}, "credential": {"{}"}, "name": {strings.Repeat("n", 100)}},
		{"csrf": {tok}, "l": {eve.ID}, "stage": {"step"}, "method": {"totp"}, "code": {"000000"}},
		{"csrf": {tok}, "factor": {"x"}},
	} {
		f.Add(v.Encode(), "/login")
	}
	f.Add("csrf="+tok+"&factor=x", "/factors/remove")
	f.Add("csrf="+tok, "/factors/recovery")
	f.Add("csrf="+tok+"&factor=x&code=1", "/factors/totp")
	f.Add("csrf="+tok+"&credential=%7B%7D", "/factors/webauthn")
	f.Fuzz(func(t *testing.T, body, path string) {
		switch path {
		case "/login", "/factors/remove", "/factors/recovery", "/factors/totp", "/factors/webauthn":
		default:
			path = "/login"
		}
		w := post(h, path, body)
		if w.Code >= 500 {
			t.Fatalf("POST %s %q: %d %s", path, body, w.Code, w.Body)
		}
		for _, c := range w.Result().Cookies() {
			if c.Name == "__Host-gatehouse_session" && c.Value != "" {
				now := time.Now()
				right := false
				for _, code := range sixDigits.FindAllString(body, -1) {
					for _, d := range []time.Duration{-login.TOTPPeriod, 0, login.TOTPPeriod} {
						right = right || code == login.TOTPCode(secret, now.Add(d))
					}
				}
				if !right {
					t.Fatalf("POST %q set a session", body)
				}
			}
		}
		if loc := w.Header().Get("Location"); loc != "" && !login.SafeResume(loc) {
			t.Fatalf("POST %q redirects to %q", body, loc)
		}
	})
}

// TestFactorPages: the set-up page shows the QR code inline and the
// secret without a script; the key's page loads the one script under its
// own CSP; both keep the strict policy otherwise.
func TestFactorPages(t *testing.T) {
	site, ada, eve, _ := factorSite(t)
	h := site.handler()
	get := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.AddCookie(&http.Cookie{Name: "__Host-gatehouse_browser", Value: testBrowser})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := get("/login?l=" + eve.ID)
	body := w.Body.String()
	if w.Code != 200 || w.Header().Get("Content-Security-Policy") != CSP || !strings.Contains(body, `<svg class="qr"`) ||
		strings.Contains(body, "<script") || !strings.Contains(body, `href="/login?l=`+eve.ID+`&amp;m=webauthn"`) {
		t.Fatalf("set-up page: %d %v\n%s", w.Code, w.Header(), body)
	}
	// A set-up shown in another tab replaces this one: its code is
	// refused, and the page shows a new secret to scan.
	oldSecret := regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`).FindStringSubmatch(body)[1]
	oldFactor := regexp.MustCompile(`name="factor" value="([^"]+)"`).FindStringSubmatch(body)[1]
	get("/login?l=" + eve.ID)
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(oldSecret, " ", ""))
	w = post(h, "/login", url.Values{"csrf": {csrf(testBrowser)}, "l": {eve.ID}, "stage": {"enrol"}, "method": {"totp"}, "factor": {oldFactor},
		"code": {login.TOTPCode(raw, time.Now())}}.Encode())
	if body := w.Body.String(); w.Code != http.StatusBadRequest || !strings.Contains(body, "was replaced by a newer one") || strings.Contains(body, oldSecret) ||
		!strings.Contains(body, `id="totp-secret"`) {
		t.Errorf("a replaced set-up: %d\n%s", w.Code, body)
	}
	w = get("/login?l=" + eve.ID + "&m=webauthn")
	body = w.Body.String()
	if w.Code != 200 || w.Header().Get("Content-Security-Policy") != CSPScript || !strings.Contains(body, `<script src="/static/webauthn.js" defer></script>`) ||
		!strings.Contains(body, `data-webauthn="create"`) || !strings.Contains(body, `&#34;challenge&#34;`) {
		t.Fatalf("key set-up page: %d %v\n%s", w.Code, w.Header(), body)
	}
	w = get("/login?l=" + ada.ID)
	body = w.Body.String()
	if w.Code != 200 || !strings.Contains(body, `autocomplete="one-time-code"`) || !strings.Contains(body, "Use a recovery code") || strings.Contains(body, "<script") {
		t.Fatalf("second-factor page: %d\n%s", w.Code, body)
	}
	// Another browser cannot use these logins.
	r := httptest.NewRequest("GET", "/login?l="+eve.ID, nil)
	r.AddCookie(&http.Cookie{Name: "__Host-gatehouse_browser", Value: strings.Repeat("B", 43)})
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest || strings.Contains(w.Body.String(), "totp-secret") {
		t.Errorf("another browser: %d", w.Code)
	}
	// The script is served, as JavaScript, from the binary.
	w = get("/static/webauthn.js")
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") || !strings.Contains(w.Body.String(), "navigator.credentials") {
		t.Errorf("webauthn.js: %d %v", w.Code, w.Header())
	}
	// Without a session, the second-factor page sends the browser to sign in.
	if w := get("/factors"); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login?l=") {
		t.Errorf("/factors without a session: %d %v", w.Code, w.Header())
	}
}

// TestQRSVG: the SVG's path draws exactly the code's dark modules, in a
// four-module quiet zone.
func TestQRSVG(t *testing.T) {
	const text = "otpauth://totp/Gatehouse:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Gatehouse"
	svg, err := qrSVG(text, `QR "code" <of> the key`)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := qr.Encode(text, qr.M)
	s := string(svg)
	if !strings.Contains(s, `aria-label="QR &#34;code&#34; &lt;of&gt; the key"`) {
		t.Errorf("label not escaped: %s", s[:200])
	}
	n := code.Size + 8
	if !strings.Contains(s, `viewBox="0 0 `+strconv.Itoa(n)+" "+strconv.Itoa(n)+`"`) {
		t.Errorf("viewBox: %s", s[:200])
	}
	dark := map[[2]int]bool{}
	for _, m := range regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`).FindAllStringSubmatch(s, -1) {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		run, _ := strconv.Atoi(m[3])
		for i := 0; i < run; i++ {
			dark[[2]int{x + i - 4, y - 4}] = true
		}
	}
	for y := -4; y < code.Size+4; y++ {
		for x := -4; x < code.Size+4; x++ {
			if dark[[2]int{x, y}] != code.Black(x, y) {
				t.Fatalf("module %d,%d: drawn %v, code %v", x, y, dark[[2]int{x, y}], code.Black(x, y))
			}
		}
	}
}
