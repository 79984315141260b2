package cli

import (
	"strconv"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/admin"
)

// Sign-in administration: gatehouse users login|reset-password|unlock|logout|
// revoke-grants USER, as the admin API's /users/{user}/… do.

func loginSubs() map[string]*sub {
	userArg := []arg{{"USER", "the user's userName or id"}}
	return map[string]*sub{
		"login": {about: "show a person's sign-in state: her sessions, failed logins, a forced password change", args: userArg,
			run: func(c *cmd) error {
				st, err := c.a.Admin.LoginState(c.e.ctx, c.pos[0])
				if err != nil {
					return err
				}
				return c.showLogin(st)
			}},
		"reset-password": {about: "give a person a temporary password (printed once) that her next login must replace; her sessions end", args: userArg,
			run: func(c *cmd) error {
				x, err := c.a.Admin.ResetPassword(c.e.ctx, cliActor(), c.pos[0])
				if err != nil {
					return err
				}
				return c.print(x, func() {
					c.printf("Temporary password for %s (shown once; it works until %s, and the next login must replace it):\n\n    %s\n\n",
						x.UserName, fmtTime(x.Expires), x.TemporaryPassword)
					c.printf("Her sessions have ended. Give it to her over a channel you trust.\n")
				})
			}},
		"unlock": {about: "end a person's login locks and the account-wide slow-down", args: userArg,
			run: func(c *cmd) error {
				st, err := c.a.Admin.Unlock(c.e.ctx, cliActor(), c.pos[0])
				if err != nil {
					return err
				}
				return c.print(st, func() { c.printf("Unlocked %s: every network and device may try again.\n", st.UserName) })
			}},
		"logout": {about: "sign a person out everywhere: end her sessions and revoke her applications' refresh tokens", args: userArg,
			run: func(c *cmd) error {
				x, err := c.a.Admin.EndSessions(c.e.ctx, cliActor(), c.pos[0])
				if err != nil {
					return err
				}
				return c.print(x, func() {
					c.printf("Ended %s; revoked %s.\n", plural(x.Ended, "session", "sessions"), plural(x.GrantsRevoked, "grant", "grants"))
				})
			}},
		"revoke-grants": {about: "revoke a person's single sign-on grants: her applications' refresh tokens stop working (her sessions stay)", args: userArg,
			run: func(c *cmd) error {
				x, err := c.a.Admin.RevokeGrants(c.e.ctx, cliActor(), c.pos[0])
				if err != nil {
					return err
				}
				return c.print(x, func() { c.printf("Revoked %s of %s.\n", plural(x.Revoked, "grant", "grants"), x.UserName) })
			}},
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func (c *cmd) showLogin(st *admin.LoginState) error {
	return c.print(st, func() {
		c.printf("User:            %s (%s)\n", st.UserName, st.UserID)
		if st.Directory != "" {
			c.printf("Password:        checked by %s (delegated authentication)\n", st.Directory)
		}
		c.printf("Failed logins:   %d since the last success", st.Failures)
		if st.SlowedUntil != nil {
			c.printf(" (untrusted clients wait until %s)", fmtTime(*st.SlowedUntil))
		}
		c.printf("\n")
		if len(st.Factors) == 0 {
			c.printf("Second factors:  none\n")
		} else {
			c.printf("Second factors:  %d, recovery codes left: %d\n", len(st.Factors), st.RecoveryCodesLeft)
		}
		if st.FactorLocked {
			c.printf("Second factor:   locked for browsers she has not used before (%d wrong); gatehouse users unlock\n", st.FactorFailures)
		}
		if st.MustChange {
			c.printf("Password reset:  the next login must set a new password")
			if st.TemporaryExpires != nil {
				c.printf(" (temporary password valid until %s)", fmtTime(*st.TemporaryExpires))
			}
			c.printf("\n")
		}
		if len(st.Factors) > 0 {
			c.printf("\nSecond factors:\n")
			var rows [][]string
			for _, f := range st.Factors {
				used := "never"
				if f.LastUsed != nil {
					used = fmtTime(*f.LastUsed)
				}
				rows = append(rows, []string{f.ID, f.Kind, f.Name, strings.Join(f.AMR, " "), fmtTime(f.Created), used})
			}
			_ = table(c.e.stdout, []string{"ID", "KIND", "NAME", "METHODS", "ADDED", "LAST USED"}, rows)
			c.printf("\n")
		}
		if len(st.Sessions) == 0 {
			c.printf("Sessions:        none\n")
			return
		}
		c.printf("\nSessions:\n")
		var rows [][]string
		for _, s := range st.Sessions {
			rows = append(rows, []string{s.ID, fmtTime(s.AuthTime), strings.Join(s.AMR, " "), fmtTime(s.LastSeen), fmtTime(s.Expires)})
		}
		_ = table(c.e.stdout, []string{"ID", "SIGNED IN", "METHODS", "LAST SEEN", "EXPIRES"}, rows)
	})
}
