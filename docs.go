// Package gatehouse holds what the binary embeds from the repository's top
// level: the documentation it serves and its version.
package gatehouse

import "embed"

// Docs holds the documentation served at /docs/….
//
//go:embed docs/scim.md
var Docs embed.FS

// OnboardingRules is examples/onboarding/rules.yaml: the seeds' rules,
// which gatehouse demo runs.
//
//go:embed examples/onboarding/rules.yaml
var OnboardingRules []byte

// Version is the release; builds may override it with
// -ldflags "-X github.com/gatehouse-id/gatehouse.Version=…" (see
// version.go for the commit and the build date).
var Version = "0.1.0-dev"
