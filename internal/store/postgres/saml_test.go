package postgres

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/store/storetest"
)

func TestSAMLConformance(t *testing.T) {
	testURL(t)
	storetest.RunSAML(t, func(t *testing.T) storetest.SAMLStore { return open(t) })
}
