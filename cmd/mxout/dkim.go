package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/dkim"
	"github.com/mxout/mxout/resolver"
)

func newDKIMCmd(p paths) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dkim",
		Short: "Make DKIM keys and check their DNS records",
		Long:  "DKIM signing is configured in the dkim section; see docs/dkim.md.",
		Example: "  mxout dkim keygen --domain example.com --selector mx2026 --out /etc/mxout/dkim/example.com.mx2026.pem\n" +
			"  mxout dkim check --config /etc/mxout/mxout.yaml",
	}
	cmd.AddCommand(newDKIMKeygenCmd(), newDKIMCheckCmd(p))
	return cmd
}

func newDKIMKeygenCmd() *cobra.Command {
	var domain, selector, algorithm, out string
	var bits int
	cmd := &cobra.Command{
		Use:   "keygen --domain D --selector S",
		Short: "Make a DKIM key and print the DNS record to publish",
		Long: "Writes a new private key (PEM PKCS#8, mode 0600; an existing file is never\n" +
			"overwritten) and prints the TXT record to publish at S._domainkey.D as a\n" +
			"zone-file line, its value split into strings of at most 255 octets, with\n" +
			"the config lines to add as comments.",
		Example: "  mxout dkim keygen --domain example.com --selector mx2026\n" +
			"  mxout dkim keygen --domain example.com --selector ed2026 --algorithm ed25519-sha256 --out /etc/mxout/dkim/ed2026.pem",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("bits") && algorithm != dkim.AlgorithmRSA {
				return fmt.Errorf("--bits applies to %s keys only", dkim.AlgorithmRSA)
			}
			return dkimKeygen(cmd.OutOrStdout(), domain, selector, algorithm, bits, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&domain, "domain", "", "signing domain (the From: domain of the mail), e.g. example.com")
	f.StringVar(&selector, "selector", "", "selector: the record goes to <selector>._domainkey.<domain>")
	f.StringVar(&algorithm, "algorithm", dkim.AlgorithmRSA, "rsa-sha256 or ed25519-sha256")
	f.IntVar(&bits, "bits", 2048, fmt.Sprintf("RSA key size (%d-%d)", dkim.MinRSABits, dkim.MaxRSABits))
	f.StringVar(&out, "out", "", "private key file (default <domain>.<selector>.pem in the current directory)")
	_ = cmd.MarkFlagRequired("domain")
	_ = cmd.MarkFlagRequired("selector")
	return cmd
}

func dkimKeygen(w io.Writer, domain, selector, algorithm string, bits int, out string) error {
	if domain = dkim.NormalizeDomain(domain); domain == "" {
		return errors.New("--domain: want a domain name such as example.com")
	}
	if selector == "" || dkim.NormalizeDomain(selector) != strings.ToLower(selector) {
		return errors.New("--selector: want letters, digits, '-' or '_' (dots between labels), such as mx2026")
	}
	key, err := dkim.GenerateKey(algorithm, bits, rand.Reader)
	if err != nil {
		return err
	}
	pemData, err := dkim.MarshalPrivateKey(key)
	if err != nil {
		return err
	}
	rec, err := dkim.NewRecord(key.Public())
	if err != nil {
		return err
	}
	if out == "" {
		out = domain + "." + selector + ".pem"
	}
	if err := writeNewFile(out, pemData); err != nil {
		return err
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		abs = out
	}
	name := dkim.RecordName(selector, domain)
	_, err = fmt.Fprintf(w, "; private key written to %s (mode 0600)\n"+
		"; publish this TXT record in the %s zone:\n%s\n"+
		"; then add the key to the mxout config (a domain's second key goes under keys:, see docs/dkim.md):\n"+
		";   dkim:\n;     domains:\n;       %s:\n;         selector: %s\n;         private_key_file: %s\n;         algorithm: %s\n"+
		"; run `mxout dkim check --domain %s --config FILE` until it says OK, then reload mxout (kill -HUP <pid>).\n",
		abs, domain, dkim.ZoneEntry(name, rec), domain, selector, abs, algorithm, domain)
	return err
}

// writeNewFile creates path with mode 0600 and writes data; it never
// replaces an existing file (a live key), and removes what it created on
// failure.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists; not overwriting a key (choose another --out or selector)", path)
		}
		return fmt.Errorf("write private key: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write private key %s: %w", path, err)
	}
	return nil
}

