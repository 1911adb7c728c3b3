package main

import (
	"fmt"
	"strings"

	"github.com/mxout/mxout/configs"
	"github.com/spf13/cobra"
)

func newConfigCmd(p paths) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration", Example: "  mxout config check --config /etc/mxout/mxout.yaml"}
	var config *configFile
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print the effective values",
		Long: "Loads the embedded defaults, the config file and MXOUT_* environment\n" +
			"variables, validates them, loads the DKIM key files,\n" +
			"submission.users_file, the submission.tls certificate and\n" +
			"delivery.smarthost.ca_file, checks that data_dir and admin.socket\n" +
			"can be made, that no two sockets share an address and that a\n" +
			"resolver is configured (resolver.servers or /etc/resolv.conf):\n" +
			"what mxout serve refuses at start. It prints\n" +
			"the effective configuration as YAML, after comment lines naming the\n" +
			"config file used (--config, else $MXOUT_CONFIG, else " + p.systemConfig + "\n" +
			"if it exists, else none: the embedded defaults) and a comment line\n" +
			"\"# warning: ...\" for each setting that is valid but surely wrong\n" +
			"(a submission user that can never send, an unverified smarthost).\n" +
			"Exits 1 with one line per bad key when the configuration is invalid.",
		Example: "  mxout config check --config /etc/mxout/mxout.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, src, err := config.load()
			if err != nil {
				return err
			}
			warnings, err := preflight(c)
			if err != nil {
				return err
			}
			out, err := configs.Render(c)
			if err != nil {
				return err
			}
			// Warnings are YAML comments: the output stays a config that
			// loads, and they are seen wherever it goes.
			var b strings.Builder
			fmt.Fprintf(&b, "# config file: %s\n", src)
			b.WriteString("# effective configuration (valid)\n")
			for _, w := range warnings {
				fmt.Fprintf(&b, "# warning: %s\n", w)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s%s", b.String(), out)
			return err
		},
	}
	config = addConfigFlag(check, p, false)
	cmd.AddCommand(check)
	return cmd
}
