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
		{Pattern: "GET /apps", Nav: "nav.apps", Template: "apps", Handle: c.appsPage},
		{Pattern: "POST /apps", Template: "apps", Handle: c.createApp},
		{Pattern: "GET /apps/{app}", Template: "app", Handle: c.appPage},
		{Pattern: "POST /apps/{app}/enable", Handle: c.setApp(true)},
		{Pattern: "POST /apps/{app}/disable", Handle: c.setApp(false)},
		{Pattern: "POST /apps/{app}/tokens", Template: "app", Handle: c.newCredential("token", false)},
		{Pattern: "POST /apps/{app}/tokens/{id}/rotate", Template: "app", Handle: c.newCredential("token", true)},
		{Pattern: "POST /apps/{app}/tokens/{id}/enable", Handle: c.setCredential("token", true)},
		{Pattern: "POST /apps/{app}/tokens/{id}/disable", Handle: c.setCredential("token", false)},
		{Pattern: "POST /apps/{app}/secrets", Template: "app", Handle: c.newCredential("secret", false)},
		{Pattern: "POST /apps/{app}/secrets/{id}/rotate", Template: "app", Handle: c.newCredential("secret", true)},
		{Pattern: "POST /apps/{app}/secrets/{id}/enable", Handle: c.setCredential("secret", true)},
		{Pattern: "POST /apps/{app}/secrets/{id}/disable", Handle: c.setCredential("secret", false)},
		{Pattern: "GET /rules", Nav: "nav.rules", Template: "rules", Handle: c.rulesPage},
		{Pattern: "GET /rules/new", Template: "rule", Handle: c.newRulePage},
		{Pattern: "GET /rules/{name}", Template: "rule", Handle: c.rulePage},
		{Pattern: "POST /rules", Template: "rule", Handle: c.saveRule},
		{Pattern: "POST /rules/test", Template: "rule", Handle: c.testRule},
		{Pattern: "GET /targets", Nav: "nav.targets", Template: "targets", Handle: c.targetsPage},
		{Pattern: "GET /deliveries", Nav: "nav.deliveries", Template: "deliveries", Handle: c.deliveries(false)},
		{Pattern: "GET /deliveries/{id}", Template: "delivery", Handle: c.deliveryPage},
		{Pattern: "POST /deliveries/{id}/replay", Handle: c.replayOne},
		{Pattern: "GET /dead", Nav: "nav.dead", Template: "deliveries", Handle: c.deliveries(true)},
		{Pattern: "POST /dead/replay", Template: "deliveries", Handle: c.replayDead},
		{Pattern: "GET /provisioning", Nav: "nav.provisioning", Template: "provisioning", Handle: c.provisioningPage},
		{Pattern: "POST /provisioning/{target}/plan", Template: "provisioning", Handle: c.pushPlan},
		{Pattern: "GET /settings", Nav: "nav.settings", Template: "settings", Handle: c.settingsPage},
		{Pattern: "POST /logout", Handle: c.logoutPost},
	}
}
