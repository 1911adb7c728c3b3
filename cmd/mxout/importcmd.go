package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mxout/mxout/migrate"
	"github.com/spf13/cobra"
)

func newImportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Print the mxout config equivalent to a Postfix or OpenDKIM config",
		Long: "Reads another tool's configuration and prints the equivalent mxout YAML\n" +
			"on standard output, each value with a comment naming the setting it came\n" +
			"from, and a comment for every setting that has no equivalent. Review it,\n" +
			"merge it into /etc/mxout/mxout.yaml, then run `mxout config check`.",
		Example: "  mxout import postfix /etc/postfix/main.cf > postfix.yaml\n" +
			"  postconf -n | mxout import postfix -\n" +
			"  mxout import opendkim /etc/opendkim.conf > dkim.yaml",
	}
	cmd.AddCommand(
		importSubcommand("postfix [MAIN.CF]", "/etc/postfix/main.cf",
			"Print mxout YAML for a Postfix main.cf (relayhost, mynetworks, limits, retries, TLS)",
			"Maps myhostname, myorigin, mynetworks, relayhost (with the credentials of\n"+
				"smtp_sasl_password_maps when its text file is readable),\n"+
				"message_size_limit, maximal_queue_lifetime, minimal_backoff_time,\n"+
				"maximal_backoff_time, smtp_tls_security_level, the destination limits,\n"+
				"timeouts and more; $name references and time units (s, m, h, d, w) are\n"+
				"resolved. \"-\" reads standard input, such as `postconf -n` output.",
			"  mxout import postfix /etc/postfix/main.cf\n  postconf -n | mxout import postfix -",
			migrate.Postfix),
		importSubcommand("opendkim [OPENDKIM.CONF]", "/etc/opendkim.conf",
			"Print mxout's dkim section for an opendkim.conf (KeyTable, SigningTable or Domain/Selector/KeyFile)",
			"Reads the KeyTable and SigningTable the file names (or Domain, Selector\n"+
				"and KeyFile) and prints dkim.domains with each domain's selector and key\n"+
				"file; SignHeaders and OversignHeaders become dkim.headers. OpenDKIM's\n"+
				"PKCS#1 key files work as they are; they must be readable by mxout's user.",
			"  mxout import opendkim /etc/opendkim.conf >> /etc/mxout/mxout.yaml",
			migrate.OpenDKIM),
	)
	return cmd
}

func importSubcommand(use, defaultPath, short, long, example string, convert func([]byte, string, migrate.ReadFile) []byte) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long + "\nWithout a file name it reads " + defaultPath + ".",
		Example: example,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := defaultPath
			if len(args) == 1 {
				path = args[0]
			}
			var text []byte
			var err error
			if path == "-" {
				text, err = io.ReadAll(cmd.InOrStdin())
				path = "standard input"
			} else {
				text, err = os.ReadFile(path)
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", path, err)
			}
			base := filepath.Dir(path)
			read := func(name string) ([]byte, error) {
				if !filepath.IsAbs(name) {
					name = filepath.Join(base, name)
				}
				return os.ReadFile(name)
			}
			_, err = cmd.OutOrStdout().Write(convert(text, path, read))
			return err
		},
	}
}
