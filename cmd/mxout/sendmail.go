package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/sendmail"
	"github.com/spf13/cobra"
)

// sendmailTimeout bounds connecting and each SMTP command to the relay.
const sendmailTimeout = 30 * time.Second

func newSendmailCmd(p paths) *cobra.Command {
	return &cobra.Command{
		Use:   "sendmail [options] [recipient...]",
		Short: "Send the message on standard input through the relay (sendmail-compatible)",
		Long: `Reads a message on standard input and submits it over SMTP to the local
relay, so the queue and every check apply. It behaves as sendmail(8) for
cron, PHP's mail(), git send-email and monitoring tools; link
/usr/sbin/sendmail to the mxout binary (make install SENDMAIL_LINK=1) and
it runs as this command.

Options:
  -t            also send to the To, Cc and Bcc addresses of the message
                (Bcc headers are removed)
  -f ADDR       envelope sender (-r too; -f '<>' is the null sender);
                default: your login name @ sendmail.domain
  -F NAME       full name for the From: header added when there is none
  -i, -oi       read to the end of input (else a line "." ends it)
  -N LIST       DSN: never, or success,failure,delay
  -R full|hdrs  DSN: what a bounce returns
  -V ENVID      DSN: envelope identifier
  -v            print the relay's reply on standard error
  -C, --config FILE
                mxout config; default $MXOUT_CONFIG, else
                /etc/mxout/mxout.yaml if it exists, else the embedded
                defaults (relay on 127.0.0.1:2525)
Ignored for compatibility: -B -G -L -O -U -X -bm -c -e -h -m -n -o* -p -s -x.
  -bp           list the queue in Postfix's mailq format (as the mailq
                link does), ending "-- N Kbytes in M Requests." or
                "Mail queue is empty"; "*" marks a message being
                delivered, "!" one on hold
Refused: -bs (SMTP on stdin), -bi, -bd, -q, -I.

The exit status follows sysexits.h: 0 the relay has the message on disk,
64 usage, 65 bad message or data refused, 67 recipient refused (nothing
is sent), 69 queue unreadable (-bp: the relay is not answering and its
data_dir cannot be read), 70 internal error (a bug), 74 input unreadable, 75 relay down
or busy (try again later), 77 sender or credentials refused, 78 config
unreadable or invalid.
Errors are one line on standard error.`,
		Example: `  printf 'Subject: test\n\nhello\n' | mxout sendmail -f app@example.com you@example.net
  mxout sendmail -t -i < message.eml
  git config sendemail.sendmailcmd "mxout sendmail"   # or /usr/sbin/sendmail with the link`,
		DisableFlagParsing:    true,
		DisableFlagsInUseLine: true, // its options are in Long, not cobra flags
		RunE: func(cmd *cobra.Command, args []string) error {
			err := runSendmail(cmd, p, args)
			if err == nil {
				return nil
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", sendmailName(), sendmail.Describe(err))
			return exitCode(sendmail.ExitCode(err))
		},
	}
}

func runSendmail(cmd *cobra.Command, p paths, args []string) error {
	a, err := sendmail.ParseArgs(args)
	if err != nil {
		return err
	}
	if a.Help {
		return cmd.Help()
	}
	c, err := locateConfig(a.ConfigPath, os.Getenv("MXOUT_CONFIG"), p.systemConfig).load()
	if err != nil {
		return &sendmail.Error{Code: sendmail.ExConfig, Err: err}
	}
	if a.ListQueue {
		return mailq(cmd, c, a.Verbose)
	}
	m, err := sendmail.Prepare(cmd.InOrStdin(), a, sendmail.Site{
		Domain:   c.Sendmail.Domain,
		User:     loginName(),
		Aliases:  c.Sendmail.Aliases,
		MaxBytes: int64(c.Submission.MaxMessageBytes),
	})
	if err != nil {
		return err
	}
	res, err := sendmail.Submit(context.Background(), sendmailRelay(c), m)
	if err != nil {
		return err
	}
	if a.Verbose {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", sendmailName(), res.Reply)
	}
	return nil
}

// sendmailRelay is the first submission listener, as seen from this
// machine.
func sendmailRelay(c *configs.Config) sendmail.Relay {
	l := c.Submission.Listeners[0] // validated: at least one
	host, port := l.Address.Host, strconv.Itoa(int(l.Address.Port))
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return sendmail.Relay{
		Address: net.JoinHostPort(host, port),
		TLS:     l.TLS,
		// The listener is one of this machine's own addresses, so the
		// connection never leaves it, and its certificate names the
		// relay's public name, not the address: checking would only fail.
		TLSConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12},
		Username:  c.Sendmail.Username,
		Password:  c.Sendmail.Password,
		HeloName:  c.Hostname,
		Timeout:   sendmailTimeout,
	}
}

// loginName is the caller's user name, the default sender's local part.
func loginName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	for _, v := range []string{"LOGNAME", "USER"} {
		if s := os.Getenv(v); s != "" {
			return s
		}
	}
	return "nobody"
}

// sendmailName is the name errors start with: "sendmail" or "mailq"
// when run through a symlink of that name, else "mxout sendmail".
func sendmailName() string {
	if name := linkName(os.Args); name != "" {
		return name
	}
	return "mxout sendmail"
}

// linkName is "sendmail" or "mailq" when the binary runs as a symlink of
// that name, else "".
func linkName(argv []string) string {
	if len(argv) > 0 {
		switch name := filepath.Base(argv[0]); name {
		case "sendmail", "mailq":
			return name
		}
	}
	return ""
}

// commandLine is the argument list for the root command: a binary run as
// "sendmail" (through a symlink) is `mxout sendmail`, as "mailq" it is
// `mxout sendmail -bp`.
func commandLine(argv []string) []string {
	switch linkName(argv) {
	case "sendmail":
		return append([]string{"sendmail"}, argv[1:]...)
	case "mailq":
		return append([]string{"sendmail", "-bp"}, argv[1:]...)
	}
	return argv[1:]
}

// exitCode ends the process with this status; the command has already
// printed why.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
