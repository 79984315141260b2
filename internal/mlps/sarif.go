package mlps

import (
	"encoding/json"
	"io"
	"os"
	"strings"
)

// SARIF 2.1.0 (OASIS, https://docs.oasis-open.org/sarif/sarif/v2.1.0/):
// the subset of the log format the check writes.

const sarifSchema = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                   `json:"tool"`
	OriginalURIBaseIDs map[string]sarifArtifactLoc `json:"originalUriBaseIds,omitempty"`
	Results            []sarifResult               `json:"results"`
	ColumnKind         string                      `json:"columnKind"`
	AutomationDetails  *sarifAutomation            `json:"automationDetails,omitempty"`
	Properties         map[string]any              `json:"properties,omitempty"`
}

type sarifAutomation struct {
	ID string `json:"id"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name,omitempty"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties,omitempty"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifArtifactLoc struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifResult struct {
	RuleID       string             `json:"ruleId"`
	RuleIndex    int                `json:"ruleIndex"`
	Kind         string             `json:"kind"`
	Level        string             `json:"level"`
	Message      sarifText          `json:"message"`
	Locations    []sarifLocation    `json:"locations"`
	Suppressions []sarifSuppression `json:"suppressions,omitempty"`
	Properties   map[string]any     `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical  `json:"physicalLocation"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifactLoc `json:"artifactLocation"`
	Region           sarifRegion      `json:"region"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

type sarifSuppression struct {
	Kind          string         `json:"kind"`
	Justification string         `json:"justification"`
	Location      *sarifLocation `json:"location,omitempty"`
}

func sarifLevel(severity string) string {
	switch severity {
	case "high":
		return "error"
	case "medium":
		return "warning"
	}
	return "note"
}

// WriteSARIF writes the report as a SARIF 2.1.0 log. Failures are results
// of kind "fail" at their rule's level; undecidable checks are of kind
// "open" and notes "informational" (level "none", as the standard wants
// for kinds other than fail). Suppressed findings carry an inSource
// suppression with its reason.
func (r *Report) WriteSARIF(w io.Writer, toolVersion string) error {
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	return r.writeSARIF(w, toolVersion, cwd)
}

// writeSARIF writes the log with file URIs relative to cwd, the
// %SRCROOT% base (an absolute file URI ending in a slash, as SARIF wants
// of a base).
func (r *Report) writeSARIF(w io.Writer, toolVersion, cwd string) error {
	root := fileURI(cwd)
	if !strings.HasSuffix(root, "/") {
		root += "/"
	}
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{Name: "gatehouse mlps check", Version: toolVersion,
			InformationURI: "https://github.com/gatehouse-id/gatehouse/blob/main/docs/mlps.md"}},
		Results:    []sarifResult{},
		ColumnKind: "unicodeCodePoints",
		OriginalURIBaseIDs: map[string]sarifArtifactLoc{
			"%SRCROOT%": {URI: root},
		},
		Properties: map[string]any{"schema": r.Schema, "summary": r.Summary},
	}
	index := map[string]int{}
	for i, rule := range r.rules {
		index[rule.ID] = i
		var clauses []string
		for _, c := range rule.Clauses {
			clauses = append(clauses, Clauses[c])
		}
		help := rule.Checks
		if len(clauses) > 0 {
			help += "\n\n" + strings.Join(clauses, "\n")
		}
		tags := []string{"mlps", "security"}
		if rule.Source == "config" {
			tags = append(tags, "alibaba-cloud-config")
		}
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
			ID: rule.ID, ShortDescription: sarifText{rule.Title}, FullDescription: sarifText{rule.Checks},
			Help: sarifText{help}, DefaultConfiguration: sarifConfig{Level: sarifLevel(rule.Severity)},
			Properties: map[string]any{"tags": tags, "clauses": rule.Clauses, "source": rule.Source},
		})
	}
	for _, f := range r.Findings {
		res := sarifResult{RuleID: f.Rule, RuleIndex: index[f.Rule], Message: sarifText{f.Message},
			Properties: map[string]any{"status": string(f.Status)}}
		switch f.Status {
		case StatusFail:
			res.Kind, res.Level = "fail", sarifLevel(f.Severity)
		case StatusUnknown:
			res.Kind, res.Level = "open", "none"
		default:
			res.Kind, res.Level = "informational", "none"
		}
		res.Locations = []sarifLocation{location(f.Pos, f.Resource, cwd)}
		if f.Suppressed != nil {
			loc := location(f.Suppressed.Pos, "", cwd)
			res.Suppressions = []sarifSuppression{{Kind: "inSource", Justification: f.Suppressed.Reason, Location: &loc}}
		}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: sarifSchema, Version: "2.1.0", Runs: []sarifRun{run}})
}

func location(p Pos, resource, cwd string) sarifLocation {
	u, base := artifactURI(p.File, cwd)
	line := p.Line
	if line < 1 {
		line = 1
	}
	loc := sarifLocation{PhysicalLocation: sarifPhysical{
		ArtifactLocation: sarifArtifactLoc{URI: u, URIBaseID: base},
		Region:           sarifRegion{StartLine: line, StartColumn: p.Col},
	}}
	if resource != "" {
		loc.LogicalLocations = []sarifLogical{{FullyQualifiedName: resource, Kind: "resource"}}
	}
	return loc
}
