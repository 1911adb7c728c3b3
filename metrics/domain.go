package metrics

import "strings"

// DomainOther is the domain label of every destination domain that is not
// broken out (Options.Domains).
const DomainOther = "other"

// domainSet maps a recipient domain to its bounded label value.
type domainSet map[string]bool

func newDomainSet(domains []string) domainSet {
	s := make(domainSet, len(domains))
	for _, d := range domains {
		if d = normalizeDomain(d); d != "" && d != DomainOther {
			s[d] = true
		}
	}
	return s
}

// label is d when it is broken out, else DomainOther.
func (s domainSet) label(d string) string {
	d = normalizeDomain(d)
	if s[d] {
		return d
	}
	return DomainOther
}

// values lists every label value: the broken-out domains and DomainOther.
func (s domainSet) values() []string {
	out := make([]string, 0, len(s)+1)
	for d := range s {
		out = append(out, d)
	}
	return append(out, DomainOther)
}

func normalizeDomain(d string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
}

// Domain returns the domain label for a recipient domain: the domain
// itself when Options.Domains lists it, else "other". The label set is
// therefore bounded by the configuration, never by the mail.
func (m *Metrics) Domain(d string) string { return m.domains.label(d) }