func newDKIMCheckCmd(p paths) *cobra.Command {
	var domain string
	var config *configFile
	cmd := &cobra.Command{
		Use:   "check [--domain D]",
		Short: "Check that the published DKIM records match the configured keys",
		Long: "For each key of dkim.domains.D (every configured domain without --domain),\n" +
			"looks up <selector>._domainkey.D through the configured resolver, checks\n" +
			"that it publishes the key's public half, and verifies a test signature\n" +
			"through it as a receiver would. Exits 1 when a record is missing or does\n" +
			"not match.",
		Example: "  mxout dkim check --domain example.com --config /etc/mxout/mxout.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := config.load()
			if err != nil {
				return err
			}
			return dkimCheck(cmd.Context(), cmd.OutOrStdout(), c, domain)
		},
	}
	cmd.Flags().StringVar(&domain, "domain", "", "the signing domain to check (default: all of dkim.domains)")
	config = addConfigFlag(cmd, p, false)
	return cmd
}

func dkimCheck(ctx context.Context, w io.Writer, c *configs.Config, domain string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	domains := make([]string, 0, len(c.DKIM.Domains))
	for d := range c.DKIM.Domains {
		domains = append(domains, d)
	}
	slices.Sort(domains)
	if domain != "" {
		domain = dkim.NormalizeDomain(domain)
		if _, ok := c.DKIM.Domains[domain]; !ok {
			return fmt.Errorf("dkim.domains has no entry for %s (configured: %s)", domain, orNone(domains))
		}
		domains = []string{domain}
	}
	if len(domains) == 0 {
		return errors.New("dkim.domains is empty: nothing to check")
	}
	res, err := resolver.New(resolverConfig(c))
	if err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	failed, total := 0, 0
	for _, d := range domains {
		for _, kc := range c.DKIM.Domains[d].AllKeys() {
			total++
			key, err := dkim.LoadKey(dkim.KeyConfig{Selector: kc.Selector, PrivateKeyFile: kc.PrivateKeyFile, Algorithm: kc.Algorithm})
			if err != nil {
				failed++
				fmt.Fprintf(w, "%s: FAIL: %v\n", dkim.RecordName(kc.Selector, d), err)
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 4*c.Resolver.Timeout+5*time.Second)
			r := dkim.Check(cctx, res.LookupTXT, d, key)
			cancel()
			if !r.OK() {
				failed++
				fmt.Fprintf(w, "%s: FAIL (%s, %s): %v\n", r.Name, key.Algorithm, key.File, r.Err)
				continue
			}
			note := ""
			if r.Record.Testing() {
				note = " (t=y: receivers treat the domain as testing DKIM; remove t=y when satisfied)"
			}
			fmt.Fprintf(w, "%s: OK (%s, %s): the published key matches and a test signature verifies%s\n", r.Name, key.Algorithm, key.File, note)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d DKIM keys are not served by their DNS record", failed, total)
	}
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// dkimConfig maps the dkim config section to the signer's Config, domains
// in name order, each with its own header list or dkim.headers.
func dkimConfig(c *configs.Config) dkim.Config {
	names := make([]string, 0, len(c.DKIM.Domains))
	for d := range c.DKIM.Domains {
		names = append(names, d)
	}
	slices.Sort(names)
	out := dkim.Config{Require: c.DKIM.Require}
	for _, name := range names {
		d := c.DKIM.Domains[name]
		dc := dkim.DomainConfig{Domain: name, Headers: d.Headers}
		if len(dc.Headers) == 0 {
			dc.Headers = c.DKIM.Headers
		}
		for _, k := range d.AllKeys() {
			dc.Keys = append(dc.Keys, dkim.KeyConfig{Selector: k.Selector, PrivateKeyFile: k.PrivateKeyFile, Algorithm: k.Algorithm})
		}
		out.Domains = append(out.Domains, dc)
	}
	return out
}
