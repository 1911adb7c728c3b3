package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/mxout/mxout/api"
	"github.com/mxout/mxout/configs"
)

func newAPIKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "api-key",
		Short: "Make tokens for the HTTP send API (api.keys)",
	}
	var senders []string
	newCmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Print a new API token once, and the api.keys entry that holds its hash",
		Long: "Makes a random token (256 bits) for an application, prints it once, and\n" +
			"prints the api.keys entry to add to the config: mxout keeps only the\n" +
			"token's SHA-256, so a lost token is replaced, not recovered.",
		Example: "  mxout api-key new billing --allowed-sender '*@billing.example.com'",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			token, err := api.NewToken()
			if err != nil {
				return err
			}
			key := configs.APIKey{Name: args[0], TokenSHA256: api.TokenSHA256(token), AllowedSenders: senders}
			if key.AllowedSenders == nil {
				key.AllowedSenders = []string{}
			}
			if err := configs.CheckAPIKey(key); err != nil {
				return err
			}
			entry, err := apiKeyEntry(key)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "# The token for %q, shown only this once (mxout keeps only its SHA-256):\n%s\n\n", key.Name, token)
			fmt.Fprintf(out, "# Add this entry under api.keys in the config file, then reload mxout (SIGHUP):\n%s", entry)
			if len(senders) == 0 && !strings.Contains(key.Name, "@") {
				fmt.Fprintln(out, "# allowed_senders is empty: this key may send as no one; add patterns such as '*@example.com'.")
			}
			return nil
		},
	}
	newCmd.Flags().StringArrayVar(&senders, "allowed-sender", nil, "a sender the key may use (repeat for more): *, *@example.com or an address")
	cmd.AddCommand(newCmd)
	return cmd
}

// apiKeyEntry prints key as a list item of api.keys, indented to sit
// under "api:" and "  keys:".
func apiKeyEntry(key configs.APIKey) (string, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode([]configs.APIKey{key}); err != nil {
		return "", fmt.Errorf("api key entry: %w", err)
	}
	var b strings.Builder
	for line := range strings.Lines(buf.String()) {
		b.WriteString("    " + line)
	}
	return b.String(), nil
}
