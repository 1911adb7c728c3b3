// Command mxout is an outbound-only relay MTA: it accepts mail over SMTP,
// keeps it in a durable on-disk queue and delivers it to the recipients'
// mail exchangers. Run `mxout --help` for the commands.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// Set at build time by the Makefile with -ldflags -X.
var (
	version   = "dev"
	commit    = "unknown"
	buildDate = "unknown"
)

func main() {
	root := newRootCmd()
	root.SetArgs(commandLine(os.Args))
	if err := root.Execute(); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			os.Exit(int(code))
		}
		fmt.Fprintln(os.Stderr, "mxout:", err)
		os.Exit(1)
	}
}

// newRootCmd is the mxout command line as installed.
func newRootCmd() *cobra.Command { return newRoot(paths{systemConfig: systemConfig}) }

// newRoot is the mxout command line finding its files at p.
func newRoot(p paths) *cobra.Command {
	root := &cobra.Command{
		Use:           "mxout",
		Short:         "mxout is an outbound-only SMTP relay with a durable queue",
		Example:       rootExamples,
		Version:       currentBuild().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// --version prints what `mxout version` prints.
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(newServeCmd(p), newQueueCmd(p), newPasswdCmd(), newConfigCmd(p), newVersionCmd(), newDKIMCmd(p))
	root.AddCommand(newSendmailCmd(p))
	root.AddCommand(newImportCmd())
	root.AddCommand(newAPIKeyCmd())
	root.AddCommand(newTLSCmd(p))
	return root
}
