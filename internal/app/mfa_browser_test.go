package app_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
)

// Second factors in a real browser: Debian's headless Chromium with the
// DevTools Protocol's virtual authenticator (WebAuthn.enable,
// addVirtualAuthenticator), driven by chromedp. It plays a security key for
// the one script Gatehouse serves (static/webauthn.js), under the pages'
// CSP: set up during a login and from the second-factor page, then used to
// sign in. The authenticator app is set up from the QR code the browser
// drew — read back by zbarimg (Debian's zbar-tools) when it is there — and
// its codes come from oathtool.

// zbarimg decodes the QR code in a PNG, or returns "" when zbarimg is
// not installed (GATEHOUSE_TEST_REQUIRE_ZBAR=1 makes that a failure).
func zbarimg(t *testing.T, png []byte) string {
	t.Helper()
	path, err := exec.LookPath("zbarimg")
	if err != nil {
		if os.Getenv("GATEHOUSE_TEST_REQUIRE_ZBAR") == "1" {
			t.Fatal("zbarimg is not installed: apt-get install zbar-tools")
		}
		t.Log("zbarimg is not installed (apt-get install zbar-tools): the QR code is not read back")
		return ""
	}
	file := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(file, png, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, "--quiet", "--raw", file).Output()
	if err != nil {
		t.Fatalf("zbarimg could not read the QR code: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestBrowserSecondFactors(t *testing.T) {
	r, origin := startMFA(t, nil)
	ctx0 := context.Background()
	rootID := r.createPerson(t, "root@example.com", "Correct-Horse-9")
	kimID := r.createPerson(t, "kim@example.com", "Correct-Horse-9")
	if _, _, err := r.app.Directory.CreateGroup(ctx0, directory.Actor{Kind: "cli"}, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.Group{DisplayName: "admins", Members: []directory.Member{{ID: rootID}, {ID: kimID}}}); err != nil {
		t.Fatal(err)
	}
	ctx, messages := newChrome(t)
	b := tab{t, ctx}

	// The virtual security key: CTAP2 over USB, with a PIN the person
	// enters (user verification), touched at once.
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	if _, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportUsb, HasUserVerification: true,
		IsUserVerified: true, AutomaticPresenceSimulation: true,
	}}); err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}

	// Kim, an administrator without a factor, sets up her security key
	// right after her password, and it is her second factor.
	b.do(chromedp.Navigate(origin+"/"), visible("#username"), typeIn("#username", "kim@example.com"), typeIn("#password", "Correct-Horse-9\r"),
		visible("ul.others a"))
	if got := b.text("h1"); got != "Set up a second factor" {
		t.Fatalf("after the password: %q", got)
	}
	b.do(chromedp.Click(chromedp.CSS(`ul.others a`)), visible(`button[data-webauthn-start]:enabled`), typeIn("#name", "Kim's key"),
		chromedp.Click(chromedp.CSS(`button[data-webauthn-start]`)), visible("#recovery-codes"))
	if n := eval[int](b, `document.querySelectorAll('#recovery-codes li').length`); n != 10 {
		t.Errorf("%d recovery codes shown", n)
	}
	b.do(chromedp.Click(chromedp.CSS("main a.button")), visible("ul.apps, p.hint"))
	st, err := r.app.Admin.LoginState(ctx0, kimID)
	if err != nil || len(st.Factors) != 1 || st.Factors[0].Name != "Kim's key" || len(st.Sessions) != 1 ||
		strings.Join(st.Sessions[0].AMR, " ") != "pwd hwk user mfa" {
		t.Fatalf("kim after the set-up: %+v %v", st, err)
	}
	// Signed out and in again: the key is asked for, and signs her in.
	b.do(chromedp.Click(chromedp.CSS("header button")), visible("a.button"), chromedp.Navigate(origin+"/login"), visible("#username"),
		typeIn("#username", "kim@example.com"), typeIn("#password", "Correct-Horse-9\r"), visible(`button[data-webauthn-start]:enabled`))
	b.do(chromedp.Click(chromedp.CSS(`button[data-webauthn-start]`)), visible("a[href='/factors']"))
	if st, _ := r.app.Admin.LoginState(ctx0, kimID); len(st.Sessions) != 1 || strings.Join(st.Sessions[0].AMR, " ") != "pwd hwk user mfa" {
		t.Errorf("kim's login with her key: %+v", st.Sessions)
	}
	b.do(chromedp.Click(chromedp.CSS("header button")), visible("a.button"))

	// Root sets up an authenticator app: the QR code the browser drew
	// holds the otpauth URI of the secret the page shows.
	b.do(chromedp.Navigate(origin+"/"), visible("#username"), typeIn("#username", "root@example.com"), typeIn("#password", "Correct-Horse-9\r"),
		visible("svg.qr"))
	secret := b.text("#totp-secret")
	if w := eval[float64](b, `document.querySelector('svg.qr').getBoundingClientRect().width`); w < 100 {
		t.Errorf("the QR code is %v px wide", w)
	}
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("svg.qr")))
	if err != nil {
		t.Fatal(err)
	}
	if uri := zbarimg(t, png); uri != "" {
		want := "otpauth://totp/Gatehouse:root@example.com?algorithm=SHA1&digits=6&issuer=Gatehouse&period=30&secret=" + strings.ReplaceAll(secret, " ", "")
		if uri != want {
			t.Errorf("the QR code reads\n%s\nwant\n%s", uri, want)
		}
	}
	confirmed := time.Now()
	b.do(typeIn("#code", oathtool(t, secret, confirmed)+"\r"), visible("#recovery-codes"))
	codes := regexp.MustCompile(`[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}`).FindAllString(b.text("#recovery-codes"), -1)
	if len(codes) != 10 {
		t.Fatalf("recovery codes: %v", codes)
	}
	b.do(chromedp.Click(chromedp.CSS("main a.button")), visible("a[href='/factors']"))

	// From the second-factor page she adds the security key too.
	b.do(chromedp.Click(chromedp.CSS("a[href='/factors']")), visible("a[href='/factors/webauthn']"),
		chromedp.Click(chromedp.CSS("a[href='/factors/webauthn']")), visible(`button[data-webauthn-start]:enabled`),
		typeIn("#name", "YubiKey"), chromedp.Click(chromedp.CSS(`button[data-webauthn-start]`)), visible("p.notice"))
	if body := b.text("main"); !strings.Contains(body, "YubiKey") || !strings.Contains(body, "Authenticator app") && !strings.Contains(body, "authenticator app") {
		t.Errorf("the second-factor page: %q", body)
	}

	// She signs in again: with the key (offered first), or with the app
	// through the link.
	b.do(chromedp.Click(chromedp.CSS("header button")), visible("a.button"), chromedp.Navigate(origin+"/login"), visible("#username"),
		typeIn("#username", "root@example.com"), typeIn("#password", "Correct-Horse-9\r"), visible(`button[data-webauthn-start]:enabled`))
	b.do(chromedp.Click(chromedp.CSS(`a[href*='m=totp']`)), visible("#code"),
		typeIn("#code", oathtool(t, secret, confirmed.Add(login.TOTPPeriod))+"\r"), visible("a[href='/factors']"))
	if st, _ := r.app.Admin.LoginState(ctx0, rootID); len(st.Sessions) != 1 || strings.Join(st.Sessions[0].AMR, " ") != "pwd otp mfa" {
		t.Errorf("root's login with her app: %+v", st.Sessions)
	}

	// Nothing was refused by the CSP and no script failed. (The 401 of
	// a wrong code would be logged as a failed load; there is none here.)
	for _, m := range messages() {
		if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") || strings.HasPrefix(m, "error") {
			t.Errorf("browser: %s", m)
		}
	}
}
