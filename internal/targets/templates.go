package targets

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
)

// Email templates.
//
// A template set is a directory of files named
//
//	<template>.<locale>.subject.txt   the subject (text/template), required
//	<template>.<locale>.txt           the plain-text part (text/template)
//	<template>.<locale>.html          the HTML part (html/template: values are escaped for their context)
//
// with <template> made of a–z, 0–9, "_" and "-", and <locale> a lower-case
// language tag such as "en", "zh" or "zh-tw". Each (template, locale) needs
// a subject and at least one of the two parts. Files with other extensions
// (a README, say) are ignored.
//
// The operator's directory is laid over the built-in defaults file by file:
// a welcome_new_hire.en.subject.txt in the directory replaces only the
// subject of the built-in English welcome_new_hire.
//
// Templates see the variables as a map: the top-level fields of the event's
// "detail" (userName, email, displayName, department, organization, …),
// greetingName, fullName and company (see templateVars), overlaid by the
// payload's "variables". A missing variable (or a JSON
// null) prints as nothing in every part — subject, text and HTML alike —
// and is false in if/with/or, so {{or .displayName .userName}} and
// {{with .department}}…{{end}} choose what to print when a field may be
// absent. (text/template alone would print "<no value>" in the subject and
// the text part; parseText makes it print nothing, as html/template does.)

//go:embed templates/*
var defaultTemplateFS embed.FS

// Templates is a parsed, immutable set of email templates.
type Templates struct {
	byName map[string]map[string]*emailTemplate // template → locale → parts
}

type emailTemplate struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// Rendered is a rendered email.
type Rendered struct {
	Template, Locale string
	Subject          string
	Text, HTML       string // either may be empty, not both
}

// ErrTemplateNotFound is returned for an unknown template name.
var ErrTemplateNotFound = errors.New("email template not found")

