// Command komand runs the Komand server and its administrative commands.
// See internal/cli for the commands and README.md for how to use them.
package main

import (
	"os"

	"github.com/komand-ai/komand/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
