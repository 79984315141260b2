package cli

// Second factors: gatehouse users reset-factors USER (and `users login`
// lists them), as the admin API's DELETE /users/{user}/factors.

func factorSubs() map[string]*sub {
	return map[string]*sub{
		"reset-factors": {about: "remove a person's second factors and recovery codes (a lost phone or key) and end her sessions",
			args: []arg{{"USER", "the user's userName or id"}},
			run: func(c *cmd) error {
				x, err := c.a.Admin.ResetFactors(c.e.ctx, cliActor(), c.pos[0])
				if err != nil {
					return err
				}
				return c.print(x, func() {
					c.printf("Removed %s of %s, and her recovery codes; ended %s.\n", plural(x.Removed, "second factor", "second factors"),
						x.UserName, plural(x.SessionsEnded, "session", "sessions"))
					c.printf("If the policy asks two factors of her, her next login leads her to set one up, right after her password.\n")
				})
			}},
	}
}
