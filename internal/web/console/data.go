package console

// Data are the read-only sources the pages show besides admin.Ops (which
// every page reaches through Options.Ops). Each field may be nil: a page
// whose source is missing says so instead of failing.
type Data struct{}
