package demo

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
)

// The scenario's last step (issue 13): the new hire signs in at the hub —
// password and an authenticator app (TOTP) — as a browser does, over
// HTTP. Her department's group needs two factors (login.group_factors),
// so her first login leads her, right after her password, to set up her
// authenticator app; the demo plays her phone with Gatehouse's own TOTP
// generator (RFC 6238, the codes oathtool or any app makes).
//
// SignInTOTP is the sign-in step of a SAML round trip: given the login
// page a browser was sent to, it signs in and returns the response after
// the login, as SAMLLogin expects of its sign-in callback. FirstSignIn
// puts the two together: she opens GitBook's documentation, GitBook sends
// her to the hub with an AuthnRequest, she signs in, and the hub's signed
// assertion brings her back.

// TwoFactorGroup is the hub group whose members need two factors in the
// demo (the hub's login.group_factors).
const TwoFactorGroup = "engineering"

// Phone is the new hire's authenticator app, as the demo plays it.
type Phone struct {
	// Secret is what the app took from the QR code (nil before).
	Secret []byte
	// Now is the phone's clock (time.Now when nil).
	Now func() time.Time
}

// Code is the code the app shows now.
func (p *Phone) Code() string {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	return login.TOTPCode(p.Secret, now())
}

// Browser is a cookie-jar HTTP client that does not follow redirects, so
// that every step is seen, as a browser's is.
func Browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

var (
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)
	secretRE = regexp.MustCompile(`<p class="secret" id="totp-secret">([A-Z2-7 ]+)</p>`)
	codeRE   = regexp.MustCompile(`<li>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</li>`)
	nextRE   = regexp.MustCompile(`<a class="button" href="([^"]+)">`)
)

// SignInReport is what the sign-in did.
type SignInReport struct {
	// ChangedPassword: the login asked for a new password (a temporary
	// one was given), and got it.
	ChangedPassword bool
	// SetUp: the login led her to set up her authenticator app (her
	// first second factor); RecoveryCodes is how many codes it showed.
	SetUp         bool
	RecoveryCodes int
	// Code is the TOTP code submitted.
	Code string
	// SignedIn is how long after she opened GitBook's documentation she
	// was signed in at the hub (the SAML redirect, the login page, her
	// password, her new password, her authenticator app's set-up);
	// GitBook how long until GitBook showed her its documentation (the
	// hub's signed assertion posted to GitBook's ACS and checked there).
	SignedIn, GitBook time.Duration
	// GitBookAs is who GitBook says is signed in; Assertion the assertion
	// GitBook's SAML library accepted for her.
	GitBookAs string
	Assertion *Accepted
}

// SignInTOTP returns a sign-in callback: on the hub's login page (resp),
// userName and password, newPassword when the login asks for one (after
// an administrator's reset), then the second factor from phone — setting
// the app up (phone takes the secret the page shows, as by scanning the QR
// code) when the login asks for that. It returns the response after the
// login: the browser back where the login started. report, if not nil,
// says what happened.
func SignInTOTP(userName, password, newPassword string, phone *Phone, report *SignInReport) func(ctx context.Context, client *http.Client, resp *http.Response) (*http.Response, error) {
	if report == nil {
		report = &SignInReport{}
	}
	return func(ctx context.Context, client *http.Client, resp *http.Response) (*http.Response, error) {
		base := *resp.Request.URL
		base.Path, base.RawQuery = "", ""
		for step := 0; step < 6; step++ {
			body, err := readPage(resp)
			if err != nil {
				return nil, err
			}
			form := url.Values{}
			for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
				if form.Get(m[1]) == "" {
					form.Set(m[1], html.UnescapeString(m[2]))
				}
			}
			switch stage := form.Get("stage"); {
			case strings.Contains(body, `id="recovery-codes"`):
				// Her first factor's recovery codes: she keeps them, and
				// goes on.
				report.RecoveryCodes = len(codeRE.FindAllString(body, -1))
				next := nextRE.FindStringSubmatch(body)
				if next == nil {
					return nil, errors.New("the recovery codes page has no way on")
				}
				return getPage(ctx, client, base.String()+html.UnescapeString(next[1]))
			case stage == "first":
				form.Set("username", userName)
				form.Set("password", password)
			case stage == "change":
				if newPassword == "" {
					return nil, errors.New("the login asks for a new password")
				}
				form.Set("new", newPassword)
				form.Set("confirm", newPassword)
				report.ChangedPassword = true
			case stage == "enrol":
				m := secretRE.FindStringSubmatch(body)
				if m == nil {
					return nil, errors.New("the set-up page shows no authenticator app's secret")
				}
				secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
				if err != nil {
					return nil, err
				}
				phone.Secret, report.SetUp = secret, true
				report.Code = phone.Code()
				form.Set("code", report.Code)
				form.Set("name", "phone")
			case stage == "step" && form.Get("method") == login.MethodTOTP:
				if phone.Secret == nil {
					return nil, errors.New("the login asks for a code, and the phone has no app set up")
				}
				report.Code = phone.Code()
				form.Set("code", report.Code)
			default:
				return nil, fmt.Errorf("unexpected sign-in page (stage %q): %.300s", stage, body)
			}
			resp, err = postForm(ctx, client, base.String()+"/login", form)
			if err != nil {
				return nil, err
			}
			switch resp.StatusCode {
			case http.StatusSeeOther:
				loc, err := resp.Location()
				resp.Body.Close()
				if err != nil {
					return nil, err
				}
				if !strings.HasPrefix(loc.Path, "/login") {
					// Signed in: back where the login started.
					return getPage(ctx, client, loc.String())
				}
				if resp, err = getPage(ctx, client, loc.String()); err != nil {
					return nil, err
				}
			case http.StatusOK:
				// The recovery codes page, read at the top of the loop.
			default:
				body, _ := readPage(resp)
				return nil, fmt.Errorf("the sign-in answered %d: %.300s", resp.StatusCode, body)
			}
		}
		return nil, errors.New("the sign-in did not end")
	}
}

