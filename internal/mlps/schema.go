package mlps

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// The provider schema the unknown-type and unknown-attribute checks use:
// a subset of the aliyun/alicloud provider 1.275.0, in the format of
// `terraform providers schema -json` (only its resource_schemas and
// data_source_schemas). It is public data: the output of that command for
// the published provider, cut down to the resources a Gatehouse stack
// uses. The file is a copy of shared/data/alicloud-provider-schema-v1.275.0-subset.json.
//
//go:embed schemadata/alicloud-provider-schema-v1.275.0-subset.json
var embeddedSchema []byte

// SchemaVersion names the provider version of the embedded schema.
const SchemaVersion = "aliyun/alicloud 1.275.0 (subset)"

// Schema is a provider's resource and data source schemas.
type Schema struct {
	Resources   map[string]*SchemaBlock `json:"resource_schemas"`
	DataSources map[string]*SchemaBlock `json:"data_source_schemas"`
}

// SchemaBlock is one block of a schema: its attributes and nested blocks.
type SchemaBlock struct {
	Attributes map[string]*SchemaAttribute `json:"attributes"`
	BlockTypes map[string]*SchemaNested    `json:"block_types"`
}

// SchemaAttribute is one attribute of a block.
type SchemaAttribute struct {
	Type       json.RawMessage `json:"type"`
	Required   bool            `json:"required"`
	Optional   bool            `json:"optional"`
	Computed   bool            `json:"computed"`
	Deprecated bool            `json:"deprecated"`
	Sensitive  bool            `json:"sensitive"`
}

// SchemaNested is a nested block type.
type SchemaNested struct {
	NestingMode string       `json:"nesting_mode"`
	Block       *SchemaBlock `json:"block"`
	MinItems    int          `json:"min_items"`
	MaxItems    int          `json:"max_items"`
}

// LoadSchema parses the embedded provider schema.
func LoadSchema() (*Schema, error) { return ParseSchema(embeddedSchema) }

// ParseSchema parses a schema in the format of `terraform providers schema
// -json`: either the whole document (provider_schemas keyed by provider
// source) or one provider's object with resource_schemas and
// data_source_schemas.
func ParseSchema(data []byte) (*Schema, error) {
	var raw struct {
		Resources   map[string]struct{ Block *SchemaBlock } `json:"resource_schemas"`
		DataSources map[string]struct{ Block *SchemaBlock } `json:"data_source_schemas"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("provider schema: %w", err)
	}
	s := &Schema{Resources: map[string]*SchemaBlock{}, DataSources: map[string]*SchemaBlock{}}
	for k, v := range raw.Resources {
		if v.Block != nil {
			s.Resources[k] = v.Block
		}
	}
	for k, v := range raw.DataSources {
		if v.Block != nil {
			s.DataSources[k] = v.Block
		}
	}
	if len(s.Resources) == 0 {
		return nil, fmt.Errorf("provider schema: no resource_schemas")
	}
	return s, nil
}

// block returns the schema of a resource (mode "managed") or data source.
func (s *Schema) block(mode, typ string) *SchemaBlock {
	if mode == "data" {
		return s.DataSources[typ]
	}
	return s.Resources[typ]
}

// names returns the sorted type names of a mode.
func (s *Schema) names(mode string) []string {
	m := s.Resources
	if mode == "data" {
		m = s.DataSources
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TypeVerdict says what the schema knows of a type name.
type TypeVerdict int

const (
	// TypeKnown: the type is in the schema.
	TypeKnown TypeVerdict = iota
	// TypeMisspelt: not in the schema but so close to a type that is that
	// it is taken for a mistake (Suggestion names that type).
	TypeMisspelt
	// TypeOutside: not in the schema subset, and not close to any type in
	// it: it may well exist in the provider; it cannot be checked.
	TypeOutside
)

// ClassifyType tells a known type from a misspelt one and from one the
// subset does not cover. A name is taken as misspelt when (1) it is within
// two edits of a known name (a typo), (2) dropping the word after
// "alicloud_" gives a known name (a product prefix added:
// alicloud_ecs_instance → alicloud_instance), or (3) its words, singular,
// are the first words of a known name (alicloud_ssl_certificate →
// alicloud_ssl_certificates_service_certificate). Anything else is outside
// the subset. Only names of the provider's namespace (alicloud_) are
// judged; others belong to other providers and are outside.
func (s *Schema) ClassifyType(mode, typ string) (TypeVerdict, string) {
	if s.block(mode, typ) != nil {
		return TypeKnown, ""
	}
	const prefix = "alicloud_"
	if !strings.HasPrefix(typ, prefix) {
		return TypeOutside, ""
	}
	names := s.names(mode)
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(typ, n, bestD); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return TypeMisspelt, best
	}
	words := strings.Split(strings.TrimPrefix(typ, prefix), "_")
	if len(words) > 1 {
		cand := prefix + strings.Join(words[1:], "_")
		if s.block(mode, cand) != nil {
			return TypeMisspelt, cand
		}
	}
	sing := singular(words)
	for _, n := range names {
		if len(sing) < 2 {
			break
		}
		nw := singular(strings.Split(strings.TrimPrefix(n, prefix), "_"))
		if len(nw) > len(sing) && equalWords(nw[:len(sing)], sing) {
			return TypeMisspelt, n
		}
	}
	return TypeOutside, ""
}

func singular(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = strings.TrimSuffix(w, "s")
	}
	return out
}

func equalWords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// suggestAttribute returns the closest attribute or block name of b to
// name, or "" when none is close: within a third of the name's length in
// edits, or a known name that name ends with (listener_ssl_certificate_id
// → ssl_certificate_id).
func (b *SchemaBlock) suggestAttribute(name string) string {
	limit := len(name)/3 + 1
	best, bestD := "", limit
	var cands []string
	for k := range b.Attributes {
		cands = append(cands, k)
	}
	for k := range b.BlockTypes {
		cands = append(cands, k)
	}
	sort.Strings(cands)
	for _, k := range cands {
		if d := editDistance(name, k, bestD); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return best
	}
	longest := ""
	for _, k := range cands {
		if strings.HasSuffix(name, "_"+k) && len(k) > len(longest) {
			longest = k
		}
	}
	return longest
}

// editDistance is the Levenshtein distance of a and b, or limit when it is
// at least limit (to stop early on names far apart).
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
