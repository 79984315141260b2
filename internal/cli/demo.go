package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/demo"
)

// demoCmd is `gatehouse demo`: the onboarding scenario on this machine.
// With one hire (the default) it tells what happens, step by step, with
// each step's latency; with --hires N it measures N new hires sent at
// --rate per second and prints the latency distribution.
func (e *env) demoCmd(args []string) error {
	fs := e.newFlagSet(cmdHelp{name: "demo", about: "The onboarding scenario on this machine: the hub, a RAM stand-in, a GitBook stand-in and an SMTP server\non loopback; one new hire step by step, or --hires N to measure."})
	hires := fs.Int("hires", 1, "new hires to send (more than one: measure, and print the latencies)")
	rate := fs.Float64("rate", 100, "with --hires: new hires per second (open loop)")
	durable := fs.Bool("durable", false, "fsync every commit (synchronous=FULL, the servers' default); the demo uses NORMAL")
	asJSON := fs.Bool("json", false, "print only JSON on standard output (the tour's steps and journey, or with --hires the measurement); the narration goes to standard error")
	keep := fs.String("dir", "", "keep the databases and the rules file in this directory (default: a temporary one, removed)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *hires < 1 || *rate <= 0 {
		return usagef("demo takes --hires N (≥ 1), --rate R (> 0), --durable, --json, --dir DIR")
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Minute)
	defer cancel()
	w := e.stdout // the narration
	if *asJSON {
		w = e.stderr
	}
	fmt.Fprintln(w, "Starting the onboarding scenario on loopback: the hub, a RAM stand-in, a GitBook stand-in, an SMTP server…")
	env, err := demo.Start(ctx, demo.Options{Dir: *keep, Durable: *durable})
	if err != nil {
		return err
	}
	defer env.Close()
	fmt.Fprintf(w, "  hub (Gatehouse, SCIM at /scim/v2)  %s\n", env.Hub.URL)
	fmt.Fprintf(w, "  Alibaba Cloud RAM (stand-in)       %s   (gatehouse serve --profile ram)\n", env.RAM.URL)
	fmt.Fprintf(w, "  GitBook SCIM (stand-in)            %s/scim/v2\n", env.GitBook.URL)
	fmt.Fprintf(w, "  SMTP server                        %s:%d\n", env.Mail.Host, env.Mail.Port)
	fmt.Fprintf(w, "  rules                              examples/onboarding/rules.yaml\n\n")
	if *hires > 1 {
		return e.demoMeasure(ctx, w, env, *hires, *rate, *asJSON)
	}
	return e.demoTour(ctx, w, env, *asJSON)
}

// tourStep is a step of the tour and the latency of each of its effects,
// for --json.
type tourStep struct {
	Action  string       `json:"action"`
	Effects []tourEffect `json:"effects"`
}

type tourEffect struct {
	Effect string  `json:"effect"`
	MS     float64 `json:"ms"`
}

func msOf(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/100) / 10 }

func ms(d time.Duration) string { return fmt.Sprintf("%7.1f ms", float64(d.Microseconds())/1000) }

