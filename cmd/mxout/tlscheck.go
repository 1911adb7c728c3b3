package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mxout/mxout/admin"
	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/netguard"
	"github.com/mxout/mxout/internal/queueconfig"
	"github.com/mxout/mxout/mtasts"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/resolver"
	"github.com/mxout/mxout/tlspolicy"
)

func newTLSCmd(p paths) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "Outbound TLS policy: what mxout enforces for a domain (MTA-STS, DANE)",
		Long:  "The order of precedence and the modes are in docs/delivery.md, \"TLS policy\".",
	}
	var config *configFile
	check := &cobra.Command{
		Use:   "check DOMAIN",
		Short: "Print what mxout would enforce for mail to DOMAIN, and why",
		Long: "Looks up, through the configured resolver, DOMAIN's MX hosts and whether the\n" +
			"answer is authenticated (DNSSEC), its MTA-STS policy, and each host's TLSA\n" +
			"records and whether they are authenticated, and prints the TLS policy each\n" +
			"host gets: dane, mta-sts, mta-sts-testing, required or opportunistic.\n" +
			"The MTA-STS policy is the one the running relay has cached (asked through\n" +
			"its admin API), or the queue database's when the relay is stopped, with its\n" +
			"age; it is fetched now when none is cached or the record's id changed.\n" +
			"Nothing is stored: a policy the check fetched is fetched again by the relay\n" +
			"at its next delivery to DOMAIN, and the output says so.",
		Example: "  mxout tls check gmail.com --config /etc/mxout/mxout.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := config.load()
			if err != nil {
				return err
			}
			return tlsCheck(cmd.Context(), cmd.OutOrStdout(), c, args[0])
		},
	}
	config = addConfigFlag(check, p, false)
	cmd.AddCommand(check)
	return cmd
}

func tlsCheck(ctx context.Context, w io.Writer, c *configs.Config, domain string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	if !configs.IsDNSName(domain) {
		return fmt.Errorf("%q is not a domain name", domain)
	}
	res, err := resolver.New(resolverConfig(c))
	if err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	var sts *mtasts.Cache
	from := "MTA-STS is off (delivery.mta_sts)"
	if c.Delivery.MTASTS {
		if sts, from, err = cachedPolicies(ctx, c, res, domain); err != nil {
			return err
		}
		defer sts.Close()
	}
	var policySTS tlspolicy.STS // a nil *mtasts.Cache is not a nil STS
	if sts != nil {
		policySTS = sts
	}
	configured := c.Delivery.TLS
	if p, ok := c.Delivery.Domains[domain]; ok && p.TLS != "" {
		configured = p.TLS
	}
	var before mtasts.Result
	if sts != nil {
		before, _ = sts.Cached(domain)
	}
	cctx, cancel := context.WithTimeout(ctx, mtasts.FetchTimeout+8*c.Resolver.Timeout)
	defer cancel()
	e := tlspolicy.New(tlsPolicyConfig(c, res, policySTS)).Explain(cctx, res, domain, configured)
	if _, err := e.WriteTo(w); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "MTA-STS cache: %s\n", from); err != nil {
		return err
	}
	if e.STS.Policy != nil && !e.STS.Fetched.Equal(before.Fetched) {
		// The relay's cache had no policy for this id: the check fetched
		// its own, which the policy host sees as one more request.
		if _, err := fmt.Fprintf(w, "MTA-STS policy fetched by this check, not stored: the relay fetches its own at its next delivery to %s\n", domain); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(w, "without DANE or MTA-STS: delivery.tls %s\n", configured)
	return err
}

// cachedPolicies builds an MTA-STS cache that starts from the relay's:
// the running relay's entry for domain through the admin API, or the
// queue database read-only when it is stopped. from says which.
func cachedPolicies(ctx context.Context, c *configs.Config, res *resolver.Resolver, domain string) (*mtasts.Cache, string, error) {
	cfg := mtasts.Config{Resolver: res, Guard: netguard.New(c.Delivery.AllowedNetworks)}
	client, _, err := dialAPI(ctx, c)
	if err == nil {
		p, found, err := client.MTASTSPolicy(ctx, domain)
		if err != nil {
			return nil, "", err
		}
		sts, err := mtasts.New(cfg)
		if err != nil {
			return nil, "", err
		}
		if found {
			if pol, err := mtasts.ParsePolicy([]byte(p.Policy)); err == nil {
				sts.Add(domain, mtasts.Result{Policy: pol, ID: p.ID, Fetched: p.Fetched})
			}
		}
		return sts, "the running relay's, via the admin API at " + client.Addr(), nil
	}
	if !errors.Is(err, admin.ErrUnreachable) {
		return nil, "", err
	}
	from := "none (the relay is not running and its queue could not be read)"
	q, qerr := queue.OpenReadOnly(queueconfig.Options(c, nil))
	if qerr == nil {
		defer q.Close()
		if kv, err := q.KV("mta-sts"); err == nil {
			cfg.Store = readOnlyStore{kv}
			from = "read-only from " + c.DataDir + ", the relay is not running"
		}
	}
	sts, err := mtasts.New(cfg)
	if err != nil {
		return nil, "", err
	}
	return sts, from, nil
}

// readOnlyStore reads a queue's policies and writes nothing: the check
// must not change what the relay has cached.
type readOnlyStore struct{ kv *queue.KV }

func (s readOnlyStore) Each(fn func(string, []byte) error) error { return s.kv.Each(fn) }
func (readOnlyStore) Put(string, []byte) error                   { return nil }
func (readOnlyStore) Delete(string) error                        { return nil }
