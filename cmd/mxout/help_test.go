package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every command says what it does, and every command that runs shows an
// example in its --help.
func TestHelp_EveryCommandHasAShortTextAndExamples(t *testing.T) {
	t.Parallel()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		// cobra's own help and completion commands document themselves.
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if c.Short == "" {
			t.Errorf("%q has no Short text", c.CommandPath())
		}
		if (c.Runnable() || !c.HasParent()) && strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := newRootCmd()
	root.InitDefaultCompletionCmd()
	walk(root)
}

func TestHelp_CompletionScripts(t *testing.T) {
	t.Parallel()
	for shell, want := range map[string]string{
		"bash": "# bash completion V2 for mxout",
		"zsh":  "#compdef mxout",
		"fish": "# fish completion for mxout",
	} {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs([]string{"completion", shell})
		if err := root.Execute(); err != nil {
			t.Fatalf("completion %s: %v", shell, err)
		}
		if !strings.HasPrefix(out.String(), want) {
			t.Errorf("completion %s starts %q, want %q", shell, firstLine(out.String()), want)
		}
	}
}

// The sendmail command parses its own options: --help shows its usage,
// and a sendmail option such as -oi is not refused as an unknown flag.
func TestHelp_SendmailFlagsAreItsOwn(t *testing.T) {
	t.Parallel()
	out := sendmailHelp(t)
	if !strings.Contains(out, "-t            also send to the To, Cc and Bcc") || !strings.Contains(out, "Examples:") {
		t.Errorf("sendmail --help:\n%s", out)
	}
}

// sendmailHelp is what `mxout sendmail --help` prints.
func sendmailHelp(t *testing.T) string {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"sendmail", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestCommandLine_Argv0(t *testing.T) {
	t.Parallel()
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"/usr/sbin/sendmail", "-t", "-i"}, "sendmail -t -i"},
		{[]string{"sendmail"}, "sendmail"},
		{[]string{"/usr/local/bin/mxout", "serve"}, "serve"},
		{[]string{"mxout"}, ""},
	}
	for _, tt := range tests {
		if got := strings.Join(commandLine(tt.argv), " "); got != tt.want {
			t.Errorf("commandLine(%q) = %q, want %q", tt.argv, got, tt.want)
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
