package console

// dashboardView is the dashboard's data.
type dashboardView struct{}

// dashboard is the console's first page.
func (c *Console) dashboard(q *Request) error {
	return q.Render("dashboard.title", dashboardView{})
}