func readPage(resp *http.Response) (string, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), err
}

func getPage(ctx context.Context, client *http.Client, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/html")
	return client.Do(req)
}

// postForm sends a form as a browser posting to the same site does (Origin,
// Sec-Fetch-Site).
func postForm(ctx context.Context, client *http.Client, u string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	origin, _ := url.Parse(u)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Origin", origin.Scheme+"://"+origin.Host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return client.Do(req)
}

// GitBookApp is the name of the GitBook stand-in's SAML application at
// the hub.
const GitBookApp = "GitBook"

// FirstSignIn is the new hire's first sign-in at the hub, on her way to
// GitBook's documentation: an operator gives her a temporary password
// (shown once), HR's group for her department needs two factors and may
// use GitBook (a saml-sp application with the GitBook preset, registered
// from the stand-in's metadata); she opens GitBook's documentation in a
// browser, GitBook sends her to the hub with a signed AuthnRequest
// (SP-initiated, HTTP-Redirect), she signs in — her own password, then
// her authenticator app, set up on the way — and the hub's signed
// assertion, checked by GitBook's SAML library, signs her in at GitBook.
// It returns what happened, and the session she has at the hub.
func (e *Env) FirstSignIn(ctx context.Context, userID, newPassword string) (*SignInReport, *login.Session, error) {
	temp, err := e.Hub.App.Login.ResetPassword(ctx, operator, userID)
	if err != nil {
		return nil, nil, err
	}
	if _, _, err := e.Hub.App.Directory.CreateGroup(ctx, operator, directory.Profile{TargetOrgID: directory.RootOrgID},
		&directory.Group{DisplayName: TwoFactorGroup, Members: []directory.Member{{ID: userID}}}); err != nil {
		return nil, nil, err
	}
	u, err := e.Hub.App.Login.User(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	if e.GitBookSAML == nil {
		g, err := StartGitBookSP(ctx, e.Hub.URL+"/saml/metadata")
		if err != nil {
			return nil, nil, fmt.Errorf("GitBook's SAML side: %w", err)
		}
		e.GitBookSAML = g
		if _, err := g.Register(ctx, e.Hub.App.Admin, GitBookApp, []string{TwoFactorGroup}); err != nil {
			return nil, nil, fmt.Errorf("register GitBook at the hub: %w", err)
		}
	}
	client := Browser()
	var report SignInReport
	phone := &Phone{}
	signIn := SignInTOTP(u.UserName, temp, newPassword, phone, &report)
	start := time.Now()
	who, err := SAMLLogin(ctx, client, e.GitBookSAML, func(ctx context.Context, c *http.Client, resp *http.Response) (*http.Response, error) {
		after, err := signIn(ctx, c, resp)
		report.SignedIn = time.Since(start)
		return after, err
	})
	if err != nil {
		return nil, nil, err
	}
	report.GitBook, report.GitBookAs = time.Since(start), who
	for _, a := range e.GitBookSAML.Accepted() {
		if a.NameID == who {
			report.Assertion = &a
		}
	}
	if report.Assertion == nil {
		return nil, nil, fmt.Errorf("GitBook shows %q, and accepted no assertion for that name", who)
	}
	sessions, err := e.Hub.App.Login.Sessions(ctx, userID)
	if err != nil || len(sessions) == 0 {
		return nil, nil, errors.Join(err, errors.New("no session after the sign-in"))
	}
	return &report, sessions[0], nil
}
