package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mxout/mxout/admin"
	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/queue"
	"github.com/spf13/cobra"
)

// queueCmd holds the flags shared by the queue subcommands.
type queueCmd struct {
	config *configFile
	json   bool
	direct bool
}

func newQueueCmd(p paths) *cobra.Command {
	qc := &queueCmd{}
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Inspect and steer the queue (like mailq, postqueue and postsuper)",
		Long: "Talks to the admin API of the running relay: on its unix socket\n" +
			"(admin.socket, for root and the user mxout runs as), else on\n" +
			"admin.listen, where without admin.token only list, show (without\n" +
			"headers) and stats work, as mailq works for any local user.\n" +
			"When the relay is not running, list, show and stats open the queue\n" +
			"read-only instead; every output says which of the two was used.\n" +
			"hold, release, retry, delete and flush need the running relay.\n" +
			"Where a command takes IDs, \"-\" reads them from standard input, one a line.",
		Example: "  mxout queue list --state deferred --domain example.com\n" +
			"  mxout queue show 0123456789abcdefghij\n" +
			"  mxout queue list -q --domain spam.example | mxout queue delete -",
	}
	qc.config = addConfigFlag(cmd, p, true)
	cmd.AddCommand(qc.listCmd(), qc.showCmd(), qc.statsCmd(), qc.flushCmd(), qc.deleteCmd(),
		qc.actionCmd("hold", "Stop delivery of messages until they are released",
			func(c *admin.Client, ctx context.Context, id queue.ID) (admin.Done, error) { return c.Hold(ctx, id) }),
		qc.actionCmd("release", "Make held messages deliverable again",
			func(c *admin.Client, ctx context.Context, id queue.ID) (admin.Done, error) { return c.Release(ctx, id) }),
		qc.retryCmd())
	return cmd
}

// load reads the config the commands use (data_dir, admin.listen, admin.socket, admin.token).
func (qc *queueCmd) load() (*configs.Config, error) {
	c, _, err := qc.config.load()
	return c, err
}

func (qc *queueCmd) readFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&qc.json, "json", false, "print JSON for scripts")
	cmd.Flags().BoolVar(&qc.direct, "direct", false, "open the queue read-only even if the relay answers (fails while it runs)")
}

func (qc *queueCmd) listCmd() *cobra.Command {
	var opts queue.ListOptions
	var max int
	var quiet bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List queued messages, oldest first",
		Example: "  mxout queue list\n  mxout queue list --state deferred --domain example.com --older-than 2h\n" +
			"  mxout queue list --json | jq '.messages[].id'\n  mxout queue list -q --sender '<>'",
		Long: "Lists queued messages in arrival order, a page at a time, so it works\n" +
			"on queues of millions of messages. Filters combine.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.State != "" && !map[string]bool{"ready": true, "deferred": true, "inflight": true, "held": true, "quarantined": true}[opts.State] {
				return fmt.Errorf("--state %q: want ready, deferred, inflight, held or quarantined", opts.State)
			}
			return qc.withSource(cmd, func(ctx context.Context, src *source) error {
				p := newListPrinter(cmd.OutOrStdout(), src, qc.json, quiet)
				if err := p.begin(); err != nil {
					return err
				}
				opts.Limit = 500
				for {
					if max > 0 {
						opts.Limit = min(opts.Limit, max-p.count)
					}
					page, err := src.List(ctx, opts)
					if err != nil {
						return err
					}
					for _, m := range page.Messages {
						if err := p.message(m); err != nil {
							return err
						}
					}
					if page.Next == "" || (max > 0 && p.count >= max) {
						return p.end(page.Next != "")
					}
					opts.After = page.Next
				}
			})
		},
	}
	cmd.Flags().StringVar(&opts.State, "state", "", "only messages in this state: ready, deferred, inflight, held, or quarantined (unreadable records moved aside)")
	cmd.Flags().StringVar(&opts.Domain, "domain", "", "only messages with a recipient at this domain")
	cmd.Flags().StringVar(&opts.Sender, "sender", "", `only messages from this envelope sender ("<>" for bounces)`)
	cmd.Flags().DurationVar(&opts.OlderThan, "older-than", 0, "only messages queued longer than this, e.g. 2h")
	cmd.Flags().IntVar(&max, "max", 0, "stop after this many messages (0: all)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the IDs, one a line")
	qc.readFlags(cmd)
	return cmd
}

func (qc *queueCmd) showCmd() *cobra.Command {
	var headers bool
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "Show one message: envelope, per-recipient state, attempts, last reply, headers",
		Example: "  mxout queue show 33lkhdd1ms5jqu1equig\n  mxout queue show 33lkhdd1ms5jqu1equig --json --headers=false",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := queue.ParseID(args[0])
			if err != nil {
				return err
			}
			return qc.withSource(cmd, func(ctx context.Context, src *source) error {
				m, err := src.Show(ctx, id, headers)
				if err != nil {
					return fmt.Errorf("%s: %w", id, notFound(err))
				}
				return printMessage(cmd.OutOrStdout(), src, m, qc.json)
			})
		},
	}
	cmd.Flags().BoolVar(&headers, "headers", true, "include the message's header section")
	qc.readFlags(cmd)
	return cmd
}