// demoTour follows one new hire, telling w; with asJSON it prints the
// steps and the journey as JSON on standard output at the end.
func (e *env) demoTour(ctx context.Context, w io.Writer, env *demo.Env, asJSON bool) error {
	var report []tourStep
	h := demo.Hire{GivenName: "Ada", FamilyName: "Lovelace", Email: "ada.lovelace@example.com", Department: "Engineering"}
	fmt.Fprintf(w, "1. HR creates %s %s <%s>, department %s, over SCIM (POST /scim/v2/Users).\n", h.GivenName, h.FamilyName, h.Email, h.Department)
	report = append(report, tourStep{Action: "create"})
	id, created, err := env.Create(ctx, h)
	if err != nil {
		return err
	}
	fx, err := env.WaitEffects(ctx, h, created)
	if err != nil {
		return err
	}
	subject := ""
	if msg, err := mail.ReadMessage(strings.NewReader(fx.Mail.Data)); err == nil {
		subject = msg.Header.Get("Subject")
		if dec, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
			subject = dec
		}
	}
	type step struct {
		at   time.Time
		text string
	}
	steps := []step{
		{fx.Email, fmt.Sprintf("welcome email received by the SMTP server for %s: %q", strings.Join(fx.Mail.To, ", "), subject)},
		{fx.RAM, fmt.Sprintf("RAM: account %s (RAM id %s) created over SCIM with OAuth client credentials", h.Account(), fx.RAMID)},
		{fx.GitBook, fmt.Sprintf("GitBook: account %s, active, in group %s", h.Email, h.ReadersGroup())},
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].at.Before(steps[j].at) })
	for _, s := range steps {
		fmt.Fprintf(w, "   +%s  %s\n", ms(s.at.Sub(created)), s.text)
		report[0].Effects = append(report[0].Effects, tourEffect{s.text, msOf(s.at.Sub(created))})
	}
	fmt.Fprintf(w, "   all three done %s after the account was created.\n\n", strings.TrimSpace(ms(fx.Done().Sub(created))))

	fmt.Fprintf(w, "2. HR moves her to Platform (PATCH department).\n")
	start := time.Now()
	if err := env.Move(ctx, id, "Platform"); err != nil {
		return err
	}
	if err := demo.Wait(ctx, func() (bool, error) {
		u, err := env.GitBookUser(ctx, h.Email)
		return u != nil && slices.Equal(demo.GroupsOf(u), []string{"platform-readers"}), err
	}); err != nil {
		return err
	}
	moved := time.Since(start)
	fmt.Fprintf(w, "   +%s  GitBook: moved from %s to platform-readers\n\n", ms(moved), h.ReadersGroup())
	report = append(report, tourStep{Action: "move", Effects: []tourEffect{{"GitBook: moved from " + h.ReadersGroup() + " to platform-readers", msOf(moved)}}})

	fmt.Fprintf(w, "3. She leaves: HR deactivates her (PATCH active=false, as Okta does).\n")
	start = time.Now()
	if err := env.Disable(ctx, id); err != nil {
		return err
	}
	var gbDone, ramDone time.Duration
	if err := demo.Wait(ctx, func() (bool, error) {
		if gbDone == 0 {
			u, err := env.GitBookUser(ctx, h.Email)
			if err != nil {
				return false, err
			}
			if u != nil && u["active"] == false {
				gbDone = time.Since(start)
			}
		}
		if ramDone == 0 {
			u, err := env.RAMUser(ctx, h.Account())
			if err != nil {
				return false, err
			}
			if u == nil {
				ramDone = time.Since(start)
			}
		}
		return gbDone > 0 && ramDone > 0, nil
	}); err != nil {
		return err
	}
	fmt.Fprintf(w, "   +%s  GitBook: account deactivated\n", ms(gbDone))
	fmt.Fprintf(w, "   +%s  RAM: user removed (RAM has no inactive state)\n\n", ms(ramDone))
	report = append(report, tourStep{Action: "disable", Effects: []tourEffect{{"GitBook: account deactivated", msOf(gbDone)},
		{"RAM: user removed", msOf(ramDone)}}})

	// Deliveries are recorded just after they are made: wait for the
	// journey to hold the disable's.
	var j *admin.Journey
	_ = demo.Wait(ctx, func() (bool, error) {
		var err error
		if j, err = env.Hub.App.Admin.Journey(ctx, id); err != nil {
			return false, err
		}
		for _, s := range j.Steps {
			if s.Event != nil && s.Event.Type == "User.Disabled" {
				for _, d := range s.Event.Deliveries {
					if d.State != "delivered" {
						return false, nil
					}
				}
				return len(s.Event.Deliveries) > 0, nil
			}
		}
		return false, nil
	})
	startDate, graceID, err := demoStartDate(ctx, w, env)
	if err != nil {
		return err
	}
	report = append(report, startDate...)
	fmt.Fprintf(w, "6. Ada's journey, as an auditor or her manager sees it (gatehouse journey %s):\n\n", h.Email)
	if j == nil {
		return errors.New("no journey")
	}
	if asJSON {
		fmt.Fprintf(w, "(on standard output, as JSON)\n\n")
	} else {
		printJourney(w, j)
		fmt.Fprintln(w)
	}
	signIn, err := demoSignIn(ctx, w, env, graceID)
	if err != nil {
		return err
	}
	report = append(report, signIn)
	if asJSON {
		return printJSON(e.stdout, map[string]any{"steps": report, "journey": j})
	}
	return nil
}

