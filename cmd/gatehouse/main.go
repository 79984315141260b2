// Command gatehouse is the Gatehouse identity hub: a SCIM 2.0 service
// provider and its administration tools.
package main

import (
	"context"
	"os"

	"github.com/gatehouse-id/gatehouse/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
