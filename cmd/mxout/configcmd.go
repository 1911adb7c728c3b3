package main

import (
	"fmt"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/dkim"
	"github.com/mxout/mxout/submission"
	"github.com/spf13/cobra"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration", Example: "  mxout config check --config /etc/mxout/mxout.yaml"}
	var path string
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print the effective values",
		Long: "Loads the embedded defaults, the --config file and MXOUT_* environment\n" +
			"variables, validates them, loads the DKIM key files,\n" +
			"submission.users_file and the submission.tls certificate, and prints\n" +
			"the effective configuration as YAML.\n" +
			"Exits 1 with one line per bad key when the configuration is invalid.",
		Example: "  mxout config check --config /etc/mxout/mxout.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := configs.Load(path)
			if err != nil {
				return err
			}
			if _, err := dkim.New(dkimConfig(c)); err != nil {
				return fmt.Errorf("dkim.domains: %w", err)
			}
			if _, err := submissionUsers(c.Submission); err != nil {
				return err
			}
			// serve refuses to start without a loadable certificate pair;
			// a check that passed such a config would promise a start
			// that fails.
			if f := c.Submission.TLS; f.CertFile != "" {
				if _, err := submission.NewCertStore(f.CertFile, f.KeyFile); err != nil {
					return fmt.Errorf("submission.tls: %w", err)
				}
			}
			out, err := configs.Render(c)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "# effective configuration (valid)\n%s", out)
			return err
		},
	}
	configFlag(check, &path)
	cmd.AddCommand(check)
	return cmd
}