// demoSignIn is the scenario's last step: Grace opens GitBook's
// documentation in a browser over HTTP, GitBook sends her to the hub
// through SAML, she signs in with her password and an authenticator app,
// and the hub's signed assertion, checked by GitBook, brings her back.
func demoSignIn(ctx context.Context, w io.Writer, env *demo.Env, id string) (tourStep, error) {
	fmt.Fprintf(w, "7. Grace opens GitBook's documentation for the first time (a browser over HTTP). GitBook trusts the hub for\n")
	fmt.Fprintf(w, "   SAML (a saml-sp application, preset gitbook, registered from GitBook's metadata, open to %s).\n", demo.TwoFactorGroup)
	fmt.Fprintf(w, "   An operator gives her a temporary password (gatehouse users reset-password: shown once) and puts her in\n")
	fmt.Fprintf(w, "   the group %s, whose members need two factors (login.group_factors); she has none yet.\n", demo.TwoFactorGroup)
	r, sess, err := env.FirstSignIn(ctx, id, "Grace-Own-Pass-1906")
	if err != nil {
		return tourStep{}, err
	}
	fmt.Fprintf(w, "   GitBook sends her to the hub with a signed AuthnRequest (SP-initiated, HTTP-Redirect): the login page.\n")
	if r.ChangedPassword {
		fmt.Fprintf(w, "   her temporary password, then one of her own (the reset forced the change)\n")
	}
	if r.SetUp {
		fmt.Fprintf(w, "   right after her password, she sets up her authenticator app: the page shows a QR code (and the key\n")
		fmt.Fprintf(w, "   for typing in); the demo plays her phone with Gatehouse's TOTP generator (RFC 6238, as oathtool):\n")
		fmt.Fprintf(w, "   code %s confirms it, and is her second factor; %d recovery codes are shown once\n", r.Code, r.RecoveryCodes)
	}
	signedIn := "signed in at the hub: session AMR " + strings.Join(sess.AMR, " ") + ", ACR " + sess.ACR()
	a := r.Assertion
	reached := fmt.Sprintf("GitBook: documentation shown to %s (signed assertion %s accepted: audience, recipient, InResponseTo checked)",
		r.GitBookAs, a.AssertionID)
	fmt.Fprintf(w, "   +%s  %s\n", ms(r.SignedIn), signedIn)
	fmt.Fprintf(w, "   +%s  %s\n", ms(r.GitBook), reached)
	fmt.Fprintf(w, "          NameID %s; AuthnContextClassRef %s\n\n", a.NameID, a.AuthnContext)
	return tourStep{Action: "sign in with password and TOTP, reach GitBook through SAML", Effects: []tourEffect{
		{signedIn, msOf(r.SignedIn)}, {reached, msOf(r.GitBook)}}}, nil
}

