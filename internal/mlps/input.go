package mlps

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// What the check reads comes from whoever opened the pull request: files
// are read only when they are regular files, up to a size, and their
// nesting is bounded before a recursive parser sees them.
const (
	// maxSourceBytes bounds one .tf, .tf.json or .tfvars file; maxStackSourceBytes
	// all of those one PATH reads (its modules included).
	maxSourceBytes      = 16 << 20
	maxStackSourceBytes = 128 << 20
	// maxNesting bounds how deeply brackets, blocks, templates and
	// operators nest in HCL, and arrays and objects in JSON.
	maxNesting = 500
	// maxNumberExponent bounds the decimal exponent of a number literal.
	maxNumberExponent = 1000
)

// ReadInput reads a file named on the command line (a plan): only a
// regular file, never a FIFO or a device, up to maxPlanBytes.
func ReadInput(name string) ([]byte, error) {
	return readRegular(name, maxPlanBytes)
}

// readRegular reads name if it is a regular file. It opens without
// blocking (a FIFO would otherwise wait for a writer), checks the file it
// opened, and reads at most limit bytes.
func readRegular(name string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, &ParseError{Pos: Pos{File: name, Line: 1}, Msg: fmt.Sprintf("not a regular file (%s): not read", fileKind(info.Mode()))}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &ParseError{Pos: Pos{File: name, Line: 1}, Msg: fmt.Sprintf("larger than %d bytes: not read", limit)}
	}
	return data, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// within reports whether path is dir or inside it (both absolute and
