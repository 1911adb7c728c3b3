package migrate

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mxout/mxout/configs"
	"github.com/mxout/mxout/internal/header"
)

// OpenDKIM turns an opendkim.conf, with the KeyTable and SigningTable it
// names, into mxout's dkim section. source names the input in the header
// comment; read opens the tables and Domain files (nil reads none).
func OpenDKIM(conf []byte, source string, read ReadFile) []byte {
	o := &dkimImport{
		read: read,
		d: newDoc("mxout DKIM configuration imported from "+source+" by `mxout import opendkim`.",
			"Review it, merge it into /etc/mxout/mxout.yaml and run `mxout config check` (it loads every key),",
			"then `mxout dkim check` to compare the keys with DNS. The key files must be readable by mxout's user."),
		keys: map[string]dkimKey{},
	}
	o.parse(string(conf))
	if o.has("keytable") || o.has("signingtable") {
		o.tables()
	} else {
		o.single()
	}
	o.headers()
	o.leftovers()
	return o.d.bytes()
}

type dkimImport struct {
	d     *doc
	read  ReadFile
	order []string          // keywords in file order (lower case)
	names map[string]string // lower case -> as written
	vals  map[string]string
	used  map[string]bool
	keys  map[string]dkimKey // KeyTable by key name
	// domains in the order they were found, each with its keys.
	domains []string
	signing map[string][]dkimKey
}

// dkimKey is a KeyTable entry: the d= domain, selector and key file.
type dkimKey struct {
	name, domain, selector, file string
}

// parse reads "Keyword value" lines; '#' starts a comment.
func (o *dkimImport) parse(text string) {
	o.names, o.vals, o.used = map[string]string{}, map[string]string{}, map[string]bool{}
	o.signing = map[string][]dkimKey{}
	for _, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		kw, val := f[0], strings.Join(f[1:], " ")
		lk := strings.ToLower(kw)
		if _, seen := o.vals[lk]; !seen {
			o.order = append(o.order, lk)
		}
		o.names[lk], o.vals[lk] = kw, strings.TrimSpace(val)
	}
}

func (o *dkimImport) has(kw string) bool { _, ok := o.vals[kw]; return ok }

func (o *dkimImport) get(kw string) string {
	o.used[kw] = o.has(kw)
	return o.vals[kw]
}

func (o *dkimImport) origin(kw string) string { return o.names[kw] + " " + o.vals[kw] }

func yes(v string) bool {
	switch strings.ToLower(v) {
	case "yes", "true", "1", "on":
		return true
	}
	return false
}

