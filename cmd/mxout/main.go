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

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "mxout",
		Short:         "mxout is an outbound-only SMTP relay with a durable queue",
		Example:       rootExamples,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newQueueCmd(), newPasswdCmd(), newConfigCmd(), newVersionCmd(), newDKIMCmd())
	root.AddCommand(newSendmailCmd())
	root.AddCommand(newImportCmd())
	root.AddCommand(newAPIKeyCmd())
	return root
}

// configFlag adds --config to cmd; its default is $MXOUT_CONFIG.
func configFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVarP(path, "config", "c", os.Getenv("MXOUT_CONFIG"),
		"YAML config file (default $MXOUT_CONFIG; none: embedded defaults)")
}
