package console

// table is the console's route table: every page and form, each behind
// the administrator check (Mount), each walked by the route test in
// internal/app (console_test.go). Add a page here; the navigation shows
// the routes with a Nav key, in this order.
func (c *Console) table() []Route {
	return []Route{
		{Pattern: "GET /{$}", Nav: "nav.dashboard", Template: "dashboard", Handle: c.dashboard},
		{Pattern: "GET /users", Nav: "nav.users", Template: "users", Handle: c.usersPage},
		{Pattern: "GET /users/{id}", Template: "user", Handle: c.userPage},
		{Pattern: "GET /groups", Nav: "nav.groups", Template: "groups", Handle: c.groupsPage},
		{Pattern: "GET /groups/{id}", Template: "group", Handle: c.groupPage},
		{Pattern: "GET /orgs", Nav: "nav.orgs", Template: "orgs", Handle: c.orgsPage},
		{Pattern: "GET /charts", Nav: "nav.charts", Template: "charts", Handle: c.chartsPage},
		{Pattern: "GET /audit", Nav: "nav.audit", Template: "audit", Handle: c.auditPage},
		{Pattern: "POST /audit/verify", Template: "audit", Handle: c.auditVerify},
		{Pattern: "POST /logout", Handle: c.logoutPost},
	}
}