// dataset reads an OpenDKIM data set: a file (plain path, file: or
// refile:) as lines, or else a comma-separated list.
func (o *dkimImport) dataset(kw string) (lines []string, regex bool, err error) {
	v := o.get(kw)
	path := v
	switch {
	case strings.HasPrefix(v, "refile:"):
		path, regex = strings.TrimPrefix(v, "refile:"), true
	case strings.HasPrefix(v, "file:"):
		path = strings.TrimPrefix(v, "file:")
	case strings.HasPrefix(v, "csl:"):
		return splitList(strings.TrimPrefix(v, "csl:")), false, nil
	case !strings.HasPrefix(v, "/"):
		if i := strings.IndexByte(v, ':'); i > 0 && !strings.Contains(v[:i], ",") && !strings.Contains(v[:i], ".") {
			return nil, false, fmt.Errorf("data set type %q is not supported (only files and lists)", v[:i])
		}
		return splitList(v), false, nil
	}
	if o.read == nil {
		return nil, false, fmt.Errorf("%s was not read", path)
	}
	b, err := o.read(path)
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, regex, nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// single maps Domain, Selector and KeyFile: one key for every domain.
func (o *dkimImport) single() {
	sel, file := o.get("selector"), o.get("keyfile")
	domains, _, err := o.dataset("domain")
	if err != nil {
		o.d.skip(o.origin("domain"), err.Error())
		return
	}
	if !o.has("domain") || sel == "" || file == "" {
		o.d.note("no KeyTable/SigningTable, and not all of Domain, Selector and KeyFile: nothing to sign with.")
		return
	}
	for _, dom := range domains {
		o.addSigning(dom, dkimKey{name: "KeyFile", domain: dom, selector: sel, file: file}, o.origin("domain"))
	}
	o.emit()
}

// tables maps KeyTable and SigningTable.
func (o *dkimImport) tables() {
	if !o.has("keytable") || !o.has("signingtable") {
		o.d.note("KeyTable and SigningTable are used together; only one is set, so nothing is imported.")
		o.get("keytable")
		o.get("signingtable")
		return
	}
	kt, _, err := o.dataset("keytable")
	if err != nil {
		o.d.skip(o.origin("keytable"), err.Error())
		return
	}
	for _, l := range kt {
		f := strings.Fields(l)
		if len(f) < 2 {
			o.d.skip("KeyTable line "+l, `not "name domain:selector:/path/to/key"`)
			continue
		}
		parts := strings.SplitN(strings.Join(f[1:], " "), ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			o.d.skip("KeyTable line "+l, `not "name domain:selector:/path/to/key"`)
			continue
		}
		o.keys[f[0]] = dkimKey{name: f[0], domain: parts[0], selector: parts[1], file: parts[2]}
	}
	st, regex, err := o.dataset("signingtable")
	if err != nil {
		o.d.skip(o.origin("signingtable"), err.Error())
		return
	}
	for _, l := range st {
		f := strings.Fields(l)
		if len(f) != 2 {
			o.d.skip("SigningTable line "+l, `not "pattern keyname"`)
			continue
		}
		dom, why := signingDomain(f[0], regex)
		if dom == "" {
			o.d.skip("SigningTable line "+l, why)
			continue
		}
		if why != "" {
			o.d.note("%s: the SigningTable line %q signed %s only;%s.", dom, l, f[0], why)
		}
		for _, name := range splitList(f[1]) {
			k, ok := o.keys[name]
			if !ok {
				o.d.skip("SigningTable line "+l, "key "+name+" is not in the KeyTable")
				continue
			}
			o.addSigning(dom, k, "SigningTable line "+l)
		}
	}
	o.emit()
}

// signingDomain is the domain a SigningTable pattern signs for, or "" and
// why not.
func signingDomain(pattern string, regex bool) (string, string) {
	local, dom, hasAt := strings.Cut(pattern, "@")
	if !hasAt {
		dom, local = pattern, "*"
	}
	dom = strings.ToLower(dom)
	switch {
	case strings.Contains(dom, "*"):
		return "", "mxout has no wildcard domains: list each domain"
	case !configs.IsDNSName(dom):
		return "", "not a domain"
	case local != "*" && !(regex && local == ".*"):
		return dom, " mxout signs all mail of the domain"
	}
	return dom, ""
}

func (o *dkimImport) addSigning(dom string, k dkimKey, from string) {
	dom = strings.ToLower(dom)
	multi := yes(o.get("multiplesignatures"))
	have := o.signing[dom]
	if slices.ContainsFunc(have, func(h dkimKey) bool { return h.selector == k.selector }) {
		return
	}
	if len(have) > 0 && !multi {
		o.d.skip(from, "a second key for "+dom+" (MultipleSignatures is off, so OpenDKIM signed with the first match only)")
		return
	}
	if !slices.Contains(o.domains, dom) {
		o.domains = append(o.domains, dom)
	}
	if !strings.EqualFold(k.domain, dom) && k.domain != "%" {
		o.d.note("%s: the key %s signed as d=%s; mxout signs with the From: domain, d=%s.", dom, k.selector, k.domain, dom)
	}
	o.signing[dom] = append(have, k)
}

func (o *dkimImport) emit() {
	alg := ""
	if a := o.get("signaturealgorithm"); a == "ed25519-sha256" || a == "rsa-sha256" {
		alg = a
	} else if a != "" {
		o.d.skip(o.origin("signaturealgorithm"), "mxout signs with rsa-sha256 or ed25519-sha256")
	}
	for _, dom := range o.domains {
		if !configs.IsDNSName(dom) {
			o.d.skip("domain "+dom, "not a domain name")
			continue
		}
		var keys []dkimKey
		for _, k := range o.signing[dom] {
			if configs.IsDNSName(k.selector) && k.file != "" {
				keys = append(keys, k)
			} else {
				o.d.skip(dom+" key "+k.name, "the selector must be a DNS name and the key file set")
			}
		}
		if len(keys) == 0 {
			continue
		}
		base := []string{"dkim", "domains", dom}
		first := keys[0]
		o.d.set(append(base, "selector"), str(first.selector), "from "+first.name)
		o.d.set(append(base, "private_key_file"), str(first.file), "")
		if alg != "" {
			o.d.set(append(base, "algorithm"), str(alg), o.origin("signaturealgorithm"))
		}
		if len(keys) > 1 {
			seq := &yamlSeq{}
			for _, k := range keys[1:] {
				seq.add(map[string]string{"selector": k.selector, "private_key_file": k.file})
			}
			o.d.set(append(base, "keys"), seq.node(), "")
		}
	}
}

// headers maps SignHeaders (plus OversignHeaders, listed twice to
// over-sign) to dkim.headers.
func (o *dkimImport) headers() {
	sign, over := splitList(o.get("signheaders")), splitList(o.get("oversignheaders"))
	if len(sign) == 0 {
		switch {
		case len(over) == 1 && strings.EqualFold(over[0], "From"):
			o.d.note("OversignHeaders From: the default dkim.headers over-sign From too.")
		case len(over) > 0:
			o.d.skip(o.origin("oversignheaders"), "list those names twice in dkim.headers to over-sign them; the default over-signs From only")
		}
		return
	}
	headers := append(sign[:len(sign):len(sign)], over...)
	if !slices.ContainsFunc(headers, func(h string) bool { return strings.EqualFold(h, "From") }) {
		o.d.skip(o.origin("signheaders"), "dkim.headers must include From")
		return
	}
	for _, h := range headers {
		if !header.IsFieldName(h) {
			o.d.skip(o.origin("signheaders"), fmt.Sprintf("%q is not a header field name", h))
			return
		}
	}
	comment := o.origin("signheaders")
	if len(over) > 0 {
		comment += "; " + o.origin("oversignheaders") + " listed again"
	}
	o.d.set(key("dkim.headers"), list(headers), comment)
}

// dkimNotes say what mxout does instead of a setting it does not import.
var dkimNotes = map[string]string{
	"canonicalization":   "mxout signs relaxed/relaxed",
	"mode":               "mxout signs; it does not verify incoming mail",
	"socket":             "no milter: mxout signs as it accepts; remove the milter from Postfix (smtpd_milters, non_smtpd_milters)",
	"subdomains":         "mxout signs only the domains listed: add each subdomain to dkim.domains",
	"internalhosts":      "mxout signs all mail it accepts from trusted_networks and users",
	"externalignorelist": "mxout signs all mail it accepts from trusted_networks and users",
	"userid":             "the systemd unit runs mxout as user mxout",
	"pidfile":            "systemd tracks the process",
	"umask":              "not needed: mxout opens no milter socket",
	"syslog":             "mxout logs to standard error (the journal)",
	"syslogsuccess":      "mxout logs to standard error (the journal)",
	"logwhy":             "mxout logs to standard error (the journal)",
	"requiresafekeys":    "mxout reads the key files as they are: keep them mode 0600, owned by mxout",
	"minimumkeybits":     "`mxout dkim keygen --bits` sets the key size",
}

func (o *dkimImport) leftovers() {
	for _, kw := range o.order {
		if o.used[kw] {
			continue
		}
		why, ok := dkimNotes[kw]
		if !ok {
			why = "no equivalent in mxout"
		}
		o.d.skip(o.origin(kw), why)
	}
}
