package config

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The configuration file is checked against the shape of Config before it
// is decoded, so that every problem is reported at once and named by the
// key as written in the file ("line 4: scim.max_page_size: want a whole
// number"), never by a Go type. A value of the wrong shape is left out of
// the decoding (its setting keeps its default) so that what follows is
// still decoded and validated. Messages never repeat a value.

// shapeCheck checks a parsed file.
type shapeCheck struct {
	problems []string
	// lines maps each key of the file ("scim.max_page_size",
	// "ldap[0].name") to its line.
	lines map[string]int
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// check reports whether n can be decoded into a t at path; what cannot is
// reported, and removed from n (mapping pairs, list items) so that the
// rest decodes.
func (c *shapeCheck) check(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return true // an empty value is the zero value
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			c.add(n.Line, path, "%s", unmarshalMessage(err))
			return false
		}
		return true
	}
	switch t.Kind() {
	case reflect.Pointer:
		return c.check(n, t.Elem(), path)
	case reflect.Interface:
		return true
	case reflect.Struct:
		keys := yamlKeys(t)
		if n.Kind != yaml.MappingNode {
			c.add(n.Line, path, "want a mapping (of %s), not %s", strings.Join(keys, ", "), kindName(n))
			return false
		}
		c.pairs(n, path, func(k, v *yaml.Node, kp string) bool {
			f, ok := yamlField(t, k.Value)
			if !ok {
				where := "the file"
				if path != "" {
					where = path
				}
				c.add(k.Line, kp, "unknown key%s; %s takes %s", suggest(k.Value, keys), where, strings.Join(keys, ", "))
				return false
			}
			return c.check(v, f.Type, kp)
		})
		return true
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.add(n.Line, path, "want a mapping, not %s", kindName(n))
			return false
		}
		c.pairs(n, path, func(_, v *yaml.Node, kp string) bool { return c.check(v, t.Elem(), kp) })
		return true
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.add(n.Line, path, "want a list, not %s", kindName(n))
			return false
		}
		kept := n.Content[:0:0]
		for i, e := range n.Content {
			ip := path + "[" + strconv.Itoa(i) + "]"
			c.lines[ip] = e.Line
			if c.check(e, t.Elem(), ip) {
				kept = append(kept, e)
			}
		}
		n.Content = kept
		return true
	}
	if n.Kind != yaml.ScalarNode {
		c.add(n.Line, path, "want %s, not %s", scalarWant(t), kindName(n))
		return false
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		c.add(n.Line, path, "want %s", scalarWant(t))
		return false
	}
	return true
}

// pairs calls fn for each key of mapping n, reporting keys given twice and
// dropping the pairs fn refuses.
func (c *shapeCheck) pairs(n *yaml.Node, path string, fn func(k, v *yaml.Node, kp string) bool) {
	seen := map[string]int{}
	kept := n.Content[:0:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" {
			kept = append(kept, k, v) // decoded as YAML merges it
			continue
		}
		kp := k.Value
		if path != "" {
			kp = path + "." + k.Value
		}
		if first, dup := seen[k.Value]; dup {
			c.add(k.Line, kp, "given twice (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		c.lines[kp] = k.Line
		if fn(k, v, kp) {
			kept = append(kept, k, v)
		}
	}
	n.Content = kept
}

func (c *shapeCheck) add(line int, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	if line > 0 {
		msg = fmt.Sprintf("line %d: %s", line, msg)
	}
	c.problems = append(c.problems, msg)
}

var lineRE = regexp.MustCompile(`^(yaml: )?line \d+: `)

// unmarshalMessage is a setting's own unmarshaler's complaint, without the
// line it may name (the problem names it).
func unmarshalMessage(err error) string {
	if te, ok := err.(*yaml.TypeError); ok && len(te.Errors) > 0 {
		return lineRE.ReplaceAllString(te.Errors[0], "")
	}
	return lineRE.ReplaceAllString(err.Error(), "")
}

// yamlKeys lists the keys a struct takes, in its order.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		if k, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return keys
}

func yamlField(t reflect.Type, key string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if k, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); k == key && k != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a single value"
}

func scalarWant(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.Kind().String()
}

// suggest is ` (did you mean "x"?)` for the known key closest to k, when
// one is close.
func suggest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(strings.ToLower(k), c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var keyRE = regexp.MustCompile(`^[a-z0-9_]+(\[[0-9]+\])?(\.[a-z0-9_]+(\[[0-9]+\])?)*$`)

// locate says where a validation problem ("scim.max_page_size: …",
// "ldap[1]: name: …") comes from: "line N: " when the setting is written in
// the file, or the environment variable or flag that set it.
func locate(problem string, lines map[string]int, from map[string]string) string {
	// The key: the longest run of leading "key: " segments.
	var segs []string
	rest := problem
	for {
		seg, after, ok := strings.Cut(rest, ": ")
		if !ok || !keyRE.MatchString(seg) {
			break
		}
		segs = append(segs, seg)
		rest = after
	}
	for n := len(segs); n > 0; n-- {
		key := strings.Join(segs[:n], ".")
		if src, ok := from[key]; ok {
			return strings.Replace(problem, segs[0], segs[0]+" (set by "+src+")", 1)
		}
		if l, ok := lines[key]; ok {
			return fmt.Sprintf("line %d: %s", l, problem)
		}
	}
	return problem
}

// sortedProblems orders problems by line (those without one last, in
// their order).
func sortedProblems(ps []string) []string {
	line := func(s string) int {
		if rest, ok := strings.CutPrefix(s, "line "); ok {
			if n, err := strconv.Atoi(rest[:strings.IndexByte(rest+":", ':')]); err == nil {
				return n
			}
		}
		return int(^uint(0) >> 1)
	}
	sort.SliceStable(ps, func(i, j int) bool { return line(ps[i]) < line(ps[j]) })
	return ps
}
