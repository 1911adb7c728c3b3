package main

import (
	"fmt"
	"time"

	"github.com/mxout/mxout/admin"
	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/queue"
	"github.com/mxout/mxout/sendmail"
	"github.com/spf13/cobra"
)

// mailq lists the queue as Postfix's mailq does (`mxout sendmail -bp`, or
// the binary linked as mailq), for monitoring that reads that format:
// from the running relay's admin API, which any local user may read, or
// the queue opened read-only when the relay is stopped. A queue that
// cannot be read exits 69, as Postfix's postqueue does when the mail
// system is down; verbose says on standard error which source was read.
func mailq(cmd *cobra.Command, c *configs.Config, verbose bool) error {
	ctx := cmd.Context()
	src, err := openSource(ctx, c, false)
	if err != nil {
		return &sendmail.Error{Code: sendmail.ExUnavailable, Err: fmt.Errorf("queue report unavailable: %w", err)}
	}
	defer src.Close()
	if verbose {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", sendmailName(), src.Describe())
	}
	list := sendmail.NewMailq(cmd.OutOrStdout(), time.Local)
	opts := queue.ListOptions{Limit: 500}
	for {
		page, err := src.List(ctx, opts)
		if err != nil {
			return &sendmail.Error{Code: sendmail.ExUnavailable, Err: fmt.Errorf("queue report unavailable: %w", err)}
		}
		for _, m := range page.Messages {
			if err := list.Message(queuedMessage(m)); err != nil {
				return &sendmail.Error{Code: sendmail.ExIOErr, Err: err}
			}
		}
		if page.Next == "" {
			break
		}
		opts.After = page.Next
	}
	if err := list.End(); err != nil {
		return &sendmail.Error{Code: sendmail.ExIOErr, Err: err}
	}
	return nil
}

// queuedMessage is m as mailq lists it: the recipients still to deliver,
// each with its last deferral reason.
func queuedMessage(m admin.Message) sendmail.QueuedMessage {
	out := sendmail.QueuedMessage{
		ID: string(m.ID), Size: m.Size, Arrival: m.Arrival, Sender: m.From,
		Active: m.State == "inflight", Held: m.State == "held",
	}
	for _, r := range m.Recipients {
		if r.State == "pending" {
			out.Recipients = append(out.Recipients, sendmail.QueuedRecipient{Addr: r.Addr, Reason: r.LastResponse})
		}
	}
	return out
}
