package console

// table is the console's route table: every page and form, each behind
// the administrator check (Mount), each walked by the route test in
// internal/app (console_test.go). Add a page here; the navigation shows
// the routes with a Nav key, in this order.
func (c *Console) table() []Route {
	return []Route{
		{Pattern: "GET /{$}", Nav: "nav.dashboard", Template: "dashboard", Handle: c.dashboard},
		{Pattern: "POST /logout", Handle: c.logoutPost},
	}
}
