package mlps

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// functions returns the Terraform functions the loader evaluates. The pure
// ones come from cty's standard library under Terraform's names; those
// that read files, the clock, randomness or do network arithmetic
// (file, templatefile, timestamp, uuid, cidrsubnet…) give an unknown
// value: the check never reads files a configuration names, and what they
// compute is reported as not decidable.
func functions() map[string]function.Function {
	f := map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "chomp": stdlib.ChompFunc,
		"chunklist": stdlib.ChunklistFunc, "coalesce": stdlib.CoalesceFunc,
		"coalescelist": stdlib.CoalesceListFunc, "compact": stdlib.CompactFunc,
		"concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc,
		"csvdecode": stdlib.CSVDecodeFunc, "distinct": stdlib.DistinctFunc,
		"element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc,
		"floor": stdlib.FloorFunc, "format": stdlib.FormatFunc,
		"formatdate": stdlib.FormatDateFunc, "formatlist": stdlib.FormatListFunc,
		"indent": stdlib.IndentFunc, "index": stdlib.IndexFunc, "join": stdlib.JoinFunc,
		"jsondecode": stdlib.JSONDecodeFunc, "jsonencode": jsonEncodeFunc,
		"keys": stdlib.KeysFunc, "length": stdlib.LengthFunc, "log": stdlib.LogFunc,
		"lookup": stdlib.LookupFunc, "lower": stdlib.LowerFunc, "max": stdlib.MaxFunc,
		"merge": stdlib.MergeFunc, "min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc,
		"pow": stdlib.PowFunc, "range": stdlib.RangeFunc, "regex": stdlib.RegexFunc,
		"regexall": stdlib.RegexAllFunc, "replace": stdlib.ReplaceFunc,
		"reverse": stdlib.ReverseListFunc, "setintersection": stdlib.SetIntersectionFunc,
		"setproduct": stdlib.SetProductFunc, "setsubtract": stdlib.SetSubtractFunc,
		"setunion": stdlib.SetUnionFunc, "signum": stdlib.SignumFunc, "slice": stdlib.SliceFunc,
		"sort": stdlib.SortFunc, "split": stdlib.SplitFunc, "strrev": stdlib.ReverseFunc,
		"substr": stdlib.SubstrFunc, "timeadd": stdlib.TimeAddFunc, "title": stdlib.TitleFunc,
		"trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc,
		"trimspace": stdlib.TrimSpaceFunc, "trimsuffix": stdlib.TrimSuffixFunc,
		"upper": stdlib.UpperFunc, "values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		"tostring": stdlib.MakeToFunc(cty.String), "tonumber": stdlib.MakeToFunc(cty.Number),
		"tobool": stdlib.MakeToFunc(cty.Bool), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"toset": stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)), "tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"try": tryfunc.TryFunc, "can": tryfunc.CanFunc,
		"sensitive": identityFunc, "nonsensitive": identityFunc,
		"startswith": stringPredicate(strings.HasPrefix), "endswith": stringPredicate(strings.HasSuffix),
		"strcontains": stringPredicate(strings.Contains),
		"base64encode": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "str", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(args[0].AsString()))), nil
			},
		}),
	}
	for _, name := range []string{
		"abspath", "alltrue", "anytrue", "base64decode", "base64gzip", "base64sha256", "base64sha512",
		"basename", "bcrypt", "cidrhost", "cidrnetmask", "cidrsubnet", "cidrsubnets", "dirname",
		"file", "filebase64", "filebase64sha256", "filebase64sha512", "fileexists", "filemd5",
		"fileset", "filesha1", "filesha256", "filesha512", "issensitive", "md5", "one", "pathexpand",
		"plantimestamp", "rsadecrypt", "sha1", "sha256", "sha512", "sum", "templatefile",
		"templatestring", "textdecodebase64", "textencodebase64", "timecmp", "timestamp",
		"transpose", "type", "urlencode", "uuid", "uuidv5", "yamldecode", "yamlencode", "ephemeralasnull",
	} {
		f[name] = unknownFunc
	}
	return f
}

// unknownFunc stands for a function the check does not evaluate.
var unknownFunc = function.New(&function.Spec{
	VarParam: &function.Parameter{Name: "args", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowNull: true, AllowDynamicType: true},
	Type:     function.StaticReturnType(cty.DynamicPseudoType),
	Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
		return cty.DynamicVal, nil
	},
})

var identityFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowNull: true, AllowDynamicType: true, AllowMarked: true}},
	Type:   func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl:   func(args []cty.Value, _ cty.Type) (cty.Value, error) { return args[0], nil },
})

func stringPredicate(pred func(s, sub string) bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "sub", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(pred(args[0].AsString(), args[1].AsString())), nil
		},
	})
}

// partialJSON marks the unknown result of jsonencode over a value that is
// only partly known: the document with null where a value is not known
// (a bucket policy whose structure is written out, naming a bucket whose
// name is not known yet). Rules may decide from the structure what holds
// whatever the unknown parts are; they must not read it as the document.
type partialJSON string

// jsonEncodeFunc is Terraform's jsonencode; over a value that is not
// wholly known, its unknown result carries the partial document.
var jsonEncodeFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "val", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowDynamicType: true, AllowNull: true, AllowMarked: true}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, pvm := args[0].UnmarkDeepWithPaths()
		if v.IsWhollyKnown() {
			out, err := stdlib.JSONEncodeFunc.Call([]cty.Value{v})
			if err != nil {
				return cty.NilVal, err
			}
			return out.MarkWithPaths(topMarks(pvm)), nil
		}
		b, err := json.Marshal(partialGo(v))
		if err != nil {
			return cty.UnknownVal(cty.String).MarkWithPaths(topMarks(pvm)), nil
		}
		return cty.UnknownVal(cty.String).MarkWithPaths(topMarks(pvm)).Mark(partialJSON(b)), nil
	},
})

// topMarks moves every mark found anywhere in a value to the top.
func topMarks(pvm []cty.PathValueMarks) []cty.PathValueMarks {
	marks := cty.ValueMarks{}
	for _, p := range pvm {
		for m := range p.Marks {
			marks[m] = struct{}{}
		}
	}
	if len(marks) == 0 {
		return nil
	}
	return []cty.PathValueMarks{{Path: nil, Marks: marks}}
}

// partialGo converts v to plain Go values for encoding/json, with nil where
// v is not known.
func partialGo(v cty.Value) any {
	if !v.IsKnown() || v.IsNull() {
		return nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString()
	case t == cty.Bool:
		return v.True()
	case t == cty.Number:
		f, _ := v.AsBigFloat().Float64()
		if bf := v.AsBigFloat(); bf.IsInt() {
			i, _ := bf.Int(new(big.Int))
			return json.Number(i.String())
		}
		return f
	case t.IsObjectType() || t.IsMapType():
		m := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			m[k.AsString()] = partialGo(e)
		}
		return m
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		l := []any{}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			l = append(l, partialGo(e))
		}
		return l
	}
	return nil
}