func (qc *queueCmd) statsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "stats",
		Short:   "Count the queue by state, with its size and oldest message",
		Example: "  mxout queue stats\n  mxout queue stats --json --config /etc/mxout/mxout.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return qc.withSource(cmd, func(ctx context.Context, src *source) error {
				s, err := src.Stats(ctx)
				if err != nil {
					return err
				}
				return printStats(cmd.OutOrStdout(), src, s, qc.json)
			})
		},
	}
	qc.readFlags(cmd)
	return cmd
}

// withSource loads the config, reaches the queue and runs fn.
func (qc *queueCmd) withSource(cmd *cobra.Command, fn func(context.Context, *source) error) error {
	c, err := qc.load()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	src, err := openSource(ctx, c, qc.direct)
	if err != nil {
		return err
	}
	defer src.Close()
	return fn(ctx, src)
}

// idAction is one API call on one message.
type idAction func(c *admin.Client, ctx context.Context, id queue.ID) (admin.Done, error)

func (qc *queueCmd) actionCmd(verb, short string, do idAction) *cobra.Command {
	return &cobra.Command{
		Use:     verb + " ID...",
		Short:   short,
		Example: fmt.Sprintf("  mxout queue %s 33lkhdd1ms5jqu1equig 33lkhdd2n1hi93955s4g\n  mxout queue list -q --domain example.com | mxout queue %s -", verb, verb),
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return qc.eachID(cmd, verb, args, do)
		},
	}
}

func (qc *queueCmd) retryCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:     "retry ID...|--all",
		Short:   "Make messages due now (--all: every deferred message, as flush)",
		Example: "  mxout queue retry 33lkhdd1ms5jqu1equig\n  mxout queue retry --all",
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return errors.New("retry takes IDs or --all, not both or neither")
			}
			if all {
				return qc.flush(cmd)
			}
			return qc.eachID(cmd, "retry", args, func(c *admin.Client, ctx context.Context, id queue.ID) (admin.Done, error) {
				return c.Retry(ctx, id)
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "retry every deferred message")
	return cmd
}

func (qc *queueCmd) deleteCmd() *cobra.Command {
	var bounce bool
	cmd := &cobra.Command{
		Use:   "delete ID...",
		Short: "Remove messages from the queue (--bounce: and tell their senders)",
		Example: "  mxout queue delete 33lkhdd1ms5jqu1equig\n  mxout queue delete --bounce 33lkhdd1ms5jqu1equig\n" +
			"  mxout queue list -q --domain spam.example | mxout queue delete -",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return qc.eachID(cmd, "delete", args, func(c *admin.Client, ctx context.Context, id queue.ID) (admin.Done, error) {
				return c.Delete(ctx, id, bounce)
			})
		},
	}
	cmd.Flags().BoolVar(&bounce, "bounce", false, "send each sender a failure report (DSN) before deleting")
	return cmd
}

func (qc *queueCmd) flushCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "flush",
		Short:   "Make every deferred message due now (postqueue -f)",
		Example: "  mxout queue flush",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return qc.flush(cmd) },
	}
}

func (qc *queueCmd) flush(cmd *cobra.Command) error {
	c, err := qc.load()
	if err != nil {
		return err
	}
	client, err := apiClient(cmd.Context(), c, "flush")
	if err != nil {
		return err
	}
	start := time.Now()
	f, err := client.Flush(cmd.Context())
	if err != nil {
		return client.explain(err)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "flushed: %s due now, %s revived (%s, via the admin API at %s)\n",
		count(f.Messages, "deferred message"), count(f.DestinationsRevived, "dead destination"), time.Since(start).Round(time.Millisecond), client.Addr())
	return err
}

// eachID runs do for every ID (or each line of stdin for "-"), reporting
// each result on its own line; it fails if any ID failed.
func (qc *queueCmd) eachID(cmd *cobra.Command, verb string, args []string, do idAction) error {
	ids, err := readIDs(args, cmd.InOrStdin())
	if err != nil {
		return err
	}
	c, err := qc.load()
	if err != nil {
		return err
	}
	client, err := apiClient(cmd.Context(), c, verb)
	if err != nil {
		return err
	}
	failed := 0
	for _, id := range ids {
		d, err := do(client.Client, cmd.Context(), id)
		if err != nil {
			failed++
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", id, notFound(client.explain(err)))
			var apiErr *admin.APIError
			if errors.As(err, &apiErr) && (apiErr.Status == 501 || apiErr.Status == 403) {
				break // the same answer for every other ID
			}
			continue
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", d.ID, d.Action)
	}
	if failed > 0 {
		return fmt.Errorf("%s failed for %d of %d messages", verb, failed, len(ids))
	}
	return nil
}

// readIDs checks the IDs given, reading them from in for "-".
func readIDs(args []string, in io.Reader) ([]queue.ID, error) {
	var raw []string
	for _, a := range args {
		if a != "-" {
			raw = append(raw, a)
			continue
		}
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				raw = append(raw, line)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read IDs from standard input: %w", err)
		}
	}
	ids := make([]queue.ID, 0, len(raw))
	for _, s := range raw {
		id, err := queue.ParseID(s)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// notFound words a missing message plainly.
func notFound(err error) error {
	var apiErr *admin.APIError
	if errors.Is(err, queue.ErrNotFound) || (errors.As(err, &apiErr) && apiErr.Status == 404) {
		return errors.New("not in the queue (delivered, bounced or deleted)")
	}
	return err
}
