package console

import (
	"io/fs"
	"regexp"
	"slices"
	"testing"
)

// TestConsoleStrings: every message has both languages, and every key a
// template names exists.
func TestConsoleStrings(t *testing.T) {
	for k := range english {
		if chinese[k] == "" {
			t.Errorf("%q has no Chinese", k)
		}
	}
	for k := range chinese {
		if english[k] == "" {
			t.Errorf("%q has no English", k)
		}
	}
	site := []string{"brand", "error.title"} // the sign-in pages' own
	keyRE := regexp.MustCompile(`\.L\.[TF] "([a-z0-9.-]+)"`)
	err := fs.WalkDir(assets, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets, path)
		if err != nil {
			return err
		}
		for _, m := range keyRE.FindAllStringSubmatch(string(b), -1) {
			if english[m[1]] == "" && !slices.Contains(site, m[1]) {
				t.Errorf("%s: unknown message %q", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