var (
	templateNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	localeRE       = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{2,8})*$`)
)

// DefaultTemplates returns the built-in templates: welcome_new_hire in "en"
// and "zh" (Simplified Chinese).
func DefaultTemplates() *Templates {
	t, err := parseTemplates(defaultSources())
	if err != nil {
		panic("targets: built-in email templates: " + err.Error()) // covered by tests
	}
	return t
}

func defaultSources() map[string]string {
	src := map[string]string{}
	entries, _ := fs.ReadDir(defaultTemplateFS, "templates")
	for _, e := range entries {
		b, _ := fs.ReadFile(defaultTemplateFS, "templates/"+e.Name())
		src[e.Name()] = string(b)
	}
	return src
}

// LoadTemplates reads the operator's template directory over the built-in
// defaults. It reports every problem at once.
func LoadTemplates(dir string) (*Templates, error) {
	src := defaultSources()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("email templates: %w", err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".txt") || strings.HasSuffix(name, ".html")) {
			continue
		}
		if _, _, _, err := splitTemplateFile(name); err != nil {
			errs = append(errs, err)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, fmt.Errorf("email templates: %w", err))
			continue
		}
		src[name] = string(b)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return parseTemplates(src)
}

// splitTemplateFile splits "welcome.en.subject.txt" into its template,
// locale and part ("subject", "txt" or "html").
func splitTemplateFile(file string) (name, locale, part string, err error) {
	base := file
	switch {
	case strings.HasSuffix(base, ".subject.txt"):
		base, part = strings.TrimSuffix(base, ".subject.txt"), "subject"
	case strings.HasSuffix(base, ".html"):
		base, part = strings.TrimSuffix(base, ".html"), "html"
	case strings.HasSuffix(base, ".txt"):
		base, part = strings.TrimSuffix(base, ".txt"), "txt"
	}
	name, locale, ok := strings.Cut(base, ".")
	if part == "" || !ok || !templateNameRE.MatchString(name) || !localeRE.MatchString(locale) {
		return "", "", "", fmt.Errorf("email template file %q: want <template>.<locale>.subject.txt, .txt or .html (lower case)", file)
	}
	return name, locale, part, nil
}

func parseTemplates(src map[string]string) (*Templates, error) {
	t := &Templates{byName: map[string]map[string]*emailTemplate{}}
	var errs []error
	files := make([]string, 0, len(src))
	for f := range src {
		files = append(files, f)
	}
	slices.Sort(files)
	for _, f := range files {
		name, locale, part, err := splitTemplateFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if t.byName[name] == nil {
			t.byName[name] = map[string]*emailTemplate{}
		}
		et := t.byName[name][locale]
		if et == nil {
			et = &emailTemplate{}
			t.byName[name][locale] = et
		}
		switch part {
		case "subject":
			et.subject, err = parseText(f, src[f])
		case "txt":
			et.text, err = parseText(f, src[f])
		case "html":
			et.html, err = htmltemplate.New(f).Option("missingkey=default").Parse(src[f])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("email template %s: %w", f, err))
		}
	}
	for name, locales := range t.byName {
		for locale, et := range locales {
			if et.subject == nil {
				errs = append(errs, fmt.Errorf("email template %s.%s: no subject (%s.%s.subject.txt)", name, locale, name, locale))
			}
			if et.text == nil && et.html == nil {
				errs = append(errs, fmt.Errorf("email template %s.%s: neither a .txt nor an .html part", name, locale))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// missingFunc is the function appended to every printing action of the text
// templates: it turns a missing value into "" (html/template already prints
// nothing for it).
const missingFunc = "gatehouseMissingIsEmpty"

func missingIsEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// parseText parses a subject or text part so that a missing variable
// prints as "", as in the HTML part.
func parseText(name, src string) (*texttemplate.Template, error) {
	t, err := texttemplate.New(name).Option("missingkey=default").
		Funcs(texttemplate.FuncMap{missingFunc: missingIsEmpty}).Parse(src)
	if err != nil {
		return nil, err
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			emptyForMissing(tt.Tree, tt.Tree.Root)
		}
	}
	return t, nil
}

// emptyForMissing appends missingFunc to the pipeline of every action that
// prints (not to {{$x := …}}, which only assigns).
func emptyForMissing(tree *parse.Tree, n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			emptyForMissing(tree, c)
		}
	case *parse.ActionNode:
		if len(n.Pipe.Decl) == 0 {
			n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{
				NodeType: parse.NodeCommand, Pos: n.Pos,
				Args: []parse.Node{parse.NewIdentifier(missingFunc).SetTree(tree).SetPos(n.Pos)},
			})
		}
	case *parse.IfNode:
		emptyForMissing(tree, n.List)
		emptyForMissing(tree, n.ElseList)
	case *parse.RangeNode:
		emptyForMissing(tree, n.List)
		emptyForMissing(tree, n.ElseList)
	case *parse.WithNode:
		emptyForMissing(tree, n.List)
		emptyForMissing(tree, n.ElseList)
	}
}

// Locales lists the locales of a template, sorted.
func (t *Templates) Locales(name string) []string {
	var out []string
	for l := range t.byName[name] {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// Render renders template name in the first locale of prefs that it has
// (trying "zh-cn" then "zh" for "zh-CN" or "zh_CN"), else in "en", else in
// its first locale. An unknown template is ErrTemplateNotFound.
func (t *Templates) Render(name string, prefs []string, vars map[string]any) (*Rendered, error) {
	locales := t.byName[name]
	if len(locales) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrTemplateNotFound, name)
	}
	locale := ""
	for _, p := range append(slices.Clone(prefs), "en") {
		for _, c := range localeCandidates(p) {
			if locales[c] != nil {
				locale = c
				break
			}
		}
		if locale != "" {
			break
		}
	}
	if locale == "" {
		locale = t.Locales(name)[0]
	}
	et := locales[locale]
	r := &Rendered{Template: name, Locale: locale}
	var buf bytes.Buffer
	if err := et.subject.Execute(&buf, vars); err != nil {
		return nil, fmt.Errorf("email template %s.%s subject: %w", name, locale, err)
	}
	r.Subject = cleanSubject(buf.String())
	if et.text != nil {
		buf.Reset()
		if err := et.text.Execute(&buf, vars); err != nil {
			return nil, fmt.Errorf("email template %s.%s text: %w", name, locale, err)
		}
		r.Text = buf.String()
	}
	if et.html != nil {
		buf.Reset()
		if err := et.html.Execute(&buf, vars); err != nil {
			return nil, fmt.Errorf("email template %s.%s html: %w", name, locale, err)
		}
		r.HTML = buf.String()
	}
	if r.Subject == "" {
		return nil, fmt.Errorf("email template %s.%s: the subject is empty", name, locale)
	}
	return r, nil
}

// localeCandidates turns "zh_Hans-CN" into "zh-hans-cn", "zh-hans", "zh".
func localeCandidates(tag string) []string {
	tag = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(tag), "_", "-"))
	if tag == "" {
		return nil
	}
	var out []string
	for {
		out = append(out, tag)
		i := strings.LastIndexByte(tag, '-')
		if i < 0 {
			return out
		}
		tag = tag[:i]
	}
}

// cleanSubject makes a subject one line: no CR, LF or other control
// characters (a header must not be split), spaces collapsed.
func cleanSubject(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
