package main

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/manpage"
)

var updateMan = flag.Bool("update", false, "rewrite docs/man from the commands and docs/configuration.md (make man)")

// manDir holds the generated pages, committed so that a checkout, the
// tarball and the packages all have them without running Go.
const manDir = "../../docs/man"

// mxoutPage is what mxout(8) says beyond `mxout --help`.
var mxoutPage = manpage.RootPage{
	Description: `mxout is an outbound-only SMTP relay with a durable queue. Applications
and hosts hand it mail over SMTP; it answers **250** only once the message
is synced to disk, then delivers it to the recipients' mail exchangers,
retrying with exponential backoff, and bounces what cannot be delivered.
It is never anyone's MX. **mxout serve** runs it (the systemd unit
mxout.service does); the other commands inspect and steer it. The
configuration is described in **mxout.yaml**(5), the sendmail-compatible
command in **mxout-sendmail**(8), and the guides (quick starts, delivery,
bounces, DKIM, metrics, operations) are in */usr/share/doc/mxout* (or
*docs/* of the source).`,
	Sections: `# ENVIRONMENT
**MXOUT_CONFIG**
: the config file, when **--config** is not given. Every command finds its
config the same way: **--config**, else **MXOUT_CONFIG**, else
*/etc/mxout/mxout.yaml* if it exists, else the embedded defaults;
**mxout config check** prints which one it used.

**MXOUT_**\<SECTION\>**_**\<KEY\>
: overrides one config key: **MXOUT_DELIVERY_WORKERS=32** is delivery.workers; a list takes
comma-separated values. The lists of mappings and the maps (submission.listeners,
delivery.domains, ...) can be set only in the file. A variable that sets no key is an
error naming it; see **mxout.yaml**(5).

# FILES
*/etc/mxout/mxout.yaml*
: the configuration the packages install (a conffile), read by every command
not given **--config** or **MXOUT_CONFIG**; see **mxout.yaml**(5).

*/var/lib/mxout*
: the queue (data_dir of that configuration), owned by the mxout user.

*/usr/lib/systemd/system/mxout.service*, */usr/lib/sysusers.d/mxout.conf*
: the systemd unit and the mxout user.
`,
}

// configPage is mxout.yaml(5), made from docs/configuration.md.
var configPage = manpage.Reference{
	Title:    "MXOUT.YAML",
	Name:     "mxout.yaml",
	Summary:  "configuration of the mxout relay",
	Synopsis: "*/etc/mxout/mxout.yaml*",
	SeeAlso: "**mxout**(8), **mxout-config-check**(8), **mxout-sendmail**(8); the documents named above are in " +
		"*/usr/share/doc/mxout* (or *docs/* of the source), the annotated example in */usr/share/doc/mxout/mxout.example.yaml*.",
}

// manPages renders every page, dated date.
func manPages(t *testing.T, date string) []manpage.Page {
	t.Helper()
	root := newRootCmd()
	root.InitDefaultCompletionCmd()
	pages, err := manpage.Commands(root, manpage.Header{Section: "8", Date: date, Source: "mxout", Manual: "System Manager's Manual"}, mxoutPage)
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	conf, err := manpage.FromMarkdown(md, configPage, manpage.Header{Section: "5", Date: date, Source: "mxout", Manual: "File Formats Manual"})
	if err != nil {
		t.Fatal(err)
	}
	return append(pages, manpage.Page{Name: "mxout.yaml.5", Roff: conf})
}

// docs/man is what `make man` generates from the commands and
// docs/configuration.md today; -update rewrites it. A page keeps its
// date until its text changes.
func TestManPages(t *testing.T) {
	pages := manPages(t, manpage.MonthOf(time.Now()))
	var names []string
	for _, p := range pages {
		names = append(names, p.Name)
		path := filepath.Join(manDir, p.Name)
		old, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if old != nil && manpage.SameButDate(old, p.Roff) {
			continue
		}
		if !*updateMan {
			t.Errorf("docs/man/%s is not what the commands and docs/configuration.md generate: run make man", p.Name)
			continue
		}
		if err := os.MkdirAll(manDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, p.Roff, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(manDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if slices.Contains(names, e.Name()) {
			continue
		}
		if !*updateMan {
			t.Errorf("docs/man/%s is not generated any more: run make man", e.Name())
		} else if err := os.Remove(filepath.Join(manDir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

// The pages the issue asks for exist and say what they must: mxout(8)
// lists every command, mxout.yaml(5) every config key, mxout-sendmail(8)
// its options and exit codes.
func TestManPages_Content(t *testing.T) {
	t.Parallel()
	byName := map[string][]byte{}
	for _, p := range manPages(t, "Jan 2026") {
		byName[p.Name] = p.Roff
	}
	root := newRootCmd()
	mxout := string(byName["mxout.8"])
	for _, c := range root.Commands() {
		for _, sub := range append(c.Commands(), c) {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			if !strings.Contains(mxout, `\fB`+sub.CommandPath()+`\fP`) {
				t.Errorf("mxout.8 does not list %q", sub.CommandPath())
			}
			if byName[strings.ReplaceAll(sub.CommandPath(), " ", "-")+".8"] == nil {
				t.Errorf("no man page for %q", sub.CommandPath())
			}
		}
	}
	conf := string(byName["mxout.yaml.5"])
	for _, key := range configs.Keys() {
		if !strings.Contains(conf, `\fB`+strings.ReplaceAll(key, "-", `\-`)+`\fR`) {
			t.Errorf("mxout.yaml.5 does not document %s", key)
		}
	}
	sm := byName["mxout-sendmail.8"]
	for _, want := range []string{"-t            also send to the To, Cc and Bcc", "70 internal error", "-C, --config FILE"} {
		if !bytes.Contains(sm, []byte(want)) && !bytes.Contains(sm, []byte(strings.ReplaceAll(want, "-", `\-`))) {
			t.Errorf("mxout-sendmail.8 lacks %q", want)
		}
	}
}
