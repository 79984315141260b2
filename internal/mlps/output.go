package mlps

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report as a table a person reads: findings, then
// notes, then the counts.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	n := 0
	for _, f := range r.Findings {
		if f.Status == StatusNote {
			continue
		}
		if n == 0 {
			fmt.Fprintln(tw, "STATUS\tRULE\tWHERE\tRESOURCE\tMESSAGE")
		}
		n++
		status := strings.ToUpper(string(f.Status))
		msg := f.Message
		if f.Suppressed != nil {
			status = "SUPPRESSED"
			msg += " [reason: " + f.Suppressed.Reason + "]"
		}
		res := f.Resource
		if res == "" {
			res = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", status, f.Rule, f.Pos, res, msg)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var notes []string
	for _, f := range r.Findings {
		if f.Status == StatusNote {
			notes = append(notes, f.Pos.String()+": "+f.Message)
		}
	}
	for _, nt := range r.Notes {
		notes = append(notes, nt.Pos.String()+": "+nt.Message)
	}
	if len(notes) > 0 {
		if n > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, "Notes:")
		for _, s := range notes {
			fmt.Fprintln(w, "  "+s)
		}
	}
	if n > 0 || len(notes) > 0 {
		fmt.Fprintln(w)
	}
	s := r.Summary
	_, err := fmt.Fprintf(w, "%d resources in %d %s: %d checks, %d passed, %d failed, %d unknown, %d suppressed; %d resources outside the embedded schema subset (%s).\n",
		s.Resources, s.Stacks, plural(s.Stacks, "stack", "stacks"), s.Checks, s.Passed, s.Failed, s.Unknown, s.Suppressed, s.Outside, SchemaVersion)
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// WriteJSON writes the report as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteRules lists the rules as a table.
func WriteRules(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSOURCE\tSEVERITY\tCLAUSES\tTITLE")
	for _, r := range Rules() {
		src := "Alibaba Cloud Config managed rule"
		if r.Source != "config" {
			src = "Gatehouse"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, src, r.Severity, strings.Join(r.Clauses, ", "), r.Title)
	}
	return tw.Flush()
}

// WriteRulesJSON lists the rules as JSON, with the clauses' text.
func WriteRulesJSON(w io.Writer) error {
	type rule struct {
		*Rule
		ClauseText []string `json:"clauseText"`
	}
	var out []rule
	for _, r := range Rules() {
		x := rule{Rule: r}
		for _, c := range r.Clauses {
			x.ClauseText = append(x.ClauseText, Clauses[c])
		}
		out = append(out, x)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// artifactURI returns a file's URI for SARIF: relative to %SRCROOT% (the
// working directory, cwd) when the file is under it, else an absolute file
// URI; each percent-encoded as RFC 3986 wants (spaces, non-ASCII, #, ?,
// %).
func artifactURI(name, cwd string) (uri, base string) {
	abs := name
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(cwd, name)
	}
	if cwd != "" && within(abs, cwd) {
		rel, _ := filepath.Rel(cwd, abs)
		// url.URL writes a relative path whose first segment holds a
		// colon with ./ before it, so that it is not read as a scheme.
		return (&url.URL{Path: filepath.ToSlash(rel)}).String(), "%SRCROOT%"
	}
	return fileURI(abs), ""
}

// fileURI is the file URI of an absolute path (file:///C:/… on Windows).
func fileURI(abs string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
}
