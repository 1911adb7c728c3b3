package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version, commit, Go version and build date",
		Example: "  mxout version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "mxout %s (commit %s, built %s, %s %s/%s)\n",
				version, commit, buildDate, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
