package sqlite_test

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/store/storetest"
)

func TestSAMLConformance(t *testing.T) {
	storetest.RunSAML(t, func(t *testing.T) storetest.SAMLStore { return open(t) })
}