// without symbolic links).
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// resolve returns the absolute path of name with its symbolic links
// followed.
func resolve(name string) (string, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// sourceFile decides whether an entry of a module directory is read: a
// directory is skipped (as Terraform does), a symbolic link is followed
// only when it stays inside the checked directory (or the module's own
// directory), and only a regular file is read.
func (l *loader) sourceFile(dir, resolvedDir string, e fs.DirEntry) (read bool, err error) {
	name := filepath.Join(dir, e.Name())
	if e.IsDir() {
		l.stack.Notes = append(l.stack.Notes, Note{Pos: Pos{File: name, Line: 1}, Message: "a directory named like a .tf file: skipped"})
		return false, nil
	}
	if e.Type()&fs.ModeSymlink == 0 {
		return true, nil
	}
	target, err := filepath.EvalSymlinks(name)
	if err != nil {
		return false, &ParseError{Pos: Pos{File: name, Line: 1}, Msg: "a symbolic link that leads nowhere: not read"}
	}
	if target, err = filepath.Abs(target); err != nil {
		return false, err
	}
	if !within(target, l.root) && !within(target, resolvedDir) {
		return false, &ParseError{Pos: Pos{File: name, Line: 1},
			Msg: fmt.Sprintf("a symbolic link to %s, outside the checked directory: not followed", target)}
	}
	info, err := os.Stat(target)
	if err != nil {
		return false, err
	}
	if info.IsDir() {
		l.stack.Notes = append(l.stack.Notes, Note{Pos: Pos{File: name, Line: 1}, Message: "a link to a directory named like a .tf file: skipped"})
		return false, nil
	}
	return true, nil
}

// readSource reads one .tf, .tf.json or .tfvars file within the stack's budget.
func (l *loader) readSource(name string) ([]byte, error) {
	src, err := readRegular(name, maxSourceBytes)
	if err != nil {
		return nil, err
	}
	if l.sourceBytes += int64(len(src)); l.sourceBytes > maxStackSourceBytes {
		return nil, &ParseError{Pos: Pos{File: name, Line: 1}, Msg: fmt.Sprintf("the .tf, .tf.json and .tfvars files of this PATH exceed %d bytes", maxStackSourceBytes)}
	}
	return src, nil
}

// parseHCL parses HCL source after checking, on its tokens (the lexer is
// not recursive, the parser is), that it nests at most maxNesting deep and
// that its number literals are of a sane size. Then it wraps the
// expressions that build values in the evaluation budget's guards.
func (l *loader) parseHCL(src []byte, name string) (*hcl.File, error) {
	if err := checkHCLNesting(src, name); err != nil {
		return nil, err
	}
	f, diags := l.parser.ParseHCL(src, name)
	if err := diagError(diags); err != nil {
		return nil, err
	}
	if body, ok := f.Body.(*hclsyntax.Body); ok {
		l.guardBody(body)
	}
	return f, nil
}

// checkHCLNesting estimates how deeply the parser will recurse: one level
// per open bracket, block, quote, interpolation and template directive, and
// one per operator in the same element (a + b + c nests as (a + b) + c).
func checkHCLNesting(src []byte, name string) error {
	toks, _ := hclsyntax.LexConfig(src, name, hcl.InitialPos)
	return checkTokenNesting(toks, name)
}

// checkTokenNesting is checkHCLNesting on tokens already lexed (a template
// in a .tf.json string is lexed as a template).
func checkTokenNesting(toks hclsyntax.Tokens, name string) error {
	type frame struct {
		base, ops int
		brace     bool // newlines separate items
	}
	stack := []frame{{brace: true}}
	directives := 0
	tooDeep := func(t hclsyntax.Token) error {
		return &ParseError{Pos: Pos{File: name, Line: t.Range.Start.Line, Col: t.Range.Start.Column},
			Msg: fmt.Sprintf("nested more than %d deep (brackets, blocks, templates and operators): not parsed", maxNesting)}
	}
	for i, t := range toks {
		top := &stack[len(stack)-1]
		switch t.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenOQuote,
			hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			// The interpolations of a template are its parts, side by
			// side: only directives nest (if and for, counted apart).
			if t.Type != hclsyntax.TokenTemplateInterp && t.Type != hclsyntax.TokenTemplateControl {
				top.ops++
			}
			if t.Type == hclsyntax.TokenTemplateControl && i+1 < len(toks) {
				switch kw := string(toks[i+1].Bytes); kw {
				case "if", "for":
					directives++
				case "endif", "endfor":
					directives--
				}
			}
			stack = append(stack, frame{base: top.base + top.ops + max(directives, 0), brace: t.Type == hclsyntax.TokenOBrace})
			if stack[len(stack)-1].base > maxNesting {
				return tooDeep(t)
			}
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenCQuote,
			hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
		case hclsyntax.TokenComma:
			top.ops = 0
		case hclsyntax.TokenNewline:
			if top.brace {
				top.ops = 0
			}
		case hclsyntax.TokenPlus, hclsyntax.TokenMinus, hclsyntax.TokenStar, hclsyntax.TokenSlash,
			hclsyntax.TokenPercent, hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual, hclsyntax.TokenLessThan,
			hclsyntax.TokenLessThanEq, hclsyntax.TokenGreaterThan, hclsyntax.TokenGreaterThanEq,
			hclsyntax.TokenAnd, hclsyntax.TokenOr, hclsyntax.TokenBang, hclsyntax.TokenQuestion, hclsyntax.TokenEllipsis:
			if top.ops++; top.base+top.ops > maxNesting {
				return tooDeep(t)
			}
		case hclsyntax.TokenNumberLit:
			if !saneNumber(string(t.Bytes)) {
				return &ParseError{Pos: Pos{File: name, Line: t.Range.Start.Line, Col: t.Range.Start.Column},
					Msg: fmt.Sprintf("a number literal of more than %d digits or with an exponent beyond ±%d: not evaluated", maxNumberExponent, maxNumberExponent)}
			}
		}
	}
	return nil
}

// saneNumber reports whether a number literal has at most
// maxNumberExponent digits and an exponent within ±maxNumberExponent.
func saneNumber(s string) bool {
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	if len(mant) > maxNumberExponent {
		return false
	}
	if !hasExp {
		return true
	}
	exp = strings.TrimLeft(exp, "+-")
	if len(exp) > 6 {
		return false
	}
	n, err := strconv.Atoi(exp)
	return err == nil && n <= maxNumberExponent
}

// checkJSONNesting returns the offset at which arrays and objects nest
// deeper than maxNesting, or -1. Strings are skipped; the JSON need not be
// valid (the decoder reports what is wrong with it).
func checkJSONNesting(data []byte) int64 {
	depth := 0
	inStr := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inStr:
			if c == '\\' {
				i++
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '[' || c == '{':
			if depth++; depth > maxNesting {
				return int64(i)
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return -1
}