// demoStartDate follows a hire whose account is created disabled and
// enabled on the start date, narrating on w.
func demoStartDate(ctx context.Context, w io.Writer, env *demo.Env) ([]tourStep, string, error) {
	h := demo.Hire{GivenName: "Grace", FamilyName: "Hopper", Email: "grace.hopper@example.com", Department: "Engineering", StartsLater: true}
	fmt.Fprintf(w, "4. HR creates %s %s, who starts next month, disabled (as Active Directory does: create disabled, enable on the start date).\n",
		h.GivenName, h.FamilyName)
	id, _, err := env.Create(ctx, h)
	if err != nil {
		return nil, "", err
	}
	if _, err := env.Settled(ctx, id, "User.Created"); err != nil {
		return nil, "", err
	}
	ram, err := env.RAMUser(ctx, h.Account())
	if err != nil {
		return nil, "", err
	}
	gb, err := env.GitBookUser(ctx, h.Email)
	if err != nil {
		return nil, "", err
	}
	_, mailed := env.Mail.For(h.Email)
	if ram != nil || gb != nil || mailed {
		return nil, "", fmt.Errorf("a disabled account was provisioned (RAM %v, GitBook %v, email %v)", ram != nil, gb != nil, mailed)
	}
	fmt.Fprintf(w, "   User.Created delivered: no RAM user, no GitBook account, no welcome email — the account is not active yet.\n\n")

	fmt.Fprintf(w, "5. Her start date: HR enables the account (PATCH active=true). User.Enabled is her first activation (detail.firstActivation).\n")
	start := time.Now()
	if err := env.Enable(ctx, id); err != nil {
		return nil, "", err
	}
	fx, err := env.WaitEffects(ctx, h, start)
	if err != nil {
		return nil, "", err
	}
	fmt.Fprintf(w, "   +%s  welcome email received by the SMTP server for %s\n", ms(fx.Email.Sub(start)), h.Email)
	fmt.Fprintf(w, "   +%s  RAM: account %s created\n", ms(fx.RAM.Sub(start)), h.Account())
	fmt.Fprintf(w, "   +%s  GitBook: account %s, active, in group %s\n\n", ms(fx.GitBook.Sub(start)), h.Email, h.ReadersGroup())
	return []tourStep{
		{Action: "create disabled", Effects: []tourEffect{}},
		{Action: "enable on the start date", Effects: []tourEffect{
			{"welcome email received", msOf(fx.Email.Sub(start))},
			{"RAM: account created", msOf(fx.RAM.Sub(start))},
			{"GitBook: account active, in " + h.ReadersGroup(), msOf(fx.GitBook.Sub(start))},
		}},
	}, id, nil
}

// demoMeasure sends n hires at rate per second and reports the latency
// from the account's creation at the hub to its three effects.
func (e *env) demoMeasure(ctx context.Context, w io.Writer, env *demo.Env, n int, rate float64, asJSON bool) error {
	fmt.Fprintf(w, "Sending %d new hires at %.0f/s…\n", n, rate)
	depts := []string{"Engineering", "Sales", "Tour Operations", "Finance", "Platform"}
	hires := make([]demo.Hire, n)
	created := make([]time.Time, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		hires[i] = demo.Hire{GivenName: "New", FamilyName: fmt.Sprintf("Hire %d", i), Email: fmt.Sprintf("hire%05d@example.com", i),
			Department: depts[i%len(depts)]}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, created[i], errs[i] = env.Create(ctx, hires[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	fxs, err := env.CollectEffects(ctx, hires, created)
	if err != nil {
		return err
	}
	var total, email, ram, gitbook []time.Duration
	for _, fx := range fxs {
		total = append(total, fx.Done().Sub(fx.Created))
		email = append(email, fx.Email.Sub(fx.Created))
		ram = append(ram, fx.RAM.Sub(fx.Created))
		gitbook = append(gitbook, fx.GitBook.Sub(fx.Created))
	}
	report := map[string]any{"hires": n, "rate": rate, "all_three_ms": quantilesMS(total), "email_ms": quantilesMS(email),
		"ram_ms": quantilesMS(ram), "gitbook_ms": quantilesMS(gitbook), "seconds": time.Since(start).Seconds()}
	if asJSON {
		return printJSON(e.stdout, report)
	}
	fmt.Fprintf(w, "\nFrom the account's creation at the hub to the effect, over %d new hires:\n\n", n)
	rows := [][]string{}
	for _, r := range []struct {
		name string
		q    map[string]float64
	}{{"welcome email received", quantilesMS(email)}, {"RAM account created", quantilesMS(ram)},
		{"GitBook account in its group", quantilesMS(gitbook)}, {"all three done", quantilesMS(total)}} {
		rows = append(rows, []string{r.name, fmt.Sprintf("%.1f", r.q["p50"]), fmt.Sprintf("%.1f", r.q["p99"]), fmt.Sprintf("%.1f", r.q["max"])})
	}
	return table(w, []string{"EFFECT", "P50 MS", "P99 MS", "MAX MS"}, rows)
}

func quantilesMS(ds []time.Duration) map[string]float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		if len(s) == 0 {
			return 0
		}
		i := min(len(s)-1, int(math.Ceil(p*float64(len(s))))-1)
		return math.Round(float64(s[max(i, 0)].Microseconds())/100) / 10
	}
	return map[string]float64{"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": q(1)}
}
